/* A librumpclient UDP echo server in the rump_server of RUMP_SERVER:
 * binds argv[1]:argv[2] (NetBSD's struct sockaddr_in), says "ready",
 * answers one datagram with it upper-cased and says where it came from. */
#include <arpa/inet.h>
#include <ctype.h>
#include <unistd.h>
#include <rump/rumpclient.h>
#include <rump/rump_syscalls.h>
#include "check.h"

int main(int argc, char **argv)
{
	struct rump_sockaddr_in sin = { .sin_len = sizeof sin, .sin_family = RUMP_AF_INET };
	struct rump_sockaddr_in from;
	socklen_t flen = sizeof from;
	char buf[64], ip[32];

	CHECK(argc == 3 && rumpclient_init() == 0);
	alarm(20);
	sin.sin_port = htons(atoi(argv[2]));
	CHECK(inet_pton(AF_INET, argv[1], &sin.sin_addr) == 1);
	int s = rump_sys_socket(RUMP_AF_INET, RUMP_SOCK_DGRAM, 0);
	CHECK(s >= 0);
	CHECK(rump_sys_bind(s, (struct rump_sockaddr *)&sin, sizeof sin) == 0);
	printf("ready\n");
	fflush(stdout);
	ssize_t n = rump_sys_recvfrom(s, buf, sizeof buf, 0, (struct rump_sockaddr *)&from, &flen);
	CHECK(n > 0 && flen == sizeof from && from.sin_len == sizeof from && from.sin_family == RUMP_AF_INET);
	for (ssize_t i = 0; i < n; i++)
		buf[i] = toupper((unsigned char)buf[i]);
	CHECK(rump_sys_sendto(s, buf, n, 0, (struct rump_sockaddr *)&from, flen) == n);
	printf("echoed %zd bytes to %s:%d\n", n, inet_ntop(AF_INET, &from.sin_addr, ip, sizeof ip), ntohs(from.sin_port));
	return 0;
}
