/* The timed loops of benches/sud.rs: `sud_prog MODE PATH N` prints the
 * mean ns per call. Modes: getppid and pread-raw (libc's syscall(), which
 * the library defines), pread-libc (libc's pread, which the library
 * hooks); built with -DINLINE_SITES (a program syscalls=auto arms), also
 * getppid-asm and pread-asm (glibc's inline form, `mov $nr,%eax; syscall`:
 * caught by Syscall User Dispatch, then rewritten) and first (the first
 * inline getppid of the process, once). */
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

#ifdef INLINE_SITES
static long asm_getppid(void)
{
    long r;
    __asm__ volatile("mov $110, %%eax\n\tsyscall" : "=a"(r) : : "rcx", "r11", "memory");
    return r;
}

static long asm_pread(int fd, void *buf, long n, long off)
{
    long r;
    register long r10 __asm__("r10") = off;
    __asm__ volatile("mov $17, %%eax\n\tsyscall"
                     : "=a"(r)
                     : "D"((long)fd), "S"(buf), "d"(n), "r"(r10)
                     : "rcx", "r11", "memory");
    return r;
}
#endif

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    const char *mode = argv[1];
    long n = atol(argv[3]);
    static char buf[4096];
#ifdef INLINE_SITES
    if (!strcmp(mode, "first")) {
        double t0 = now_ns();
        asm_getppid();
        printf("%.1f\n", now_ns() - t0);
        return 0;
    }
#endif
    int fd = -1;
    if (strncmp(mode, "getppid", 7)) {
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
        else if (!strcmp(mode, "pread-libc"))
            r = pread(fd, buf, sizeof buf, 0);
#ifdef INLINE_SITES
        else if (!strcmp(mode, "getppid-asm"))
            r = asm_getppid();
        else if (!strcmp(mode, "pread-asm"))
            r = asm_pread(fd, buf, sizeof buf, 0);
#endif
        else
            return fprintf(stderr, "unknown mode %s\n", mode), 2;
        if (r < 0)
            return perror(mode), 1;
    }
    printf("%.1f\n", (now_ns() - t0) / n);
    return 0;
}
