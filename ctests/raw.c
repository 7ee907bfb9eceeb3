/*
 * raw.c: the file, socket and process families made as raw system calls
 * (syscall(2), no libc wrapper), which only reach a rump kernel when the
 * library catches them (libc's syscall() is the library's; Syscall User
 * Dispatch, armed here by syscalls=auto because of the inline sites below,
 * catches the rest). Also: glibc's inline form `mov $nr,%eax; syscall`,
 * whose sites the library rewrites after the first catch; bad pointers
 * (EFAULT, never a crash); the program's own SIGSYS handler.
 */
#include "check.h"
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sched.h>
#include <sys/wait.h>

/* The names in a getdents64 buffer, sorted, on one line. */
static void names(const char *buf, long n)
{
    char list[64][256];
    int count = 0;
    for (long off = 0; off < n && count < 64;) {
        const struct dirent64 *d = (const void *)(buf + off);
        snprintf(list[count++], sizeof list[0], "%s", d->d_name);
        off += d->d_reclen;
    }
    qsort(list, (size_t)count, sizeof list[0], (int (*)(const void *, const void *))strcmp);
    say("names:");
    for (int i = 0; i < count; i++)
        say(" %s", list[i]);
    say("\n");
}

static void *thread_body(void *arg)
{
    (void)arg;
    long fd = syscall(SYS_openat, AT_FDCWD, F("thread"), O_CREAT | O_WRONLY, 0600);
    if (fd >= 0) {
        syscall(SYS_write, fd, "from a thread\n", 14);
        syscall(SYS_close, fd);
    }
    return (void *)fd;
}

static volatile int handler_fd = -1;
static void on_usr1(int sig)
{
    (void)sig;
    syscall(SYS_write, handler_fd, "from a handler\n", 15);
}

/* glibc's inline form: one site per call, each run several times (the
 * first is caught by a signal, the next go through the rewritten site). */
static long asm_ret(long r)
{
    if (r < 0 && r > -4096) {
        errno = (int)-r;
        return -1;
    }
    return r;
}

static long asm_openat(const char *path, long flags, long mode)
{
    long r;
    register long r10 __asm__("r10") = mode;
    __asm__ volatile("mov $257, %%eax\n\tsyscall"
                     : "=a"(r)
                     : "D"((long)AT_FDCWD), "S"(path), "d"(flags), "r"(r10)
                     : "rcx", "r11", "memory");
    return asm_ret(r);
}

static long asm_write(long fd, const void *buf, long n)
{
    long r;
    __asm__ volatile("mov $1, %%eax\n\tsyscall" : "=a"(r) : "D"(fd), "S"(buf), "d"(n) : "rcx", "r11", "memory");
    return asm_ret(r);
}

static long asm_close(long fd)
{
    long r;
    __asm__ volatile("mov $3, %%eax\n\tsyscall" : "=a"(r) : "D"(fd) : "rcx", "r11", "memory");
    return asm_ret(r);
}

static void inline_sites(void)
{
    for (int i = 0; i < 4; i++) {
        int fd = FD(asm_openat(F("asm"), O_CREAT | O_WRONLY | O_APPEND, 0644));
        I(asm_write(fd, "through a site\n", 15));
        I(asm_close(fd));
    }
    cat("asm");
    for (int i = 0; i < 2; i++)
        I(asm_openat((const char *)8, O_RDONLY, 0));
}

/* clone3: a new process, and a thread whose child runs on its own stack
 * (the inline site: the child must not return through libc's syscall()). */
