/*
 * epoll_loop.c: an event loop over many FIFOs.
 *
 *   epoll_loop DIR [NFIFOS [ITERS [BUDGET_S]]]
 *
 * Raises RLIMIT_NOFILE to its hard limit (and refuses to run below
 * 4 * NFIFOS + 100 fds, room for the library's host-side descriptors),
 * makes NFIFOS (default 1,000) FIFOs DIR/f<i> (DIR is created and removed
 * again), opens each O_RDWR and adds them all to one level-triggered
 * epoll. Then, ITERS (default 100,000) times: writes one byte to a
 * pseudo-randomly chosen FIFO, epoll_wait(maxevents 64, timeout -1), and
 * reads one byte from each fd it returned, which must be exactly the one
 * written to.
 *
 * After 1,000 untimed iterations, ITERS are timed, or fewer if BUDGET_S
 * seconds (default 10) run out first; prints "<ns per iteration>
 * <iterations timed>". Any unexpected result is an error: a message on
 * stderr and exit status 1 (2 when the fd limit is too low).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define WARMUP 1000
#define MAXEVENTS 64

static int nfifos = 1000;
static int *fds;
static int ep;
static uint32_t rng = 2463534242u;

/* xorshift32, so every run visits the FIFOs in the same order. */
static int next_fifo(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng % nfifos;
}

static void iteration(void)
{
	struct epoll_event ev[MAXEVENTS];
	unsigned char c = 'e';
	int i = next_fifo(), n;
	ssize_t r;

	do
		r = write(fds[i], &c, 1);
	while (r < 0 && errno == EINTR);
	if (r != 1)
		die("write FIFO");
	do
		n = epoll_wait(ep, ev, MAXEVENTS, -1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		die("epoll_wait");
	for (int k = 0; k < n; k++) {
		uint32_t j = ev[k].data.u32;
		if (j >= (uint32_t)nfifos || !(ev[k].events & EPOLLIN))
			fail("epoll_wait returned an event that is not EPOLLIN on one of the FIFOs");
		do
			r = read(fds[j], &c, 1);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			die("read FIFO");
		if (r != 1 || c != 'e')
			fail("read FIFO: not the byte written");
	}
	if (n != 1 || ev[0].data.u32 != (uint32_t)i) {
		char msg[160];
		snprintf(msg, sizeof msg, "epoll_wait returned %d events, first FIFO %d (expected only FIFO %d)", n,
			 n > 0 ? (int)ev[0].data.u32 : -1, i);
		fail(msg);
	}
}

int main(int argc, char **argv)
{
	static char path[PATH_MAX];
	long iters = 100000, done;
	double budget = 10, t0, t;
	struct rlimit rl;
	rlim_t need;

	if (argc < 2 || argc > 5)
		fail("usage: epoll_loop DIR [NFIFOS [ITERS [BUDGET_S]]]");
	if (argc > 2)
		nfifos = atoi(argv[2]);
	if (argc > 3)
		iters = atol(argv[3]);
	if (argc > 4)
		budget = atof(argv[4]);
	if (nfifos < 1 || iters < 1 || budget <= 0)
		fail("NFIFOS, ITERS and BUDGET_S must be positive");

	need = 4 * (rlim_t)nfifos + 100;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("getrlimit RLIMIT_NOFILE");
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			die("setrlimit RLIMIT_NOFILE to the hard limit");
	}
	if (rl.rlim_cur < need) {
		fprintf(stderr,
			"epoll_loop: RLIMIT_NOFILE hard limit is %llu, need %llu fds for %d FIFOs "
			"(raise it, e.g. `ulimit -Hn %llu` as root or in limits.conf)\n",
			(unsigned long long)rl.rlim_cur, (unsigned long long)need, nfifos,
			(unsigned long long)need);
		return 2;
	}

	fds = calloc(nfifos, sizeof *fds);
	if (!fds)
		die("calloc");
	if (mkdir(argv[1], 0700) < 0 && errno != EEXIST)
		die("mkdir DIR");
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	for (int i = 0; i < nfifos; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
		snprintf(path, sizeof path, "%s/f%d", argv[1], i);
		if (unlink(path) < 0 && errno != ENOENT)
			die("unlink old FIFO");
		if (mkfifo(path, 0600) < 0)
			die("mkfifo");
		fds[i] = open(path, O_RDWR | O_CLOEXEC);
		if (fds[i] < 0)
			die("open FIFO O_RDWR");
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0)
			die("epoll_ctl ADD FIFO");
	}

	for (int i = 0; i < WARMUP; i++)
		iteration();
	t0 = now();
	t = t0;
	for (done = 0; done < iters;) {
		iteration();
		done++;
		if (done % 1024 == 0 && (t = now()) - t0 > budget)
			break;
	}
	if (done % 1024)
		t = now();
	printf("%.1f %ld\n", (t - t0) * 1e9 / done, done);
	fflush(stdout);

	/* Clean-up problems are reported but do not void the figure. */
	close(ep);
	for (int i = 0; i < nfifos; i++) {
		close(fds[i]);
		snprintf(path, sizeof path, "%s/f%d", argv[1], i);
		if (unlink(path) < 0) {
			fprintf(stderr, "epoll_loop: warning: unlink %s: %s\n", path, strerror(errno));
			return 0;
		}
	}
	if (rmdir(argv[1]) < 0)
		fprintf(stderr, "epoll_loop: warning: rmdir: %s\n", strerror(errno));
	return 0;
}
