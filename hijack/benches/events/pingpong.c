/*
 * pingpong.c: wake-up latency of poll()/epoll_wait() on a two-fd set.
 *
 *   pingpong DIR poll|epoll [ROUNDS [BUDGET_S]]
 *
 * Makes two FIFOs, DIR/x and DIR/y (DIR is created and removed again),
 * opens each O_RDWR, and ping-pongs one byte between two threads:
 *
 *   A: write x, wait on {idle host pipe a, y}, read y
 *   B: wait on {idle host pipe b, x}, read x, write y
 *
 * The host pipes are never written, so every wake-up comes from the
 * FIFO; with the FIFOs under /rump and librumphijack.so preloaded each
 * wait set mixes a host fd and a rump fd. The wait is poll() or, with
 * "epoll", epoll_wait() on one level-triggered epoll per thread, always
 * with an infinite timeout. The program never forks (a fork would move an
 * in-process rump kernel to a keeper process).
 *
 * After 1,000 untimed round trips, ROUNDS (default 20,000) are timed, or
 * fewer if BUDGET_S seconds (default 10) run out first; prints
 * "<ns per round trip> <round trips timed>". Any unexpected result (a
 * wake-up on the idle pipe, a wrong byte, a failed call) is an error:
 * a message on stderr and exit status 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define WARMUP 1000

static int use_epoll;

/* One thread's fds: the idle host pipe's read end, the FIFO it waits on
 * and the FIFO it answers on, and its epoll (or -1). */
struct side {
	const char *name;
	int idle;
	int in;
	int out;
	int ep;
};

/* Waits until s->in is readable, and checks it is the only fd that is. */
static void wait_in(const struct side *s)
{
	char msg[160];
	int n;
	if (use_epoll) {
		struct epoll_event ev[2];
		do
			n = epoll_wait(s->ep, ev, 2, -1);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			die("epoll_wait");
		if (n != 1 || ev[0].data.fd != s->in || !(ev[0].events & EPOLLIN) ||
		    (ev[0].events & (EPOLLERR | EPOLLHUP))) {
			snprintf(msg, sizeof msg,
				 "thread %s: epoll_wait returned %d, first event fd %d events %#x (expected only fd %d, EPOLLIN)",
				 s->name, n, n > 0 ? ev[0].data.fd : -1, n > 0 ? ev[0].events : 0, s->in);
			fail(msg);
		}
	} else {
		struct pollfd p[2] = { { s->idle, POLLIN, 0 }, { s->in, POLLIN, 0 } };
		do
			n = poll(p, 2, -1);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			die("poll");
		if (n != 1 || p[0].revents || !(p[1].revents & POLLIN) ||
		    (p[1].revents & (POLLERR | POLLHUP | POLLNVAL))) {
			snprintf(msg, sizeof msg,
				 "thread %s: poll returned %d, revents host pipe %#x, FIFO %#x (expected 1, 0, POLLIN)",
				 s->name, n, p[0].revents, p[1].revents);
			fail(msg);
		}
	}
}

static unsigned char get(int fd)
{
	unsigned char c;
	ssize_t r;
	do
		r = read(fd, &c, 1);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		die("read FIFO");
	if (r != 1)
		fail("read FIFO: end of file");
	return c;
}

static void put(int fd, unsigned char c)
{
	ssize_t r;
	do
		r = write(fd, &c, 1);
	while (r < 0 && errno == EINTR);
	if (r != 1)
		die("write FIFO");
}

/* B: echoes every byte from x to y; a 0 byte, echoed too, ends it. */
static void *echo(void *arg)
{
	const struct side *s = arg;
	for (;;) {
		unsigned char c;
		wait_in(s);
		c = get(s->in);
		put(s->out, c);
		if (c == 0)
			return NULL;
	}
}

/* A: one round trip carrying c. */
static void round_trip(const struct side *s, unsigned char c)
{
	put(s->out, c);
	wait_in(s);
	if (get(s->in) != c)
		fail("thread A: the echoed byte differs from the one sent");
}

static int fifo(const char *dir, const char *name, char *path)
{
	int fd;
	snprintf(path, PATH_MAX, "%s/%s", dir, name);
	if (unlink(path) < 0 && errno != ENOENT)
		die("unlink old FIFO");
	if (mkfifo(path, 0600) < 0)
		die("mkfifo");
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("open FIFO O_RDWR");
	return fd;
}

static int epoll_of(int a, int b)
{
	int fds[2] = { a, b };
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	for (int i = 0; i < 2; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fds[i] };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0)
			die(i ? "epoll_ctl ADD FIFO" : "epoll_ctl ADD host pipe");
	}
	return ep;
}

int main(int argc, char **argv)
{
	static char xpath[PATH_MAX], ypath[PATH_MAX];
	int pa[2], pb[2], x, y, err;
	long rounds = 20000, done;
	double budget = 10, t0, t;
	pthread_t thread;

	if (argc < 3 || argc > 5 || (strcmp(argv[2], "poll") && strcmp(argv[2], "epoll")))
		fail("usage: pingpong DIR poll|epoll [ROUNDS [BUDGET_S]]");
	use_epoll = !strcmp(argv[2], "epoll");
	if (argc > 3)
		rounds = atol(argv[3]);
	if (argc > 4)
		budget = atof(argv[4]);
	if (rounds < 1 || budget <= 0)
		fail("ROUNDS and BUDGET_S must be positive");

	if (mkdir(argv[1], 0700) < 0 && errno != EEXIST)
		die("mkdir DIR");
	x = fifo(argv[1], "x", xpath);
	y = fifo(argv[1], "y", ypath);
	if (pipe2(pa, O_CLOEXEC) < 0 || pipe2(pb, O_CLOEXEC) < 0)
		die("pipe2");

	struct side a = { "A", pa[0], y, x, -1 };
	struct side b = { "B", pb[0], x, y, -1 };
	if (use_epoll) {
		a.ep = epoll_of(a.idle, a.in);
		b.ep = epoll_of(b.idle, b.in);
	}
	err = pthread_create(&thread, NULL, echo, &b);
	if (err) {
		errno = err;
		die("pthread_create");
	}

	for (int i = 0; i < WARMUP; i++)
		round_trip(&a, 1 + i % 250);
	t0 = now();
	t = t0;
	for (done = 0; done < rounds;) {
		round_trip(&a, 1 + done % 250);
		done++;
		if (done % 256 == 0 && (t = now()) - t0 > budget)
			break;
	}
	if (done % 256)
		t = now();
	round_trip(&a, 0);
	err = pthread_join(thread, NULL);
	if (err) {
		errno = err;
		die("pthread_join");
	}
	printf("%.1f %ld\n", (t - t0) * 1e9 / done, done);
	fflush(stdout);

	/* Clean-up problems are reported but do not void the figure. */
	close(x);
	close(y);
	if (use_epoll) {
		close(a.ep);
		close(b.ep);
	}
	if (unlink(xpath) < 0 || unlink(ypath) < 0 || rmdir(argv[1]) < 0)
		fprintf(stderr, "pingpong: warning: clean-up: %s\n", strerror(errno));
	return 0;
}
