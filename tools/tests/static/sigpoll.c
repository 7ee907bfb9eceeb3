/* sigpoll.c: waits in poll(-1) on a listening inet socket (a rump socket
 * under rumpctl run) until SIGUSR1, whose handler (no SA_RESTART) ends the
 * wait with EINTR; built static for tools/tests/run.rs (a signal reaching
 * a program whose one thread waits in the seccomp supervisor). */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static void on_usr1(int s) { (void)s; }

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, 0);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 1)) {
		perror("bind/listen");
		return 1;
	}
	printf("waiting\n");
	fflush(stdout);
	struct pollfd p = { .fd = s, .events = POLLIN };
	int r = poll(&p, 1, -1);
	printf("poll %d %s\n", r, r < 0 ? strerror(errno) : "");
	return 0;
}
