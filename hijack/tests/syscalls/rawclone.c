/* rawclone.c DIR: a thread made by a raw clone (no pthread: its own
 * stack, its parent's TLS) opens DIR/thread with an inline openat and
 * stays out of libc and the library; then the main thread opens
 * DIR/main the same way. Prints each answer (an errno name or "ok").
 * Under the library such a thread is not armed (Syscall User Dispatch is
 * per thread and a clone does not inherit it, and the library's
 * per-thread state cannot follow a thread it did not start): its calls
 * are the host's, so a path under /rump is ENOENT there, while the main
 * thread's are the kernel's; nothing crashes. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static long inline_openat(const char *path)
{
    long r;
    register long flags __asm__("rdx") = O_CREAT | O_WRONLY | O_CLOEXEC;
    register long mode __asm__("r10") = 0600;
    /* glibc's inline form, which `syscalls=auto` looks for. */
    __asm__ volatile("mov $257, %%eax\n\tsyscall" : "=a"(r) : "D"((long)AT_FDCWD), "S"(path), "r"(flags), "r"(mode)
                     : "rcx", "r11", "memory");
    return r;
}

static char thread_path[4096];
static volatile long thread_answer = 1;

/* Called by name from the asm below, on the thread's own stack. */
void thread_body(void);
void thread_body(void)
{
    thread_answer = inline_openat(thread_path);
}

static long raw_thread(void *stack_top)
{
    long r;
    register long ptid __asm__("rdx") = 0;
    register long ctid __asm__("r10") = 0;
    register long tls __asm__("r8") = 0;
    __asm__ volatile("mov $56, %%eax\n\tsyscall\n\t"
                     "test %%rax, %%rax\n\tjnz 1f\n\t"
                     "call thread_body\n\t"
                     "mov $60, %%eax\n\txor %%edi, %%edi\n\tsyscall\n"
                     "1:"
                     : "=a"(r)
                     : "D"((long)(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM)),
                       "S"(stack_top), "r"(ptid), "r"(ctid), "r"(tls)
                     : "rcx", "r11", "memory");
    return r;
}

static const char *said(long r)
{
    return r >= 0 ? "ok" : strerrorname_np((int)-r);
}

int main(int argc, char **argv)
{
    static char stack[65536] __attribute__((aligned(16)));
    if (argc < 2 || mkdir(argv[1], 0700))
        return 1;
    snprintf(thread_path, sizeof thread_path, "%s/thread", argv[1]);
    if (raw_thread(stack + sizeof stack) <= 0)
        return 2;
    while (thread_answer == 1)
        sched_yield();
    printf("raw clone thread: %s\n", said(thread_answer));
    char main_path[4096];
    snprintf(main_path, sizeof main_path, "%s/main", argv[1]);
    printf("main thread: %s\n", said(inline_openat(main_path)));
    return 0;
}
