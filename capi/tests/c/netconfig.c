/* shmif interfaces on a bus file and their configuration through
 * rump_pub_netconfig. argv[1]: the bus file. */
#include <rump/rump.h>
#include "check.h"

int main(int argc, char **argv)
{
	int n0 = -1, n1 = -1;

	CHECK(argc == 2);
	CHECK(rump_init() == 0);
	CHECK(rump_pub_shmif_create(argv[1], &n0) == 0 && n0 == 0);
	CHECK(rump_pub_shmif_create(argv[1], &n1) == 0 && n1 == 1);
	CHECK(rump_pub_netconfig_ipv4_ifaddr("shmif0", "10.0.0.1", "255.255.255.0") == 0);
	CHECK(rump_pub_netconfig_ipv4_ifaddr_cidr("shmif1", "10.0.1.1", 24) == 0);
	CHECK(rump_pub_netconfig_ipv6_ifaddr("shmif0", "2001:db8::1", 64) == 0);
	CHECK(rump_pub_netconfig_ipv4_gw("10.0.0.254") == 0);
	CHECK(rump_pub_netconfig_ipv4_ifaddr("shmif0", "10.0.0.1", "255.0.255.0") == RUMP_EINVAL);
	CHECK(rump_pub_netconfig_ipv4_ifaddr("shmif0", "not an address", "255.0.0.0") == RUMP_EINVAL);
	CHECK(rump_pub_netconfig_ifup("shmif9") == RUMP_ENXIO);
	CHECK(rump_pub_netconfig_ifcreate("shmif0") == RUMP_EEXIST);
	CHECK(rump_pub_netconfig_ifdown("shmif1") == 0);
	CHECK(rump_pub_netconfig_ifdestroy("shmif1") == 0);
	CHECK(rump_pub_netconfig_ifup("shmif1") == RUMP_ENXIO);
	printf("netconfig ok\n");
	return 0;
}
