/* Bench: rump_sys_getpid in an in-process kernel beside the host's
 * getppid (a real system call), same run. Prints "name ns_per_call". */
#include <sys/syscall.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <rump/rump.h>
#include <rump/rump_syscalls.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	volatile long sink = 0;
	double best_rump = 1e30, best_host = 1e30;

	if (rump_init() != 0)
		return 1;
	for (int round = 0; round < 5; round++) {
		double t = now();
		for (long i = 0; i < n; i++)
			sink += rump_sys_getpid();
		double r = (now() - t) / n;
		t = now();
		for (long i = 0; i < n; i++)
			sink += syscall(SYS_getppid);
		double h = (now() - t) / n;
		best_rump = r < best_rump ? r : best_rump;
		best_host = h < best_host ? h : best_host;
	}
	printf("rump_sys_getpid %.1f\nhost_getppid %.1f\n", best_rump, best_host);
	return sink == 0;
}
