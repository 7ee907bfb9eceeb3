/* An in-process kernel on a shmif bus (argv[1]), configured through
 * rump_pub_netconfig as 10.0.0.1/24, sends a datagram to argv[2]:argv[3]
 * on the same bus and prints the answer. */
#include <arpa/inet.h>
#include <unistd.h>
#include <rump/rump.h>
#include <rump/rump_syscalls.h>
#include "check.h"

int main(int argc, char **argv)
{
	struct rump_sockaddr_in to = { .sin_len = sizeof to, .sin_family = RUMP_AF_INET };
	struct rump_sockaddr_in me, from;
	socklen_t len = sizeof me;
	char buf[64];
	int ifnum;

	CHECK(argc == 4 && rump_init() == 0);
	alarm(20);
	CHECK(rump_pub_shmif_create(argv[1], &ifnum) == 0 && ifnum == 0);
	CHECK(rump_pub_netconfig_ipv4_ifaddr("shmif0", "10.0.0.1", "255.255.255.0") == 0);
	int s = rump_sys_socket(RUMP_AF_INET, RUMP_SOCK_DGRAM, 0);
	CHECK(s >= 0);
	to.sin_port = htons(atoi(argv[3]));
	CHECK(inet_pton(AF_INET, argv[2], &to.sin_addr) == 1);
	CHECK(rump_sys_connect(s, (struct rump_sockaddr *)&to, sizeof to) == 0);
	CHECK(rump_sys_getsockname(s, (struct rump_sockaddr *)&me, &len) == 0);
	CHECK(me.sin_family == RUMP_AF_INET && me.sin_addr == htonl(0x0a000001) && me.sin_port != 0);
	CHECK(rump_sys_sendto(s, "ping over shmif", 15, 0, NULL, 0) == 15);
	len = sizeof from;
	ssize_t n = rump_sys_recvfrom(s, buf, sizeof buf, 0, (struct rump_sockaddr *)&from, &len);
	CHECK(n == 15 && from.sin_port == to.sin_port && from.sin_addr == to.sin_addr);
	printf("%.*s\n", (int)n, buf);
	return 0;
}
