/* The timed loops of benches/sud.rs: `sud_prog MODE PATH N` prints the
 * mean ns per call. Modes: getppid and pread-raw (libc's syscall(), which
 * the library defines), pread-libc (libc's pread, which the library
 * hooks); built with -DINLINE_SITES (a program syscalls=auto arms), also
 * getppid-asm and pread-asm (glibc's inline form, `mov $nr,%eax; syscall`:
 * caught by Syscall User Dispatch, then rewritten) and first (the first
 * inline getppid of the process, once). Without the library: sud-range and
 * sud-selector arm Syscall User Dispatch on the thread itself and time
 * an allowed getppid, made inside the allowed range or let through by
 * the selector (the kernel's slow entry path alone, against getppid). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <sys/prctl.h>
#include <unistd.h>

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#define PR_SYS_DISPATCH_ON 1
#endif

/* getppid from a function of its own, which sud-range makes the allowed
 * range. */
extern char range_begin[], range_end[];
__asm__(".text\n.globl range_begin, range_end\nrange_begin:\n"
        "    mov $110, %eax\n    syscall\n    ret\nrange_end:\n");
static long (*const range_getppid)(void) = (long (*)(void))range_begin;

/* The clock of the loop: the thread's CPU time where all the work is the
 * thread's own (host calls), so that other load on the machine does not
 * count; wall time for rump paths, whose kernel may work in other
 * threads. */
static clockid_t clock_id = CLOCK_MONOTONIC;

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(clock_id, &t);
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
    static volatile char selector; /* 0: allow */
    if (!strcmp(mode, "sud-range") || !strcmp(mode, "sud-selector")) {
        /* sud-selector: a range elsewhere, the selector decides */
        char *begin = mode[4] == 's' ? range_end : range_begin;
        unsigned long len = mode[4] == 's' ? 1 : range_end - range_begin;
        if (prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, (unsigned long)begin, len, &selector))
            return perror("prctl"), 1;
        mode = "getppid-range";
    }
    if (strncmp(argv[2], "/rump", 5))
        clock_id = CLOCK_THREAD_CPUTIME_ID;
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
        else if (!strcmp(mode, "getppid-range"))
            r = range_getppid();
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
