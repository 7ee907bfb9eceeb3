/*
 * inotify_loop.c: directory events through inotify.
 *
 *   inotify_loop DIR [NWATCHES [ITERS [BUDGET_S]]]
 *
 * Makes DIR (removed again at the end) and NWATCHES - 1 (default 100)
 * idle subdirectories, and watches all of them for IN_CREATE and
 * IN_DELETE on one blocking inotify fd. Then, ITERS (default 100,000)
 * times: mkdir DIR/x, rmdir DIR/x, and blocking reads until both events
 * are in, which must be exactly CREATE|ISDIR then DELETE|ISDIR for "x"
 * on DIR's watch.
 *
 * After 1,000 untimed iterations, ITERS are timed, or fewer if BUDGET_S
 * seconds (default 10) run out first; prints "<ns per iteration>
 * <iterations timed>". Any unexpected result is an error: a message on
 * stderr and exit status 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define WARMUP 1000

static int in, wd;
static char x[PATH_MAX];

static void iteration(void)
{
	static const uint32_t want[2] = { IN_CREATE | IN_ISDIR, IN_DELETE | IN_ISDIR };
	char buf[256] __attribute__((aligned(8)));
	int seen = 0;

	if (mkdir(x, 0700) < 0)
		die("mkdir");
	if (rmdir(x) < 0)
		die("rmdir");
	while (seen < 2) {
		ssize_t n = read(in, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("read inotify");
		for (ssize_t at = 0; at < n;) {
			const struct inotify_event *e = (const void *)(buf + at);
			if (seen == 2 || e->wd != wd || e->mask != want[seen] || !e->len || strcmp(e->name, "x"))
				fail("read an event other than CREATE then DELETE of x on the directory's watch");
			seen++;
			at += sizeof *e + e->len;
		}
	}
}

int main(int argc, char **argv)
{
	static char path[PATH_MAX];
	long iters = 100000, done;
	int nwatches = 100;
	double budget = 10, t0, t;

	if (argc < 2 || argc > 5)
		fail("usage: inotify_loop DIR [NWATCHES [ITERS [BUDGET_S]]]");
	if (argc > 2)
		nwatches = atoi(argv[2]);
	if (argc > 3)
		iters = atol(argv[3]);
	if (argc > 4)
		budget = atof(argv[4]);
	if (nwatches < 1 || iters < 1 || budget <= 0)
		fail("NWATCHES, ITERS and BUDGET_S must be positive");

	if (mkdir(argv[1], 0700) < 0)
		die("mkdir DIR");
	in = inotify_init1(IN_CLOEXEC);
	if (in < 0)
		die("inotify_init1");
	wd = inotify_add_watch(in, argv[1], IN_CREATE | IN_DELETE);
	if (wd < 0)
		die("inotify_add_watch DIR");
	for (int i = 1; i < nwatches; i++) {
		snprintf(path, sizeof path, "%s/idle%d", argv[1], i);
		if (mkdir(path, 0700) < 0 || inotify_add_watch(in, path, IN_CREATE | IN_DELETE) < 0)
			die("an idle watched directory");
	}
	/* The idle directories' creation, already queued. */
	for (int i = 1; i < nwatches;) {
		char buf[4096] __attribute__((aligned(8)));
		ssize_t n = read(in, buf, sizeof buf);
		if (n <= 0)
			die("read the set-up events");
		for (ssize_t at = 0; at < n; i++)
			at += sizeof(struct inotify_event) + ((const struct inotify_event *)(buf + at))->len;
	}
	snprintf(x, sizeof x, "%s/x", argv[1]);

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
	close(in);
	for (int i = 1; i < nwatches; i++) {
		snprintf(path, sizeof path, "%s/idle%d", argv[1], i);
		if (rmdir(path) < 0)
			fprintf(stderr, "inotify_loop: warning: rmdir %s: %s\n", path, strerror(errno));
	}
	if (rmdir(argv[1]) < 0)
		fprintf(stderr, "inotify_loop: warning: rmdir: %s\n", strerror(errno));
	return 0;
}
