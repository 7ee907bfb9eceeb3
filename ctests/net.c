/* net.c: sockets over 127.0.0.1 and ::1 (hijacked: the rump kernel's
 * stack; on the host: Linux's), and the resolver and interface calls the
 * library answers itself.
 *
 * TCP: listen with a backlog of waiting connections, accept and accept4
 * flags, data both ways, addresses, SO_REUSEADDR, a non-blocking connect,
 * shutdown, socket options, timeouts, EAGAIN, ECONNREFUSED, EADDRINUSE,
 * EPIPE and SIGPIPE, ioctl FIONREAD/FIONBIO. UDP: sendto/recvfrom with the
 * source address, a connected socket's chosen source, sendmsg/recvmsg
 * with iovecs, MSG_PEEK, MSG_DONTWAIT, sendmmsg/recvmmsg; one poll and
 * select asked again as a socket changes under it (reads here and in a
 * child, the fd closed and its number reused). Then
 * getaddrinfo/getnameinfo, the loopback interface (named lo on Linux and
 * lo0 in the rump kernel: printed as "loopback"), and bad pointers.
 *
 * Ports are the kernel's choice and print only as comparisons. The base
 * directory argument is created as in every ctest and not used otherwise. */
#include "mux.h"
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netpacket/packet.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/select.h>
#include <sys/wait.h>

/* An address nothing is mapped at (volatile: the compiler does not see
 * it and warn). */
static void *volatile bad_address = (void *)8;
#define BAD bad_address

struct addr {
    struct sockaddr_storage ss;
    socklen_t len;
};

static int family_of(int v6) { return v6 ? AF_INET6 : AF_INET; }

/* The loopback address of a family, port `port` (host order). */
static struct addr loopback(int v6, int port)
{
    struct addr a;
    memset(&a, 0, sizeof a);
    if (v6) {
        struct sockaddr_in6 *s = (void *)&a.ss;
        s->sin6_family = AF_INET6;
        s->sin6_addr = in6addr_loopback;
        s->sin6_port = htons((unsigned short)port);
        a.len = sizeof *s;
    } else {
        struct sockaddr_in *s = (void *)&a.ss;
        s->sin_family = AF_INET;
        s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        s->sin_port = htons((unsigned short)port);
        a.len = sizeof *s;
    }
    return a;
}

static int port_of(const struct addr *a)
{
    if (a->ss.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
    return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
}

/* "127.0.0.1" or "::1" (no port), with the family. */
static const char *host_of(const struct addr *a)
{
    static char ring[4][INET6_ADDRSTRLEN + 16];
    static int next;
    char *b = ring[next++ % 4];
    char t[INET6_ADDRSTRLEN];
    if (a->ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, t, sizeof t);
    else if (a->ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)&a->ss)->sin_addr, t, sizeof t);
    else
        snprintf(t, sizeof t, "family %d", a->ss.ss_family);
    snprintf(b, INET6_ADDRSTRLEN + 16, "%s (len %u)", t, (unsigned)a->len);
    return b;
}

static struct addr local_of(int fd)
{
    struct addr a;
    memset(&a, 0, sizeof a);
    a.len = sizeof a.ss;
    if (getsockname(fd, (void *)&a.ss, &a.len) != 0)
        die("getsockname");
    return a;
}

/* Waits up to 5 s for `events` on fd; the revents. */
static int wait_for(int fd, int events)
{
    struct pollfd p = {fd, (short)events, 0};
    int r = poll(&p, 1, 5000);
    return r < 0 ? -1 : p.revents;
}

/* A TCP listener on loopback, port chosen by the kernel. */
static int listener(int v6, int backlog, struct addr *where)
{
    int s = socket(family_of(v6), SOCK_STREAM, 0);
    int one = 1;
    if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
        die("listener socket");
    struct addr a = loopback(v6, 0);
    if (bind(s, (void *)&a.ss, a.len) != 0 || listen(s, backlog) != 0)
        die("listener bind/listen");
    *where = local_of(s);
    return s;
}

static int connected(int v6, const struct addr *to)
{
    int c = socket(family_of(v6), SOCK_STREAM, 0);
    if (c < 0 || connect(c, (const void *)&to->ss, to->len) != 0)
        die("connect");
    return c;
}

