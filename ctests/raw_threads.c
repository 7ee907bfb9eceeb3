/* raw_threads.c DIR: four threads made by raw system calls, no
 * pthread, each on its own stack: by clone and by clone3, each with
 * CLONE_SETTLS on a TLS block the program laid out and without it
 * (sharing the main thread's). Each creates DIR/tN, and 1,000 times
 * opens it, writes a line, reads it back, fstats and stats it, closes it,
 * by raw syscalls only (no libc on those threads): half the calls from
 * sites of glibc's inline form (`mov $nr,%eax; syscall`, rewritten after
 * their first catch), half with the number in a register (caught every
 * time). A fifth, made by glibc's clone() and sharing the main thread's
 * TLS, does the same through libc's functions and syscall(); a sixth,
 * made by libc's syscall(SYS_clone, ...), by raw calls again. The main
 * thread does the same on DIR/main meanwhile. Prints one
 * line per thread: "ok", or the first call that went wrong and its errno
 * name. Then 300 threads, one after another, each stat DIR/t0 once. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define THREADS 6
/* The worker that glibc's clone() makes and that calls libc. */
#define LIBC_WORKER 4
/* The worker that libc's syscall(SYS_clone, ...) makes. */
#define SYSCALL_WORKER 5
#define ROUNDS 1000
#define SEQUENTIAL 300

/* One site of the inline form per call number. */
#define INLINE_SYSCALL(name, nr)                                                                                   \
    static long name(long a0, long a1, long a2, long a3)                                                           \
    {                                                                                                              \
        long r;                                                                                                    \
        register long r10 __asm__("r10") = a3;                                                                     \
        __asm__ volatile("mov $" #nr ", %%eax\n\tsyscall"                                                         \
                         : "=a"(r)                                                                                 \
                         : "D"(a0), "S"(a1), "d"(a2), "r"(r10)                                                     \
                         : "rcx", "r11", "memory");                                                                \
        return r;                                                                                                  \
    }
INLINE_SYSCALL(inline_openat, 257)
INLINE_SYSCALL(inline_write, 1)
INLINE_SYSCALL(inline_pread, 17)
INLINE_SYSCALL(inline_fstat, 5)
INLINE_SYSCALL(inline_newfstatat, 262)
INLINE_SYSCALL(inline_close, 3)

/* The number in a register: a site never rewritten. */
static long reg_syscall(long nr, long a0, long a1, long a2, long a3)
{
    long r;
    register long r10 __asm__("r10") = a3;
    __asm__ volatile("syscall" : "=a"(r) : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10) : "rcx", "r11", "memory");
    return r;
}

struct worker {
    char path[4096];
    const char *failed; /* NULL: all went right */
    long err;
    int round;
    volatile int ctid; /* cleared by the kernel when the thread ends */
};

static struct worker workers[THREADS + 1];

