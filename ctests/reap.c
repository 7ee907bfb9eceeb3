/* reap.c: children reaped by waitpid in a SIGCHLD handler, as shells do,
 * while the main flow is busy in malloc: the handler's waitpid must not
 * re-enter the allocator (the process has one thread, so glibc's malloc
 * takes no lock). Each round is a fresh process (the first call of a
 * process that sleeps starts the library's watcher thread), with a child
 * that takes a POSIX lock on a file of the base and exits holding it; once
 * the handler has reaped the child, the lock is free, as on Linux. */
#include "check.h"
#include <signal.h>
#include <sys/wait.h>

#define ROUNDS 400

static volatile sig_atomic_t reaped;

static void on_chld(int sig)
{
    (void)sig;
    int saved = errno, st;
    while (waitpid(-1, &st, WNOHANG) > 0)
        reaped++;
    errno = saved;
}

static int lock_file(int fd, int type, int cmd)
{
    struct flock fl = {.l_type = (short)type, .l_whence = SEEK_SET};
    return fcntl(fd, cmd, &fl);
}

/* One round in a fresh process: 0 when all went as on Linux. */
static int round_in_child(int round)
{
    char name[32];
    snprintf(name, sizeof name, "lock%d", round);
    int fd = open(F(name), O_RDWR | O_CREAT, 0644);
    if (fd < 0)
        return 10;
    struct sigaction sa = {.sa_handler = on_chld, .sa_flags = SA_RESTART};
    sigaction(SIGCHLD, &sa, NULL);
    int ready[2];
    if (pipe(ready) != 0)
        return 11;
    pid_t kid = fork();
    if (kid == 0) {
        if (lock_file(fd, F_WRLCK, F_SETLKW) != 0)
            _exit(12);
        if (write(ready[1], "l", 1) != 1)
            _exit(13);
        _exit(0);
    }
    char c;
    if (kid < 0 || read(ready[0], &c, 1) != 1)
        return 14;
    /* Allocate and free until the handler has reaped the child. */
    void *keep[64] = {0};
    unsigned n = (unsigned)round * 2654435761u;
    for (long i = 0; !reaped && i < 50L * 1000 * 1000; i++) {
        n = n * 1103515245u + 12345u;
        unsigned slot = (n >> 8) % 64;
        free(keep[slot]);
        keep[slot] = malloc(16 + (n >> 16) % 8192);
        if (keep[slot])
            memset(keep[slot], (int)i, 16);
    }
    for (int i = 0; i < 64; i++)
        free(keep[i]);
    if (!reaped)
        return 15;
    /* The child exited holding the lock: it is free now. */
    return lock_file(fd, F_WRLCK, F_SETLK) == 0 ? 0 : 16;
}

int main(int argc, char **argv)
{
    setup(argc, argv);
    int bad = 0;
    for (int round = 0; round < ROUNDS; round++) {
        fflush(NULL);
        pid_t p = fork();
        if (p == 0)
            _exit(round_in_child(round));
        int st;
        if (p < 0 || waitpid(p, &st, 0) != p)
            return 1;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            say("round %d: %s %d\n", round, WIFEXITED(st) ? "exit" : "signal",
                WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
            bad++;
        }
    }
    say("%d rounds, %d went wrong\n", ROUNDS, bad);
    return done();
}
