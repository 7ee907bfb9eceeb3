/* The timed loops of benches/sud.rs: `sud_prog MODE PATH N` prints the
 * mean ns per call. Modes: getppid and pread-raw (libc's syscall(), which
 * the library defines), pread-libc (libc's pread, which the library
 * hooks); built with -DINLINE_SITES (a program syscalls=auto arms), also
 * getppid-asm and pread-asm (glibc's inline form, `mov $nr,%eax; syscall`:
 * caught by Syscall User Dispatch, then rewritten) and first (the first
 * inline getppid of the process, once). Without the library: sud-range and
 * sud-selector arm Syscall User Dispatch on the thread itself and time
 * an allowed getppid, made inside the allowed range or let through by
 * the selector (the kernel's slow entry path alone, against getppid).
 * Built with -DTHREADS (no other inline sites, so as not to change what
 * the others measure): pread-pthread and pread-raw-thread time the
 * inline pread on a pthread and on a thread of a raw clone (sharing the
 * main thread's TLS: a foreign thread to the library), stat-pthread and
 * stat-raw-thread the same for an inline newfstatat of PATH. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
#endif

#if defined INLINE_SITES || defined THREADS
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

#ifdef THREADS
static long asm_newfstatat(const char *path, struct stat *st)
{
    long r;
    register long r10 __asm__("r10") = 0;
    __asm__ volatile("mov $262, %%eax\n\tsyscall"
                     : "=a"(r)
                     : "D"((long)AT_FDCWD), "S"(path), "d"(st), "r"(r10)
                     : "rcx", "r11", "memory");
    return r;
}

/* The same loops on another thread: a pthread, or one made by a raw
 * clone sharing the main thread's TLS (a foreign thread to the library),
 * which times itself and exits; the main thread waits for it. */
static const char *loop_mode, *loop_path;
static long loop_n;
static int loop_fd;
static double loop_ns;

static void *timed_loop(void *unused)
{
    (void)unused;
    static char buf[4096];
    struct stat st;
    double t0 = now_ns();
    for (long i = 0; i < loop_n; i++) {
        long r = loop_mode[0] == 'p' ? asm_pread(loop_fd, buf, sizeof buf, 0) : asm_newfstatat(loop_path, &st);
        if (r < 0)
            return loop_ns = -1, NULL;
    }
    loop_ns = (now_ns() - t0) / loop_n;
    return NULL;
}

void raw_thread_body(void);
void raw_thread_body(void)
{
    timed_loop(NULL);
}

static double on_raw_thread(void)
{
    static char stack[1 << 20] __attribute__((aligned(16)));
    static volatile int ctid = 1;
    long r;
    register long r10 __asm__("r10") = (long)&ctid;
    __asm__ volatile("mov $56, %%eax\n\tsyscall\n\t"
                     "test %%rax, %%rax\n\tjnz 1f\n\t"
                     "call raw_thread_body\n\t"
                     "mov $60, %%eax\n\txor %%edi, %%edi\n\tsyscall\n"
                     "1:"
                     : "=a"(r)
                     : "D"((long)(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
                                  CLONE_CHILD_CLEARTID)),
                       "S"(stack + sizeof stack), "d"(0L), "r"(r10)
                     : "rcx", "r11", "memory");
    if (r <= 0)
        return -1;
    while (ctid)
        sched_yield();
    return loop_ns;
}

static double on_pthread(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, timed_loop, NULL) || pthread_join(t, NULL))
        return -1;
    return loop_ns;
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
#ifdef THREADS
    if (!strcmp(mode, "pread-raw-thread") || !strcmp(mode, "pread-pthread") || !strcmp(mode, "stat-raw-thread") ||
        !strcmp(mode, "stat-pthread")) {
        loop_mode = mode, loop_path = argv[2], loop_n = n, loop_fd = fd;
        double ns = strstr(mode, "raw") ? on_raw_thread() : on_pthread();
        if (ns < 0)
            return fprintf(stderr, "%s failed\n", mode), 1;
        printf("%.1f\n", ns);
        return 0;
    }
#endif
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
