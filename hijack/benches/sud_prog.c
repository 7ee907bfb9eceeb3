/* The timed loops of benches/sud.rs: `sud_prog MODE PATH N` prints the
 * mean ns per call. Modes: getppid (raw), pread-raw (raw pread64 of 4 KiB
 * at offset 0), pread-libc (libc's pread, which the library hooks),
 * first (the first raw getppid of the process, once). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    const char *mode = argv[1];
    long n = atol(argv[3]);
    static char buf[4096];
    if (!strcmp(mode, "first")) {
        double t0 = now_ns();
        syscall(SYS_getppid);
        printf("%.1f\n", now_ns() - t0);
        return 0;
    }
    int fd = -1;
    if (strcmp(mode, "getppid")) {
        fd = open(argv[2], O_RDWR | O_CREAT, 0644);
        if (fd < 0 || pwrite(fd, buf, sizeof buf, 0) != sizeof buf)
            return perror("open"), 1;
    }
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        long r;
        if (!strcmp(mode, "getppid"))
            r = syscall(SYS_getppid);
        else if (!strcmp(mode, "pread-raw"))
            r = syscall(SYS_pread64, fd, buf, sizeof buf, 0);
        else
            r = pread(fd, buf, sizeof buf, 0);
        if (r < 0)
            return perror(mode), 1;
    }
    printf("%.1f\n", (now_ns() - t0) / n);
    return 0;
}
