/* Bench: rump_sys_getpid through librumpclient to the rump_server of
 * RUMP_SERVER, beside a bare unix-socket ping-pong with a forked echo
 * process (64 bytes there, 8 back: about what the call carries), in
 * alternating rounds, best of 7. Prints "name ns_per_round_trip". */
#include <sys/socket.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <rump/rumpclient.h>
#include <rump/rump_syscalls.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int full(ssize_t (*io)(int, void *, size_t), int fd, void *buf, size_t len)
{
	for (size_t done = 0; done < len;) {
		ssize_t k = io(fd, (char *)buf + done, len - done);
		if (k <= 0)
			return -1;
		done += k;
	}
	return 0;
}

static ssize_t wr(int fd, void *b, size_t l) { return write(fd, b, l); }

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 20000;
	char buf[64] = { 0 };
	int sv[2];
	double best_rump = 1e30, best_sock = 1e30;

	if (rumpclient_init() != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return 1;
	pid_t echo = fork();
	if (echo == 0) {
		close(sv[0]);
		while (full(read, sv[1], buf, 64) == 0 && full(wr, sv[1], buf, 8) == 0)
			;
		_exit(0);
	}
	close(sv[1]);
	for (int round = 0; round < 7; round++) {
		double t = now();
		for (long i = 0; i < n; i++)
			if (rump_sys_getpid() <= 0)
				return 1;
		double r = (now() - t) / n;
		t = now();
		for (long i = 0; i < n; i++)
			if (full(wr, sv[0], buf, 64) || full(read, sv[0], buf, 8))
				return 1;
		double s = (now() - t) / n;
		best_rump = r < best_rump ? r : best_rump;
		best_sock = s < best_sock ? s : best_sock;
	}
	close(sv[0]);
	waitpid(echo, NULL, 0);
	printf("rumpclient_getpid %.1f\nunix_pingpong %.1f\n", best_rump, best_sock);
	return 0;
}
