/* sigwait.c: `sigwait poll|accept|restart|ppoll|pselect|epoll` waits in
 * poll(-1) or a blocking accept on a listening inet socket at
 * 127.0.0.1:7001 (a rump socket under rumpctl run) until SIGUSR1, whose
 * handler ends the wait with EINTR, or with SA_RESTART (`restart`) lets
 * accept go on to take a connection. `ppoll`, `pselect` and `epoll` block
 * SIGUSR1 and wait with a mask that lets it through (ppoll, pselect6,
 * epoll_pwait): the handler runs inside the wait, which ends with EINTR,
 * and SIGUSR1 is blocked again after it. Built static for
 * tools/tests/run.rs (a signal reaching a program whose one thread waits
 * in the seccomp supervisor, or in the kernel for it). */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

static void on_usr1(int s)
{
	(void)s;
	write(1, "handled\n", 8);
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	const char *how = argc > 1 ? argv[1] : "poll";
	/* A signal that comes too early leaves the wait to this one: the
	 * test then fails instead of hanging. */
	alarm(10);
	sa.sa_handler = on_usr1;
	sa.sa_flags = strcmp(how, "restart") == 0 ? SA_RESTART : 0;
	sigaction(SIGUSR1, &sa, 0);
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	/* The last run's connection may linger in TIME_WAIT. */
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(7001), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 1)) {
		perror("bind/listen");
		return 1;
	}
	sigset_t usr1, open;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigemptyset(&open);
	int masked = strcmp(how, "ppoll") == 0 || strcmp(how, "pselect") == 0 || strcmp(how, "epoll") == 0;
	if (masked)
		sigprocmask(SIG_BLOCK, &usr1, 0);
	printf("waiting\n");
	fflush(stdout);
	int r;
	struct pollfd p = { .fd = s, .events = POLLIN };
	if (strcmp(how, "poll") == 0) {
		r = poll(&p, 1, -1);
	} else if (strcmp(how, "ppoll") == 0) {
		r = ppoll(&p, 1, 0, &open);
	} else if (strcmp(how, "pselect") == 0) {
		fd_set in;
		FD_ZERO(&in);
		FD_SET(s, &in);
		r = pselect(s + 1, &in, 0, 0, 0, &open);
	} else if (strcmp(how, "epoll") == 0) {
		int ep = epoll_create1(0);
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = s }, got;
		epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
		r = epoll_pwait(ep, &got, 1, -1, &open);
	} else {
		r = accept(s, 0, 0);
	}
	printf("%s %s\n", how, r < 0 ? strerror(errno) : "ok");
	if (masked) {
		sigset_t now;
		sigprocmask(SIG_BLOCK, 0, &now);
		printf("SIGUSR1 %s after the wait\n", sigismember(&now, SIGUSR1) ? "blocked" : "open");
	}
	return 0;
}
