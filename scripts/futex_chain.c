/* The floor under scripts/bench_chain.sh's per-hop figure: N processes in
 * a line pass a token from the first to the last and back, each hop one
 * FUTEX_WAKE of a process asleep in FUTEX_WAIT on a word of shared memory
 * (as a chain of kernels on buses costs at best one cross-process wake-up
 * per hop). Prints the mean round trip, the time per hop and the CPU
 * (user and system, all processes) per hop.
 * Usage: futex_chain N ROUNDS */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* One cache line per process: the count of tokens it was handed. */
struct slot {
	_Atomic unsigned count;
	char pad[60];
};

static struct slot *slots;

static void sleep_while(int i, unsigned seen)
{
	while (atomic_load(&slots[i].count) == seen)
		syscall(SYS_futex, &slots[i].count, FUTEX_WAIT, seen, NULL, NULL, 0);
}

static void hand_to(int i)
{
	atomic_fetch_add(&slots[i].count, 1);
	syscall(SYS_futex, &slots[i].count, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 255, rounds = argc > 2 ? atoi(argv[2]) : 200;
	if (n < 2 || rounds < 1) {
		fprintf(stderr, "usage: futex_chain N ROUNDS (N >= 2)\n");
		return 2;
	}
	slots = mmap(NULL, n * sizeof *slots, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (slots == MAP_FAILED)
		return 1;
	for (int i = 1; i < n; i++) {
		if (fork() != 0)
			continue;
		/* Inner processes see the token twice a round (out and back),
		 * the last one once: it turns the token round. */
		unsigned seen = 0;
		int visits = i == n - 1 ? rounds : 2 * rounds;
		for (int v = 0; v < visits; v++) {
			sleep_while(i, seen++);
			int outbound = i == n - 1 || v % 2 == 0;
			hand_to(i == n - 1 ? i - 1 : outbound ? i + 1 : i - 1);
		}
		_exit(0);
	}
	/* Let everyone get to sleep once, untimed. */
	hand_to(1);
	sleep_while(0, 0);
	double t0 = now_us();
	for (int r = 1; r < rounds; r++) {
		hand_to(1);
		sleep_while(0, r);
	}
	double rtt = (now_us() - t0) / (rounds - 1);
	while (wait(NULL) > 0)
		;
	struct rusage self, children;
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &children);
	double cpu_us = 0;
	for (struct rusage *u = &self; u; u = u == &self ? &children : NULL)
		cpu_us += (u->ru_utime.tv_sec + u->ru_stime.tv_sec) * 1e6 + u->ru_utime.tv_usec + u->ru_stime.tv_usec;
	printf("%.1f %.2f %.2f\n", rtt, rtt / (2.0 * (n - 1)), cpu_us / (2.0 * (n - 1) * rounds));
	return 0;
}