static int same(const char *a, const char *b, long n)
{
    for (long i = 0; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

/* "round NNNN of worker W\n" without libc. */
static long line(char *buf, int w, int round)
{
    const char head[] = "round ";
    long n = 0;
    for (const char *p = head; *p; p++)
        buf[n++] = *p;
    for (int d = 1000; d; d /= 10)
        buf[n++] = (char)('0' + round / d % 10);
    const char mid[] = " of worker ";
    for (const char *p = mid; *p; p++)
        buf[n++] = *p;
    buf[n++] = (char)('0' + w);
    buf[n++] = '\n';
    return n;
}

/* libc's function for call `nr`, or (odd rounds) libc's syscall(): a
 * raw answer either way. */
static long by_libc(int round, long nr, long a0, long a1, long a2, long a3)
{
    long r;
    if (round % 2)
        r = syscall(nr, a0, a1, a2, a3);
    else if (nr == SYS_openat)
        r = openat((int)a0, (const char *)a1, (int)a2, (mode_t)a3);
    else if (nr == SYS_write)
        r = write((int)a0, (const void *)a1, (size_t)a2);
    else if (nr == SYS_pread64)
        r = pread((int)a0, (void *)a1, (size_t)a2, (off_t)a3);
    else if (nr == SYS_fstat)
        r = fstat((int)a0, (struct stat *)a1);
    else if (nr == SYS_close)
        r = close((int)a0);
    else
        r = fstatat((int)a0, (const char *)a1, (struct stat *)a2, (int)a3);
    return r < 0 ? -errno : r;
}

#define CALL(inl, nr, a0, a1, a2, a3)                                                                              \
    (w == LIBC_WORKER ? by_libc(round, nr, a0, a1, a2, a3)                                                         \
     : round % 2      ? reg_syscall(nr, a0, a1, a2, a3)                                                            \
                      : inl(a0, a1, a2, a3))

static int fail(struct worker *me, const char *what, long r)
{
    me->failed = what;
    me->err = r;
    return 1;
}

static int one_round(struct worker *me, int w, int round)
{
    char out[64], in[64];
    struct stat st;
    long n = line(out, w, round);
    long fd = CALL(inline_openat, SYS_openat, AT_FDCWD, (long)me->path, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return fail(me, "openat", fd);
    long r = CALL(inline_write, SYS_write, fd, (long)out, n, 0);
    if (r != n)
        return fail(me, "write", r);
    r = CALL(inline_pread, SYS_pread64, fd, (long)in, sizeof in, 0);
    if (r != n || !same(in, out, n))
        return fail(me, "pread", r < 0 ? r : -EIO);
    r = CALL(inline_fstat, SYS_fstat, fd, (long)&st, 0, 0);
    if (r < 0 || st.st_size != n || !S_ISREG(st.st_mode))
        return fail(me, "fstat", r < 0 ? r : -EIO);
    r = CALL(inline_close, SYS_close, fd, 0, 0, 0);
    if (r < 0)
        return fail(me, "close", r);
    r = CALL(inline_newfstatat, SYS_newfstatat, AT_FDCWD, (long)me->path, (long)&st, 0);
    if (r < 0 || st.st_size != n)
        return fail(me, "newfstatat", r < 0 ? r : -EIO);
    return 0;
}

static void work(int w)
{
    struct worker *me = &workers[w];
    for (me->round = 0; me->round < ROUNDS; me->round++)
        if (one_round(me, w, me->round))
            return;
}

/* glibc's clone() runs it on the new thread. */
static char missing[4096];
static long missing_by_function = 1, missing_by_syscall = 1;

/* Set once the main thread's own calls are done. */
static volatile int main_done;

static int libc_worker(void *unused)
{
    (void)unused;
    work(LIBC_WORKER);
    /* The errno a hook sets is the one this thread's libc shows. This
     * thread shares the main thread's TLS, so its errno too: it looks once
     * the main thread has stopped calling, since calls the library serves
     * on the main thread may write that errno back as they found it
     * (glibc's free() does, on every call), which can undo a value set
     * here in between. */
    while (!main_done)
        sched_yield();
    missing_by_function = by_libc(0, SYS_openat, AT_FDCWD, (long)missing, O_RDONLY, 0);
    missing_by_syscall = by_libc(1, SYS_openat, AT_FDCWD, (long)missing, O_RDONLY, 0);
    return 0;
}

/* Entered by the `ret` of syscall() in the child, at a function's
 * alignment; it has nowhere to return to. */
static void syscall_worker(void)
{
    work(SYSCALL_WORKER);
    reg_syscall(SYS_exit, 0, 0, 0, 0);
}

/* One after another (`SEQUENTIAL`): each stats DIR/t0 once; the first
 * failure is kept. */
static volatile long sequential_answer;

/* Called by name from the asm below, on the thread's own stack: a worker
 * (w >= 0) or one of the threads made one after another (w < 0). */
void thread_body(long w);
void thread_body(long w)
{
    struct stat st;
    if (w >= 0) {
        work((int)w);
    } else {
        long r = inline_newfstatat(AT_FDCWD, (long)workers[0].path, (long)&st, 0);
        if (r < 0 && sequential_answer == 0)
            sequential_answer = r;
    }
}

/* The child of each clone: runs thread_body(r12) and exits. */
#define CHILD                                                                                                      \
    "test %%rax, %%rax\n\tjnz 1f\n\t"                                                                              \
    "mov %%r12, %%rdi\n\tcall thread_body\n\t"                                                                     \
    "mov $60, %%eax\n\txor %%edi, %%edi\n\tsyscall\n"                                                              \
    "1:"

#define THREAD_FLAGS                                                                                               \
    (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM | CLONE_CHILD_CLEARTID)

static long by_clone(long w, char *stack_top, long flags, void *tls, volatile int *ctid_addr)
{
    long r;
    register long ctid __asm__("r10") = (long)ctid_addr;
    register long tlsr __asm__("r8") = (long)tls;
    register long arg __asm__("r12") = w;
    __asm__ volatile("mov $56, %%eax\n\tsyscall\n\t" CHILD
                     : "=a"(r)
                     : "D"(flags), "S"(stack_top), "d"(0L), "r"(ctid), "r"(tlsr), "r"(arg)
                     : "rcx", "r11", "memory");
    return r;
}

struct clone_args_v0 {
    unsigned long long flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

static long by_clone3(long w, char *stack, long size, long flags, void *tls)
{
    struct clone_args_v0 args = {
        .flags = (unsigned long long)flags,
        .child_tid = (unsigned long long)&workers[w].ctid,
        .stack = (unsigned long long)stack,
        .stack_size = (unsigned long long)size,
        .tls = (unsigned long long)tls,
    };
    long r;
    register long arg __asm__("r12") = w;
    __asm__ volatile("mov $435, %%eax\n\tsyscall\n\t" CHILD
                     : "=a"(r)
                     : "D"(&args), "S"(sizeof args), "r"(arg)
                     : "rcx", "r11", "memory");
    return r;
}

#define STACK 65536
static char stacks[THREADS][STACK] __attribute__((aligned(64)));
/* The program's own thread blocks: fs:0 points at itself, as the x86-64
 * ABI asks; the rest is zero. */
static void *tls_blocks[THREADS][512] __attribute__((aligned(64)));

static const char *said(long r)
{
    return r >= 0 ? "ok" : strerrorname_np((int)-r);
}

int main(int argc, char **argv)
{
    if (argc < 2 || mkdir(argv[1], 0700))
        return 1;
    for (int w = 0; w <= THREADS; w++) {
        snprintf(workers[w].path, sizeof workers[w].path, "%s/t%d", argv[1], w);
        workers[w].ctid = 1;
    }
    snprintf(missing, sizeof missing, "%s/missing", argv[1]);
    static const char *const how[THREADS] = {"clone, own TLS", "clone, shared TLS", "clone3, own TLS",
                                             "clone3, shared TLS", "glibc clone(), shared TLS, libc calls",
                                             "syscall(SYS_clone), shared TLS"};
    for (int w = 0; w < LIBC_WORKER; w++) {
        int own_tls = w % 2 == 0;
        long flags = THREAD_FLAGS | (own_tls ? CLONE_SETTLS : 0);
        void *tls = own_tls ? (tls_blocks[w][0] = tls_blocks[w]) : NULL;
        long r = w < 2 ? by_clone(w, stacks[w] + STACK, flags, tls, &workers[w].ctid)
                       : by_clone3(w, stacks[w], STACK, flags, tls);
        if (r <= 0) {
            printf("%s: %s\n", how[w], said(r));
            return 2;
        }
    }
    if (clone(libc_worker, stacks[LIBC_WORKER] + STACK, THREAD_FLAGS, NULL, NULL, NULL, &workers[LIBC_WORKER].ctid) <
        0)
        return perror("clone"), 2;
    /* syscall() returns in the child on the new stack: into
     * syscall_worker, whose address is on top of it. */
    void **top = (void **)(stacks[SYSCALL_WORKER] + STACK - 16);
    *top = (void *)syscall_worker;
    if (syscall(SYS_clone, THREAD_FLAGS, top, NULL, &workers[SYSCALL_WORKER].ctid, NULL) < 0)
        return perror("syscall(SYS_clone)"), 2;
    work(THREADS);
    main_done = 1;
    for (int w = 0; w < THREADS; w++)
        while (workers[w].ctid)
            sched_yield();
    for (int w = 0; w <= THREADS; w++) {
        struct worker *k = &workers[w];
        const char *who = w < THREADS ? how[w] : "main thread";
        if (k->failed)
            printf("%s: %s failed in round %d: %s\n", who, k->failed, k->round, said(k->err));
        else
            printf("%s: ok\n", who);
    }
    printf("opening a missing file on the glibc clone() thread: %s by openat(), %s by syscall()\n",
           said(missing_by_function), said(missing_by_syscall));
    /* More threads than the library's pool of foreign-thread slots, one
     * after another: the slots of those that ended are reused. */
    for (int i = 0; i < SEQUENTIAL; i++) {
        static volatile int ctid;
        ctid = 1;
        long r = by_clone(-1, stacks[0] + STACK, THREAD_FLAGS, NULL, &ctid);
        if (r <= 0) {
            printf("thread %d of %d one after another: %s\n", i, SEQUENTIAL, said(r));
            return 5;
        }
        while (ctid)
            sched_yield();
    }
    printf("%d threads one after another: %s\n", SEQUENTIAL, said(sequential_answer));
    return 0;
}
