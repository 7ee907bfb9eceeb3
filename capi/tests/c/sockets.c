/* Sockets on the in-process kernel's lo0 with NetBSD's sockaddrs, flags,
 * options and errnos: TCP listen/connect/accept, UDP, IPv6. */
#include <arpa/inet.h>
#include <unistd.h>
#include <rump/rump.h>
#include <rump/rump_syscalls.h>
#include "check.h"

static struct rump_sockaddr_in v4(const char *ip, int port)
{
	struct rump_sockaddr_in s = { .sin_len = sizeof s, .sin_family = RUMP_AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, ip, &s.sin_addr);
	return s;
}
#define SA(p) ((struct rump_sockaddr *)(p))

int main(void)
{
	char buf[64];
	int one = 1, v = 0;
	socklen_t len;

	CHECK(rump_init() == 0);
	alarm(10);
	int ls = rump_sys_socket(RUMP_AF_INET, RUMP_SOCK_STREAM, 0);
	CHECK(ls >= 0);
	CHECK(rump_sys_setsockopt(ls, RUMP_SOL_SOCKET, RUMP_SO_REUSEADDR, &one, sizeof one) == 0);
	len = sizeof v;
	CHECK(rump_sys_getsockopt(ls, RUMP_SOL_SOCKET, RUMP_SO_REUSEADDR, &v, &len) == 0 && v == 1);
	CHECK(rump_sys_getsockopt(ls, RUMP_SOL_SOCKET, RUMP_SO_TYPE, &v, &len) == 0 && v == RUMP_SOCK_STREAM);
	ERR(rump_sys_setsockopt(ls, RUMP_SOL_SOCKET, 0x7777, &one, sizeof one), RUMP_ENOPROTOOPT);
	struct rump_sockaddr_in a = v4("127.0.0.1", 7000);
	CHECK(rump_sys_bind(ls, SA(&a), sizeof a) == 0);
	ERR(rump_sys_bind(ls, SA(&a), sizeof a), RUMP_EINVAL);
	CHECK(rump_sys_listen(ls, 4) == 0);

	int cs = rump_sys_socket(RUMP_AF_INET, RUMP_SOCK_STREAM, 0);
	ERR(rump_sys_getpeername(cs, SA(&a), &len), RUMP_ENOTCONN);
	struct rump_sockaddr_in closed = v4("127.0.0.1", 7001);
	ERR(rump_sys_connect(cs, SA(&closed), sizeof closed), RUMP_ECONNREFUSED);
	rump_sys_close(cs);
	cs = rump_sys_socket(RUMP_AF_INET, RUMP_SOCK_STREAM, 0);
	CHECK(rump_sys_connect(cs, SA(&a), sizeof a) == 0);
	struct rump_sockaddr_in peer, me;
	len = sizeof peer;
	int ss = rump_sys_accept(ls, SA(&peer), &len);
	CHECK(ss >= 0 && len == sizeof peer && peer.sin_family == RUMP_AF_INET && peer.sin_len == sizeof peer);
	len = sizeof me;
	CHECK(rump_sys_getsockname(cs, SA(&me), &len) == 0 && me.sin_port == peer.sin_port);
	CHECK(rump_sys_write(cs, "over tcp", 8) == 8);
	CHECK(rump_sys_recvfrom(ss, buf, 8, RUMP_MSG_WAITALL, NULL, NULL) == 8 && memcmp(buf, "over tcp", 8) == 0);
	CHECK(rump_sys_shutdown(cs, RUMP_SHUT_WR) == 0);
	CHECK(rump_sys_read(ss, buf, sizeof buf) == 0);

	int u = rump_sys_socket(RUMP_AF_INET, RUMP_SOCK_DGRAM | RUMP_SOCK_NONBLOCK, 0);
	struct rump_sockaddr_in ua = v4("127.0.0.1", 7002);
	CHECK(rump_sys_bind(u, SA(&ua), sizeof ua) == 0);
	ERR(rump_sys_recvfrom(u, buf, sizeof buf, 0, NULL, NULL), RUMP_EAGAIN);
	CHECK(rump_sys_sendto(u, "0123456789", 10, 0, SA(&ua), sizeof ua) == 10);
	CHECK(rump_sys_recvfrom(u, buf, 4, RUMP_MSG_TRUNC, NULL, NULL) == 10);

	struct rump_sockaddr_in6 s6 = { .sin6_len = sizeof s6, .sin6_family = RUMP_AF_INET6, .sin6_port = htons(7003) };
	ERR(rump_sys_bind(u, (struct rump_sockaddr *)&s6, sizeof s6), RUMP_EAFNOSUPPORT);
	int u6 = rump_sys_socket(RUMP_AF_INET6, RUMP_SOCK_DGRAM, 0);
	s6.sin6_addr[15] = 1; /* ::1 */
	CHECK(u6 >= 0 && rump_sys_bind(u6, SA(&s6), sizeof s6) == 0);
	CHECK(rump_sys_sendto(u6, "six", 3, 0, SA(&s6), sizeof s6) == 3);
	struct rump_sockaddr_in6 f6;
	len = sizeof f6;
	CHECK(rump_sys_recvfrom(u6, buf, sizeof buf, 0, SA(&f6), &len) == 3);
	CHECK(len == sizeof f6 && f6.sin6_family == RUMP_AF_INET6 && f6.sin6_addr[15] == 1);
	ERR(rump_sys_socket(99, RUMP_SOCK_DGRAM, 0), RUMP_EAFNOSUPPORT);
	printf("sockets ok\n");
	return 0;
}