struct clone3_args {
    unsigned long long flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

static volatile int clone3_done;
/* Called by name from the asm below (so not static). The thread shares
 * its parent's TLS, so it stays out of libc and the library. */
void clone3_thread_body(void);
void clone3_thread_body(void)
{
    clone3_done = 1;
}

static long asm_clone3_thread(struct clone3_args *ca)
{
    long r;
    __asm__ volatile("mov $435, %%eax\n\tsyscall\n\t"
                     "test %%rax, %%rax\n\tjnz 1f\n\t"
                     "call clone3_thread_body\n\t"
                     "mov $60, %%eax\n\txor %%edi, %%edi\n\tsyscall\n"
                     "1:"
                     : "=a"(r)
                     : "D"(ca), "S"(sizeof *ca)
                     : "rcx", "r11", "memory");
    return asm_ret(r);
}

static void clone3_family(void)
{
    int status = 0;
    struct clone3_args ca = {.exit_signal = SIGCHLD};
    long pid = syscall(SYS_clone3, &ca, sizeof ca);
    if (pid == 0) {
        long fd = syscall(SYS_openat, AT_FDCWD, F("clone3-child"), O_CREAT | O_WRONLY, 0600);
        syscall(SYS_write, fd, "from a clone3 child\n", 20);
        syscall(SYS_exit_group, fd >= 0 ? 5 : 1);
    }
    B(pid > 0);
    I(syscall(SYS_wait4, pid, &status, 0, NULL) == pid);
    say("clone3 child exit %d\n", WEXITSTATUS(status));
    cat("clone3-child");

    static char stack[65536] __attribute__((aligned(16)));
    struct clone3_args t = {
        .flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM,
        .stack = (unsigned long long)stack,
        .stack_size = sizeof stack,
    };
    B(asm_clone3_thread(&t) > 0);
    while (!clone3_done)
        sched_yield();
    say("clone3 thread ran\n");
    I(syscall(SYS_clone3, (void *)8, sizeof ca));
    I(syscall(SYS_clone3, &ca, 8));
}

/* sigaltstack through an inline site (caught: SIGSYS itself is taken on
 * the signal stack, which the call describes): query, set, use from a
 * handler (on it: changes refused), disable. */
static long asm_sigaltstack(const stack_t *ss, stack_t *old)
{
    long r;
    __asm__ volatile("mov $131, %%eax\n\tsyscall" : "=a"(r) : "D"(ss), "S"(old) : "rcx", "r11", "memory");
    return asm_ret(r);
}

static void say_stack(const char *what, const stack_t *st, const void *mine)
{
    say("%s: flags %d %s size %zu\n", what, st->ss_flags, st->ss_sp == mine ? "ours" : "other", st->ss_size);
}

static char altstack[65536];
static void on_usr2(int sig)
{
    stack_t st, change = {.ss_sp = altstack, .ss_size = 4096};
    (void)sig;
    I(asm_sigaltstack(NULL, &st));
    say_stack("in the handler", &st, altstack);
    I(asm_sigaltstack(&change, NULL));
}

static void alt_stack(void)
{
    stack_t st, set = {.ss_sp = altstack, .ss_size = sizeof altstack}, off = {.ss_flags = SS_DISABLE};
    I(asm_sigaltstack(NULL, &st));
    B(st.ss_flags == SS_DISABLE);
    I(asm_sigaltstack(&set, NULL));
    I(asm_sigaltstack(NULL, &st));
    say_stack("set", &st, altstack);
    struct sigaction sa = {.sa_handler = on_usr2, .sa_flags = SA_ONSTACK};
    I(sigaction(SIGUSR2, &sa, NULL));
    I(syscall(SYS_kill, syscall(SYS_getpid), SIGUSR2));
    stack_t small = {.ss_sp = altstack, .ss_size = 16};
    I(asm_sigaltstack(&small, NULL));
    stack_t bad = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 77};
    I(asm_sigaltstack(&bad, NULL));
    I(asm_sigaltstack((const stack_t *)8, NULL));
    I(asm_sigaltstack(&off, NULL));
    I(asm_sigaltstack(NULL, &st));
    B(st.ss_flags == SS_DISABLE);
}

/* Bad pointers in caught calls: the host's EFAULT, not a crash. */
static void bad_pointers(void)
{
    struct stat st;
    int fd = FD(syscall(SYS_openat, AT_FDCWD, F("bad"), O_CREAT | O_RDWR, 0644));
    I(syscall(SYS_openat, AT_FDCWD, (const char *)8, O_RDONLY));
    I(syscall(SYS_newfstatat, AT_FDCWD, (const char *)8, &st, 0));
    I(syscall(SYS_newfstatat, AT_FDCWD, F("bad"), (struct stat *)8, 0));
    I(syscall(SYS_write, fd, (const void *)8, 4));
    I(syscall(SYS_pwrite64, fd, "data", 4, 0));
    I(syscall(SYS_read, fd, (void *)8, 4));
    I(syscall(SYS_fstat, fd, (struct stat *)8));
    I(syscall(SYS_poll, (void *)8, 1, 0));
    I(syscall(SYS_close, fd));
}

/* The program's SIGSYS handler gets the SIGSYS that dispatch did not
 * raise, and sigaction shows it as the program set it. */
static volatile int sigsys_seen;
static void on_sigsys(int sig)
{
    (void)sig;
    sigsys_seen++;
}

static void own_sigsys(void)
{
    struct sigaction sa = {.sa_handler = on_sigsys}, old;
    I(sigaction(SIGSYS, &sa, NULL));
    I(sigaction(SIGSYS, NULL, &old));
    B(old.sa_handler == on_sigsys);
    I(syscall(SYS_kill, syscall(SYS_getpid), SIGSYS));
    say("SIGSYS handled %d\n", sigsys_seen);
    signal(SIGSYS, SIG_IGN);
    I(kill(getpid(), SIGSYS));
    say("SIGSYS handled %d\n", sigsys_seen);
    I(asm_close(1000));
}