/* Reads exactly n bytes of a stream, waiting up to 5 s each time. */
static long long recv_all(int fd, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        if (wait_for(fd, POLLIN) <= 0)
            return -1;
        ssize_t r = recv(fd, buf + got, n - got, 0);
        if (r <= 0)
            return r < 0 ? -1 : (long long)got;
        got += (size_t)r;
    }
    return (long long)got;
}

static long long ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static void tcp(int v6)
{
    char buf[256];
    struct addr srv, a;
    int one = 1, v;
    socklen_t len;
    say("-- TCP over %s\n", v6 ? "::1" : "127.0.0.1");

    say("- a listener with a backlog: three clients connect before any accept\n");
    int l = FD(socket(family_of(v6), SOCK_STREAM, 0));
    I(setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    len = sizeof v;
    I(getsockopt(l, SOL_SOCKET, SO_REUSEADDR, &v, &len));
    B(v != 0 && len == sizeof v);
    a = loopback(v6, 0);
    I(bind(l, (void *)&a.ss, a.len));
    I(listen(l, 8));
    srv = local_of(l);
    say("listener at %s, port > 0: %s\n", host_of(&srv), port_of(&srv) > 0 ? "true" : "false");
    len = sizeof v;
    I(getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &v, &len));
    B(v == 1);
    int c[3];
    for (int i = 0; i < 3; i++)
        c[i] = FD(connected(v6, &srv));
    struct addr peer;
    peer.len = sizeof peer.ss;
    int s0 = FD(accept(l, (void *)&peer.ss, &peer.len));
    struct addr c0 = local_of(c[0]);
    say("accepted from %s, the first client's port: %s\n", host_of(&peer),
        port_of(&peer) == port_of(&c0) ? "true" : "false");
    int s1 = FD(accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK));
    I(fcntl(s1, F_GETFD));
    B(fcntl(s1, F_GETFL) & O_NONBLOCK);
    int s2 = FD(accept(l, NULL, NULL));
    B(!(fcntl(s2, F_GETFL) & O_NONBLOCK));

    say("- addresses of both ends\n");
    struct addr sn = local_of(s0), pn;
    pn.len = sizeof pn.ss;
    I(getpeername(c[0], (void *)&pn.ss, &pn.len));
    say("client's peer: %s, the listener's port: %s\n", host_of(&pn), port_of(&pn) == port_of(&srv) ? "true" : "false");
    say("server side: %s, the listener's port: %s\n", host_of(&sn), port_of(&sn) == port_of(&srv) ? "true" : "false");
    pn.len = sizeof pn.ss;
    I(getpeername(l, (void *)&pn.ss, &pn.len));

    say("- data both ways, with send/recv and write/read\n");
    I(send(c[0], "hello server", 12, 0));
    show("server got", buf, recv_all(s0, buf, 12));
    I(write(s0, "hello client", 12));
    show("client got", buf, recv_all(c[0], buf, 12));
    I(send(c[1], "to s1", 5, 0));
    I(wait_for(s1, POLLIN));
    show("s1 read", buf, I(read(s1, buf, sizeof buf)));

    say("- MSG_PEEK, FIONREAD, MSG_DONTWAIT\n");
    I(send(c[0], "peekaboo", 8, 0));
    I(wait_for(s0, POLLIN));
    show("peek", buf, I(recv(s0, buf, 4, MSG_PEEK)));
    v = -1;
    I(ioctl(s0, FIONREAD, &v));
    say("FIONREAD: %d\n", v);
    show("recv", buf, I(recv(s0, buf, sizeof buf, 0)));
    I(recv(s0, buf, sizeof buf, MSG_DONTWAIT));

    say("- non-blocking: SOCK_NONBLOCK, FIONBIO, EAGAIN\n");
    I(recv(s1, buf, sizeof buf, 0));
    I(ioctl(s2, FIONBIO, &one));
    B(fcntl(s2, F_GETFL) & O_NONBLOCK);
    I(read(s2, buf, sizeof buf));
    int zero = 0;
    I(ioctl(s2, FIONBIO, &zero));
    B(fcntl(s2, F_GETFL) & O_NONBLOCK);

    say("- socket options\n");
    I(setsockopt(c[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
    len = sizeof v;
    I(getsockopt(c[0], IPPROTO_TCP, TCP_NODELAY, &v, &len));
    B(v != 0);
    int size = 65536;
    I(setsockopt(c[0], SOL_SOCKET, SO_RCVBUF, &size, sizeof size));
    len = sizeof v;
    I(getsockopt(c[0], SOL_SOCKET, SO_RCVBUF, &v, &len));
    B(v >= size);
    I(setsockopt(c[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size));
    len = sizeof v;
    I(getsockopt(c[0], SOL_SOCKET, SO_SNDBUF, &v, &len));
    B(v >= size);
    len = sizeof v;
    I(getsockopt(c[0], SOL_SOCKET, SO_TYPE, &v, &len));
    B(v == SOCK_STREAM);
    len = sizeof v;
    I(getsockopt(c[0], SOL_SOCKET, SO_ERROR, &v, &len));
    say("SO_ERROR: %d\n", v);
    I(setsockopt(c[0], SOL_SOCKET, 12345, &one, sizeof one));

    say("- TCP_INFO and TCP_CONGESTION (TCP's level on a UDP socket is not)\n");
    struct tcp_info ti;
    len = sizeof ti;
    I(getsockopt(c[0], IPPROTO_TCP, TCP_INFO, &ti, &len));
    B(ti.tcpi_state == TCP_ESTABLISHED && len >= 104);
    len = 8;
    I(getsockopt(l, IPPROTO_TCP, TCP_INFO, &ti, &len));
    B(ti.tcpi_state == TCP_LISTEN && len == 8);
    I(setsockopt(c[0], IPPROTO_TCP, TCP_CONGESTION, "reno", 4));
    char cc[16] = "";
    len = sizeof cc;
    I(getsockopt(c[0], IPPROTO_TCP, TCP_CONGESTION, cc, &len));
    say("congestion control: %s\n", cc);
    I(setsockopt(c[0], IPPROTO_TCP, TCP_CONGESTION, "no-such", 7));
    int u = FD(socket(family_of(v6), SOCK_DGRAM, 0));
    len = sizeof ti;
    I(getsockopt(u, IPPROTO_TCP, TCP_INFO, &ti, &len));
    I(setsockopt(u, IPPROTO_TCP, TCP_CONGESTION, "reno", 4));
    I(close(u));

    say("- SO_RCVTIMEO: a blocking recv gives up with EAGAIN\n");
    struct timeval tv = {0, 200000};
    I(setsockopt(c[2], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    I(recv(c[2], buf, sizeof buf, 0));
    B(ms_since(&t0) >= 150);

    say("- shutdown(SHUT_WR): the peer reads EOF, the other way still works\n");
    I(shutdown(c[0], SHUT_WR));
    I(wait_for(s0, POLLIN));
    I(recv(s0, buf, sizeof buf, 0));
    I(send(s0, "after", 5, 0));
    show("client got", buf, recv_all(c[0], buf, 5));
    I(send(c[0], "x", 1, MSG_NOSIGNAL));
    hits[SIGPIPE] = 0;
    on(SIGPIPE, 0);
    I(send(c[0], "x", 1, 0));
    say("SIGPIPE: %d\n", (int)hits[SIGPIPE]);
    disposition(SIGPIPE, SIG_DFL);
    I(shutdown(c[0], 99));

    say("- a non-blocking connect: EINPROGRESS, poll, SO_ERROR, then EISCONN\n");
    int nb = FD(socket(family_of(v6), SOCK_STREAM | SOCK_NONBLOCK, 0));
    I(connect(nb, (void *)&srv.ss, srv.len));
    say("poll: %s\n", poll_names(wait_for(nb, POLLOUT)));
    len = sizeof v;
    I(getsockopt(nb, SOL_SOCKET, SO_ERROR, &v, &len));
    say("SO_ERROR: %d\n", v);
    /* Linux reports the outcome to one more connect (0), then EISCONN. */
    I(connect(nb, (void *)&srv.ss, srv.len));
    I(connect(nb, (void *)&srv.ss, srv.len));
    int s3 = FD(accept(l, NULL, NULL));

    say("- errors: a closed port, a taken port, a second listen address\n");
    int gone = FD(socket(family_of(v6), SOCK_STREAM, 0));
    a = loopback(v6, 0);
    I(bind(gone, (void *)&a.ss, a.len));
    struct addr closed = local_of(gone);
    I(close(gone));
    int e = FD(socket(family_of(v6), SOCK_STREAM, 0));
    I(connect(e, (void *)&closed.ss, closed.len));
    I(close(e));
    e = FD(socket(family_of(v6), SOCK_STREAM, 0));
    I(bind(e, (void *)&srv.ss, srv.len));
    a = loopback(v6, 0);
    I(bind(e, (void *)&a.ss, a.len));
    I(bind(e, (void *)&a.ss, a.len));
    I(close(e));
    I(connect(s0, (void *)&srv.ss, srv.len));
    I(accept(c[1], NULL, NULL));
    I(listen(c[1], 1));

    say("- SO_REUSEADDR: the port of a closed listener binds again at once\n");
    for (int i = 0; i < 3; i++)
        I(close(c[i]));
    I(close(s0));
    I(close(s1));
    I(close(s2));
    I(close(s3));
    I(close(nb));
    I(close(l));
    l = FD(socket(family_of(v6), SOCK_STREAM, 0));
    I(setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    I(bind(l, (void *)&srv.ss, srv.len));
    I(listen(l, 1));
    I(close(l));
}

static void udp(int v6)
{
    char buf[64];
    struct addr a, b, from;
    say("-- UDP over %s\n", v6 ? "::1" : "127.0.0.1");
    int x = FD(socket(family_of(v6), SOCK_DGRAM, 0));
    int y = FD(socket(family_of(v6), SOCK_DGRAM | SOCK_CLOEXEC, 0));
    a = loopback(v6, 0);
    I(bind(x, (void *)&a.ss, a.len));
    I(bind(y, (void *)&a.ss, a.len));
    a = local_of(x);
    b = local_of(y);
    B(port_of(&a) != port_of(&b));

    say("- buffer sizes: the defaults, twice what is asked, the least\n");
    int opts[] = {SO_RCVBUF, SO_SNDBUF}, asks[] = {4096, 1};
    for (int o = 0; o < 2; o++) {
        int v;
        socklen_t len = sizeof v;
        I(getsockopt(x, SOL_SOCKET, opts[o], &v, &len));
        say("%s: %d\n", o ? "SO_SNDBUF" : "SO_RCVBUF", v);
        for (int i = 0; i < 2; i++) {
            I(setsockopt(x, SOL_SOCKET, opts[o], &asks[i], sizeof asks[i]));
            I(getsockopt(x, SOL_SOCKET, opts[o], &v, &len));
            say("asked %d: %d\n", asks[i], v);
        }
    }

    say("- sendto/recvfrom: the source is the sender's address\n");
    I(sendto(x, "one", 3, 0, (void *)&b.ss, b.len));
    I(wait_for(y, POLLIN));
    from.len = sizeof from.ss;
    show("recvfrom", buf, I(recvfrom(y, buf, sizeof buf, 0, (void *)&from.ss, &from.len)));
    say("from %s, x's port: %s\n", host_of(&from), port_of(&from) == port_of(&a) ? "true" : "false");

    say("- MSG_PEEK, MSG_DONTWAIT, truncation\n");
    I(sendto(x, "datagram", 8, 0, (void *)&b.ss, b.len));
    I(wait_for(y, POLLIN));
    show("peek", buf, I(recv(y, buf, 4, MSG_PEEK)));
    show("recv", buf, I(recv(y, buf, 4, 0)));
    I(recv(y, buf, sizeof buf, MSG_DONTWAIT));

    say("- sendmsg/recvmsg with iovecs and the source address\n");
    struct iovec out[3] = {{"ab", 2}, {"cde", 3}, {"f", 1}};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_name = &b.ss;
    m.msg_namelen = b.len;
    m.msg_iov = out;
    m.msg_iovlen = 3;
    I(sendmsg(x, &m, 0));
    char p1[4], p2[8];
    struct iovec in[2] = {{p1, sizeof p1}, {p2, sizeof p2}};
    memset(&m, 0, sizeof m);
    memset(&from, 0, sizeof from);
    m.msg_name = &from.ss;
    m.msg_namelen = sizeof from.ss;
    m.msg_iov = in;
    m.msg_iovlen = 2;
    I(wait_for(y, POLLIN));
    long long n = I(recvmsg(y, &m, 0));
    show("first iovec", p1, n < 4 ? n : 4);
    show("second iovec", p2, n > 4 ? n - 4 : 0);
    from.len = m.msg_namelen;
    say("from %s, x's port: %s, msg_flags %#x\n", host_of(&from), port_of(&from) == port_of(&a) ? "true" : "false",
        (unsigned)m.msg_flags);
    I(sendto(x, "0123456789", 10, 0, (void *)&b.ss, b.len));
    struct iovec small = {p1, sizeof p1};
    memset(&m, 0, sizeof m);
    m.msg_iov = &small;
    m.msg_iovlen = 1;
    I(wait_for(y, POLLIN));
    I(recvmsg(y, &m, 0));
    say("msg_flags MSG_TRUNC: %s\n", m.msg_flags & MSG_TRUNC ? "true" : "false");

    say("- sendmmsg/recvmmsg\n");
    struct mmsghdr mm[4];
    struct iovec iv[4];
    char bufs[4][16];
    const char *words[3] = {"red", "green", "blue"};
    memset(mm, 0, sizeof mm);
    for (int i = 0; i < 3; i++) {
        iv[i].iov_base = (void *)words[i];
        iv[i].iov_len = strlen(words[i]);
        mm[i].msg_hdr.msg_iov = &iv[i];
        mm[i].msg_hdr.msg_iovlen = 1;
        mm[i].msg_hdr.msg_name = &b.ss;
        mm[i].msg_hdr.msg_namelen = b.len;
    }
    I(sendmmsg(x, mm, 3, 0));
    say("msg_len: %u %u %u\n", mm[0].msg_len, mm[1].msg_len, mm[2].msg_len);
    memset(mm, 0, sizeof mm);
    for (int i = 0; i < 4; i++) {
        iv[i].iov_base = bufs[i];
        iv[i].iov_len = sizeof bufs[i];
        mm[i].msg_hdr.msg_iov = &iv[i];
        mm[i].msg_hdr.msg_iovlen = 1;
    }
    I(wait_for(y, POLLIN));
    sleep_ms(50); /* all three queued */
    n = I(recvmmsg(y, mm, 4, MSG_WAITFORONE, NULL));
    for (int i = 0; i < n; i++)
        show("datagram", bufs[i], mm[i].msg_len);
    I(recvmmsg(y, mm, 4, MSG_DONTWAIT, NULL));

    say("- a connected socket: its source address, and only its peer\n");
    int c = FD(socket(family_of(v6), SOCK_DGRAM, 0));
    I(connect(c, (void *)&b.ss, b.len));
    struct addr src = local_of(c);
    say("source %s, port > 0: %s\n", host_of(&src), port_of(&src) > 0 ? "true" : "false");
    I(send(c, "connected", 9, 0));
    from.len = sizeof from.ss;
    I(wait_for(y, POLLIN));
    show("y got", buf, I(recvfrom(y, buf, sizeof buf, 0, (void *)&from.ss, &from.len)));
    say("from the connected socket's port: %s\n", port_of(&from) == port_of(&src) ? "true" : "false");
    struct addr pn;
    pn.len = sizeof pn.ss;
    I(getpeername(c, (void *)&pn.ss, &pn.len));
    say("peer %s\n", host_of(&pn));
    pn.len = sizeof pn.ss;
    I(getpeername(x, (void *)&pn.ss, &pn.len));
    I(listen(x, 1));
    I(close(c));
    I(close(x));
    I(close(y));
}

static const char *fam_name(int f)
{
    return f == AF_UNSPEC  ? "AF_UNSPEC"
           : f == AF_INET  ? "AF_INET"
           : f == AF_INET6 ? "AF_INET6"
           : f == AF_PACKET ? "AF_PACKET"
                           : "another family";
}

static const char *type_name(int t)
{
    return t == 0 ? "any type" : t == SOCK_STREAM ? "STREAM" : t == SOCK_DGRAM ? "DGRAM" : t == SOCK_RAW ? "RAW" : "?";
}

static void gai(const char *node, const char *service, int family, int socktype, int flags)
{
    struct addrinfo h, *res, *p;
    memset(&h, 0, sizeof h);
    h.ai_family = family;
    h.ai_socktype = socktype;
    h.ai_flags = flags;
    int e = getaddrinfo(node, service, &h, &res);
    say("getaddrinfo(%s, %s, %s, %s, %#x) = %d%s%s\n", node ? node : "NULL", service ? service : "NULL",
        fam_name(family), type_name(socktype), (unsigned)flags, e, e ? " " : "", e ? gai_strerror(e) : "");
    if (e)
        return;
    for (p = res; p; p = p->ai_next) {
        struct addr a;
        memcpy(&a.ss, p->ai_addr, p->ai_addrlen);
        a.len = p->ai_addrlen;
        unsigned scope = p->ai_family == AF_INET6 ? ((struct sockaddr_in6 *)p->ai_addr)->sin6_scope_id : 0;
        say("  %s %s proto %d: %s scope %u port %d%s%s\n", fam_name(p->ai_family), type_name(p->ai_socktype),
            p->ai_protocol, host_of(&a), scope, port_of(&a), p->ai_canonname ? " canon " : "",
            p->ai_canonname ? p->ai_canonname : "");
    }
    freeaddrinfo(res);
}

static void names(void)
{
    say("-- the resolver\n");
    gai("127.0.0.1", "80", AF_UNSPEC, 0, 0);
    gai("::1", NULL, AF_UNSPEC, SOCK_STREAM, AI_CANONNAME);
    gai("localhost", "80", AF_INET, SOCK_STREAM, AI_CANONNAME);
    gai("127.1", "domain", AF_UNSPEC, 0, AI_NUMERICHOST);
    gai("127.0.0.1", "80", AF_INET6, SOCK_STREAM, AI_V4MAPPED);
    gai("::ffff:127.0.0.1", "80", AF_INET, SOCK_DGRAM, 0);
    gai(NULL, "8080", AF_UNSPEC, SOCK_STREAM, AI_PASSIVE);
    gai(NULL, "8080", AF_UNSPEC, SOCK_STREAM, 0);
    gai("fe80::1%77", "0", AF_INET6, SOCK_DGRAM, 0);
    gai("localhost", NULL, AF_UNSPEC, 0, AI_NUMERICHOST);
    gai("127.0.0.1", "no-such-service", AF_UNSPEC, 0, 0);
    gai("127.0.0.1", "http", AF_UNSPEC, SOCK_RAW, 0);
    gai("127.0.0.1", "80", 12345, 0, 0);
    gai("::1", "80", AF_INET, 0, 0);
    gai(NULL, NULL, AF_UNSPEC, 0, 0);

    char host[NI_MAXHOST], serv[NI_MAXSERV];
    struct addr a = loopback(0, 80);
    int e = getnameinfo((void *)&a.ss, a.len, host, sizeof host, serv, sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV);
    say("getnameinfo(127.0.0.1:80, numeric) = %d: %s %s\n", e, host, serv);
    a = loopback(1, 443);
    e = getnameinfo((void *)&a.ss, a.len, host, sizeof host, serv, sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV);
    say("getnameinfo([::1]:443, numeric) = %d: %s %s\n", e, host, serv);
    e = getnameinfo((void *)&a.ss, a.len, host, 3, NULL, 0, NI_NUMERICHOST);
    say("getnameinfo([::1]:443, 3 bytes) = %d\n", e);
    struct hostent *he = gethostbyname("127.0.0.1");
    say("gethostbyname(127.0.0.1): %s\n", he && he->h_addrtype == AF_INET && he->h_addr_list[0] ? he->h_name : "(none)");
}

/* Interface names as printed: the loopback as "loopback" whatever its
 * kernel calls it. */
static const char *ifname(const char *n)
{
    return strcmp(n, "lo") == 0 || strcmp(n, "lo0") == 0 ? "loopback" : n;
}

static void interfaces(void)
{
    say("-- the loopback interface\n");
    unsigned idx = if_nametoindex("lo");
    if (idx == 0)
        idx = if_nametoindex("lo0");
    B(idx > 0);
    char name[IF_NAMESIZE];
    say("if_indextoname: %s\n", if_indextoname(idx, name) ? ifname(name) : ename(errno));
    errno = 0;
    unsigned none = if_nametoindex("nosuchif0");
    say("if_nametoindex(nosuchif0) = %u %s\n", none, ename(errno));
    errno = 0;
    none = if_nametoindex("a-name-far-too-long-for-an-interface");
    say("if_nametoindex(a too long name) = %u %s\n", none, ename(errno));
    PTR(if_indextoname(999999, name));

    struct if_nameindex *ni = if_nameindex(), *q;
    int found = 0;
    for (q = ni; q && q->if_index; q++)
        found += q->if_index == idx && strcmp(ifname(q->if_name), "loopback") == 0;
    say("if_nameindex lists the loopback: %d\n", found);
    if_freenameindex(ni);

    struct ifaddrs *l, *p;
    I(getifaddrs(&l));
    for (p = l; p; p = p->ifa_next) {
        if (strcmp(ifname(p->ifa_name), "loopback") != 0 || !p->ifa_addr)
            continue;
        const char *up = p->ifa_flags & IFF_UP ? "up" : "down";
        const char *lb = p->ifa_flags & IFF_LOOPBACK ? " loopback" : "";
        const char *run = p->ifa_flags & IFF_RUNNING ? " running" : "";
        int f = p->ifa_addr->sa_family;
        if (f == AF_PACKET) {
            struct sockaddr_ll *s = (void *)p->ifa_addr;
            say("  loopback AF_PACKET %s%s%s: index ok %s, hatype %d, halen %d, stats %s\n", up, lb, run,
                (unsigned)s->sll_ifindex == idx ? "true" : "false", s->sll_hatype, s->sll_halen,
                p->ifa_data ? "yes" : "no");
        } else if (f == AF_INET || f == AF_INET6) {
            struct addr a, m;
            memset(&m, 0, sizeof m);
            a.len = f == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
            memcpy(&a.ss, p->ifa_addr, a.len);
            m.len = a.len;
            if (p->ifa_netmask)
                memcpy(&m.ss, p->ifa_netmask, m.len);
            say("  loopback %s %s%s%s: %s mask %s\n", fam_name(f), up, lb, run, host_of(&a),
                p->ifa_netmask ? host_of(&m) : "none");
        }
    }
    freeifaddrs(l);

    say("- interface ioctls on a socket\n");
    int s = FD(socket(AF_INET, SOCK_DGRAM, 0));
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    if (!if_indextoname(idx, ifr.ifr_name))
        die("if_indextoname");
    I(ioctl(s, SIOCGIFFLAGS, &ifr));
    B((ifr.ifr_flags & (IFF_UP | IFF_LOOPBACK)) == (IFF_UP | IFF_LOOPBACK));
    I(ioctl(s, SIOCGIFINDEX, &ifr));
    B((unsigned)ifr.ifr_ifindex == idx);
    I(ioctl(s, SIOCGIFADDR, &ifr));
    struct addr a;
    a.len = sizeof(struct sockaddr_in);
    memcpy(&a.ss, &ifr.ifr_addr, a.len);
    say("SIOCGIFADDR: %s\n", host_of(&a));
    strcpy(ifr.ifr_name, "nosuchif0");
    I(ioctl(s, SIOCGIFFLAGS, &ifr));
    I(close(s));
}

static void bad_pointers(void)
{
    say("-- bad pointers\n");
    struct addr srv;
    int l = listener(0, 1, &srv);
    int c = connected(0, &srv);
    int s = FD(accept(l, NULL, NULL));
    socklen_t len = sizeof(struct sockaddr_in);
    I(getsockname(c, BAD, &len));
    I(getsockname(c, NULL, BAD));
    I(getpeername(c, BAD, &len));
    I(connect(l, BAD, sizeof(struct sockaddr_in)));
    I(bind(l, BAD, sizeof(struct sockaddr_in)));
    I(setsockopt(c, SOL_SOCKET, SO_RCVBUF, BAD, sizeof(int)));
    I(getsockopt(c, SOL_SOCKET, SO_RCVBUF, BAD, &len));
    I(send(c, BAD, 4, 0));
    I(send(c, "data", 4, 0));
    I(wait_for(s, POLLIN));
    I(recv(s, BAD, 4, 0));
    I(sendmsg(c, BAD, 0));
    I(recvmsg(s, BAD, MSG_DONTWAIT));
    I(socketpair(AF_INET, SOCK_STREAM, 0, BAD));
    int sv[2];
    I(socketpair(AF_INET, SOCK_STREAM, 0, sv));
    say("- local sockets stay the host's\n");
    I(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    I(write(sv[0], "unix", 4));
    char buf[8];
    show("read", buf, I(read(sv[1], buf, sizeof buf)));
    I(close(sv[0]));
    I(close(sv[1]));
    I(close(s));
    I(close(c));
    I(close(l));
}

/* A poll of `fd` for `events`, printed with its revents. */
static void poll_one(const char *what, int fd, int events, int timeout)
{
    struct pollfd p = {fd, (short)events, 0};
    int n = poll(&p, 1, timeout);
    say("%s: poll = %d %s\n", what, n, n < 0 ? ename(errno) : poll_names(p.revents));
}

/* A select of `fd` for reading, printed with whether it is set. */
static void select_one(const char *what, int fd, int timeout_ms)
{
    fd_set r;
    FD_ZERO(&r);
    FD_SET(fd, &r);
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    int n = select(fd + 1, &r, NULL, NULL, &tv);
    say("%s: select = %d %s\n", what, n, n < 0 ? ename(errno) : FD_ISSET(fd, &r) ? "readable" : "-");
}

/* The same poll asked again while a socket's state moves under it, by
 * this process, by a child sharing it, and by closing it: each answer is
 * the kernel's at the time (a remote kernel answers a poll it watches
 * from shared memory, without a call). */
static void polls_again(void)
{
    char buf[16];
    say("-- one poll asked again as a UDP socket changes\n");
    int x = FD(socket(AF_INET, SOCK_DGRAM, 0));
    int y = FD(socket(AF_INET, SOCK_DGRAM, 0));
    struct addr a = loopback(0, 0);
    I(bind(y, (void *)&a.ss, a.len));
    a = local_of(y);
    poll_one("nothing sent", y, POLLIN, 0);
    I(sendto(x, "1", 1, 0, (void *)&a.ss, a.len));
    I(sendto(x, "2", 1, 0, (void *)&a.ss, a.len));
    poll_one("two sent", y, POLLIN, 5000);
    poll_one("asked again", y, POLLIN, 0);
    show("recv", buf, I(recv(y, buf, sizeof buf, 0)));
    poll_one("one left", y, POLLIN, 5000);
    show("recv", buf, I(recv(y, buf, sizeof buf, 0)));
    poll_one("none left", y, POLLIN, 0);
    poll_one("none left, for writing too", y, POLLIN | POLLOUT, 0);
    select_one("none left", y, 0);
    I(sendto(x, "3", 1, 0, (void *)&a.ss, a.len));
    select_one("one sent", y, 5000);
    select_one("asked again", y, 0);

    say("- read by a child sharing the socket\n");
    pid_t pid = fork();
    if (pid == 0)
        _exit(recv(y, buf, sizeof buf, 0) == 1 ? 0 : 1);
    int st = 0;
    B(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    poll_one("read by the child", y, POLLIN, 0);
    select_one("read by the child", y, 0);

    say("- the fd closed and its number given to a new socket\n");
    I(sendto(x, "4", 1, 0, (void *)&a.ss, a.len));
    poll_one("one sent", y, POLLIN, 5000);
    int was = y;
    I(close(y));
    y = FD(socket(AF_INET, SOCK_DGRAM, 0));
    B(y == was);
    poll_one("the new socket", y, POLLIN, 0);
    poll_one("the new socket, for writing too", y, POLLIN | POLLOUT, 0);
    I(close(x));
    I(close(y));
}

int main(int argc, char **argv)
{
    setup(argc, argv);
    alarm(20); /* a hang ends the run before the harness's timeout */
    tcp(0);
    tcp(1);
    udp(0);
    udp(1);
    polls_again();
    names();
    interfaces();
    bad_pointers();
    return done();
}
