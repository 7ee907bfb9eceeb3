/* raw_thread_procs.c DIR: a thread made by a raw clone, on a TLS block
 * the program laid out, makes raw syscalls only (no libc on it) for
 * signals and processes:
 * - raises SIGUSR1 at itself; the program's handler, run on that thread,
 *   writes DIR/signal by raw calls;
 * - forks by a raw `fork`; the child writes DIR/child by raw calls and
 *   exits 7; the thread waits for it by a raw `wait4`;
 * - execs /bin/cat on both files by a raw `execve` (the other threads
 *   end), so the new image's libc reads what was written.
 * The main thread prints each answer before the exec. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long sys4(long nr, long a0, long a1, long a2, long a3)
{
    long r;
    register long r10 __asm__("r10") = a3;
    __asm__ volatile("syscall" : "=a"(r) : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10) : "rcx", "r11", "memory");
    return r;
}

/* glibc's inline form, rewritten after its first catch. */
static long inline_openat(const char *path)
{
    long r;
    register long flags __asm__("rdx") = O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC;
    register long mode __asm__("r10") = 0600;
    __asm__ volatile("mov $257, %%eax\n\tsyscall"
                     : "=a"(r)
                     : "D"((long)AT_FDCWD), "S"(path), "r"(flags), "r"(mode)
                     : "rcx", "r11", "memory");
    return r;
}

static long len(const char *s)
{
    long n = 0;
    while (s[n])
        n++;
    return n;
}

/* Writes `text` to a new file `path`: 0 or the first error. */
static long write_file(const char *path, const char *text)
{
    long fd = inline_openat(path);
    if (fd < 0)
        return fd;
    long r = sys4(SYS_write, fd, (long)text, len(text), 0);
    long c = sys4(SYS_close, fd, 0, 0, 0);
    return r < 0 ? r : c;
}

static char signal_path[4096], child_path[4096];
static volatile long in_handler = 1, raised = 1, forked = 1, child_status = -1, waited = 1;
static volatile int stage;

static void on_usr1(int sig)
{
    (void)sig;
    in_handler = write_file(signal_path, "written by a handler on a raw-clone thread\n");
}

static char *cat_argv[4];

void thread_body(void);
void thread_body(void)
{
    long pid = sys4(SYS_getpid, 0, 0, 0, 0);
    long tid = sys4(SYS_gettid, 0, 0, 0, 0);
    raised = sys4(SYS_tgkill, pid, tid, SIGUSR1, 0);
    long child = sys4(SYS_fork, 0, 0, 0, 0);
    if (child == 0) {
        long r = write_file(child_path, "written by the child of a raw-clone thread\n");
        sys4(SYS_exit_group, r == 0 ? 7 : 1, 0, 0, 0);
    }
    forked = child < 0 ? child : 0;
    int status = 0;
    waited = child < 0 ? child : sys4(SYS_wait4, child, (long)&status, 0, 0);
    child_status = status;
    stage = 1;
    while (stage != 2)
        sys4(SYS_sched_yield, 0, 0, 0, 0);
    sys4(SYS_execve, (long)cat_argv[0], (long)cat_argv, (long)__environ, 0);
    stage = 3;
    sys4(SYS_exit, 0, 0, 0, 0);
}

static const char *said(long r)
{
    return r >= 0 ? "ok" : strerrorname_np((int)-r);
}

int main(int argc, char **argv)
{
    static char stack[65536] __attribute__((aligned(16)));
    static void *tls_block[512] __attribute__((aligned(64)));
    if (argc < 2 || mkdir(argv[1], 0700))
        return 1;
    snprintf(signal_path, sizeof signal_path, "%s/signal", argv[1]);
    snprintf(child_path, sizeof child_path, "%s/child", argv[1]);
    cat_argv[0] = "/bin/cat", cat_argv[1] = signal_path, cat_argv[2] = child_path;
    struct sigaction sa = {.sa_handler = on_usr1};
    if (sigaction(SIGUSR1, &sa, NULL))
        return 2;
    tls_block[0] = tls_block;
    long r;
    register long ptid __asm__("rdx") = 0;
    register long ctid __asm__("r10") = 0;
    register long tls __asm__("r8") = (long)tls_block;
    __asm__ volatile("mov $56, %%eax\n\tsyscall\n\t"
                     "test %%rax, %%rax\n\tjnz 1f\n\t"
                     "call thread_body\n\t"
                     "ud2\n"
                     "1:"
                     : "=a"(r)
                     : "D"((long)(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
                                  CLONE_SETTLS)),
                       "S"(stack + sizeof stack), "r"(ptid), "r"(ctid), "r"(tls)
                     : "rcx", "r11", "memory");
    if (r <= 0)
        return 3;
    while (stage != 1)
        sched_yield();
    printf("tgkill: %s\nhandler's write: %s\n", said(raised), said(in_handler));
    printf("fork: %s\nwait4: %s\nchild's exit status: %d\n", said(forked), said(waited), (int)WEXITSTATUS(child_status));
    fflush(stdout);
    stage = 2;
    while (stage != 3)
        sched_yield();
    printf("execve failed\n");
    return 4;
}