static void file_family(void)
{
    char buf[4096];
    struct stat st;
    int fd = FD(syscall(SYS_openat, AT_FDCWD, F("f"), O_CREAT | O_RDWR | O_TRUNC, 0644));
    I(syscall(SYS_write, fd, "raw bytes\n", 10));
    I(syscall(SYS_pwrite64, fd, "RAW", 3, 0));
    I(syscall(SYS_lseek, fd, 0, SEEK_SET));
    long n = I(syscall(SYS_read, fd, buf, sizeof buf));
    show("read", buf, n);
    n = I(syscall(SYS_pread64, fd, buf, 5, 4));
    show("pread", buf, n);
    I(syscall(SYS_fstat, fd, &st));
    say("size %lld mode %o\n", (long long)st.st_size, st.st_mode & 07777);
    I(syscall(SYS_ftruncate, fd, 4));
    I(syscall(SYS_newfstatat, AT_FDCWD, F("f"), &st, 0));
    say("size %lld\n", (long long)st.st_size);
    int d = FD(syscall(SYS_dup, fd));
    I(syscall(SYS_close, fd));
    I(syscall(SYS_close, d));
    I(syscall(SYS_close, d));
    I(syscall(SYS_mkdirat, AT_FDCWD, F("dir"), 0755));
    I(syscall(SYS_mkdir, F("dir"), 0755));
    int dir = FD(syscall(SYS_open, F("dir"), O_RDONLY | O_DIRECTORY));
    int g = FD(syscall(SYS_openat, dir, "g", O_CREAT | O_WRONLY, 0600));
    I(syscall(SYS_close, g));
    I(syscall(SYS_renameat, dir, "g", dir, "h"));
    I(syscall(SYS_symlinkat, "h", dir, "link"));
    n = I(syscall(SYS_readlinkat, dir, "link", buf, sizeof buf));
    show("readlink", buf, n);
    I(syscall(SYS_faccessat, dir, "h", W_OK));
    I(syscall(SYS_faccessat, dir, "missing", F_OK));
    n = I(syscall(SYS_getdents64, dir, buf, sizeof buf));
    names(buf, n);
    I(syscall(SYS_unlinkat, dir, "link", 0));
    I(syscall(SYS_unlinkat, dir, "h", 0));
    I(syscall(SYS_close, dir));
    I(syscall(SYS_rmdir, F("dir")));
    I(syscall(SYS_stat, F("dir"), &st));
    I(syscall(SYS_read, 1000, buf, 1));
}

static void socket_family(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    char buf[64];
    int l = FD(syscall(SYS_socket, AF_INET, SOCK_STREAM, 0));
    I(syscall(SYS_bind, l, &a, sizeof a));
    I(syscall(SYS_listen, l, 4));
    I(syscall(SYS_getsockname, l, &a, &len));
    int c = FD(syscall(SYS_socket, AF_INET, SOCK_STREAM, 0));
    I(syscall(SYS_connect, c, &a, sizeof a));
    int s = FD(syscall(SYS_accept4, l, NULL, NULL, 0));
    I(syscall(SYS_sendto, c, "over tcp", 8, 0, NULL, 0));
    long n = I(syscall(SYS_recvfrom, s, buf, sizeof buf, 0, NULL, NULL));
    show("recvfrom", buf, n);
    I(syscall(SYS_shutdown, c, SHUT_WR));
    I(syscall(SYS_read, s, buf, sizeof buf));
    for (int fd = 0; fd < 3; fd++)
        I(syscall(SYS_close, (int[]){l, c, s}[fd]));
}

static void process_family(void)
{
    int status = 0;
    long pid = syscall(SYS_fork);
    if (pid == 0) {
        long fd = syscall(SYS_openat, AT_FDCWD, F("child"), O_CREAT | O_WRONLY, 0600);
        syscall(SYS_write, fd, "from a child\n", 13);
        syscall(SYS_exit_group, fd >= 0 ? 7 : 1);
    }
    B(pid > 0);
    I(syscall(SYS_wait4, pid, &status, 0, NULL) == pid);
    say("child exit %d\n", WEXITSTATUS(status));
    cat("child");

    pthread_t t;
    void *r;
    I(pthread_create(&t, NULL, thread_body, NULL));
    I(pthread_join(t, &r));
    B((long)r >= 0);
    cat("thread");

    handler_fd = FD(syscall(SYS_openat, AT_FDCWD, F("signal"), O_CREAT | O_WRONLY, 0600));
    signal(SIGUSR1, on_usr1);
    I(syscall(SYS_kill, syscall(SYS_getpid), SIGUSR1));
    I(syscall(SYS_close, handler_fd));
    cat("signal");
}

int main(int argc, char **argv)
{
    setup(argc, argv);
    file_family();
    socket_family();
    process_family();
    inline_sites();
    clone3_family();
    alt_stack();
    bad_pointers();
    own_sigsys();
    return 0;
}
