/* lock.c: file locks, as tools take them: flock, fcntl record locks
 * (F_SETLK, F_SETLKW, F_GETLK and the OFD forms) and lockf, held by this
 * process and tested from a forked child and through a second open; then
 * ranges split and merged, whence and negative lengths, a child holder's
 * pid, EDEADLK between two processes, waiters woken by a release, a
 * SIGKILLed holder's locks going, and EINTR in a blocked F_SETLKW.
 *
 * While a child runs, only one of the two processes prints, so the
 * transcript's order does not depend on scheduling. */
#include "check.h"
#include <signal.h>
#include <sys/file.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

static struct flock lk(short type, off_t start, off_t len)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    return fl;
}

/* F_GETLK's answer: the type, and for a conflict whether the holder is
 * the given pid and the range. */
static void getlk(int fd, short type, off_t start, off_t len, pid_t holder)
{
    struct flock fl = lk(type, start, len);
    if (I(fcntl(fd, F_GETLK, &fl)) == 0) {
        if (fl.l_type == F_UNLCK)
            say("  unlocked\n");
        else
            say("  %s held by %s at %lld+%lld\n", fl.l_type == F_WRLCK ? "write" : "read",
                fl.l_pid == holder ? "the holder" : "someone else", (long long)fl.l_start, (long long)fl.l_len);
    }
}

/* F_GETLK from a fresh child, so that this process's own locks show. */
static void probe(int fd, short type, short whence, off_t start, off_t len, pid_t holder)
{
    pid_t pid = fork();
    if (pid == 0) {
        struct flock fl = {.l_type = type, .l_whence = whence, .l_start = start, .l_len = len};
        if (I(fcntl(fd, F_GETLK, &fl)) == 0) {
            if (fl.l_type == F_UNLCK)
                say("  unlocked\n");
            else
                say("  %s held by %s at %lld+%lld whence %d\n", fl.l_type == F_WRLCK ? "write" : "read",
                    fl.l_pid == holder ? "the holder" : "someone else", (long long)fl.l_start,
                    (long long)fl.l_len, fl.l_whence);
        }
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
}

static int set(int fd, int cmd, short type, off_t start, off_t len)
{
    struct flock fl = lk(type, start, len);
    return fcntl(fd, cmd, &fl);
}

/* Waits until `pid` sleeps (in a call that blocks), and a little more so
 * that a remote kernel has the call too. */
static void wait_blocked(pid_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    for (int i = 0; i < 2000; i++) {
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f)
            fclose(f);
        buf[n] = 0;
        char *p = strrchr(buf, ')');
        if (p && p[1] == ' ' && p[2] == 'S')
            break;
        usleep(1000);
    }
    usleep(100000);
}

/* A byte through a pipe: how parent and child take turns. */
static void signal_fd(int fd) { (void)!write(fd, "x", 1); }

static void await_fd(int fd)
{
    char c;
    (void)!read(fd, &c, 1);
}

static void on_alarm(int sig) { (void)sig; }

static void reap(const char *what, pid_t pid)
{
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        say("%s: waitpid %s\n", what, ename(errno));
    else if (WIFEXITED(st))
        say("%s: exited %d\n", what, WEXITSTATUS(st));
    else
        say("%s: status %#x\n", what, st);
}

int main(int argc, char **argv)
{
    setup(argc, argv);
    put("f", "0123456789abcdefghij");
    int fd = FD(open(F("f"), O_RDWR));
    int fd2 = FD(open(F("f"), O_RDWR));
    int ro = FD(open(F("f"), O_RDONLY));

    /* flock: per open file; a second open conflicts */
    I(flock(fd, LOCK_EX | LOCK_NB));
    I(flock(fd2, LOCK_EX | LOCK_NB));
    I(flock(fd2, LOCK_SH | LOCK_NB));
    I(flock(fd, LOCK_SH));
    I(flock(fd2, LOCK_SH | LOCK_NB));
    I(flock(fd, LOCK_EX | LOCK_NB));
    I(flock(fd2, LOCK_UN));
    I(flock(fd, LOCK_EX | LOCK_NB));
    int dup_fd = FD(dup(fd));
    I(flock(dup_fd, LOCK_EX | LOCK_NB));
    I(close(dup_fd));
    I(flock(fd2, LOCK_EX | LOCK_NB));
    I(flock(fd, LOCK_UN));
    I(flock(fd2, LOCK_EX | LOCK_NB));
    I(flock(fd2, LOCK_UN));
    I(flock(fd, 0));
    I(flock(1000, LOCK_EX));

    /* record locks: per process, so this process never conflicts with
     * itself; a forked child does */
    struct flock fl = lk(F_WRLCK, 0, 10);
    I(fcntl(fd, F_SETLK, &fl));
    getlk(fd, F_WRLCK, 0, 10, getpid());
    fl = lk(F_RDLCK, 5, 10);
    I(fcntl(fd2, F_SETLK, &fl));
    fl = lk(F_WRLCK, 0, 0);
    I(fcntl(ro, F_SETLK, &fl));
    fl = lk(F_RDLCK, 0, 0);
    I(fcntl(ro, F_SETLK, &fl));
    fl = lk(F_WRLCK, -1, 1);
    I(fcntl(fd, F_SETLK, &fl));
    fl = lk(F_UNLCK, 0, 0);
    I(fcntl(ro, F_SETLK, &fl));
    fl = lk(F_WRLCK, 0, 10);
    I(fcntl(fd, F_SETLKW, &fl));

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        getlk(fd, F_WRLCK, 0, 5, parent);
        getlk(fd, F_RDLCK, 12, 3, parent);
        getlk(fd, F_WRLCK, 15, 1, parent);
        struct flock c = lk(F_WRLCK, 2, 2);
        I(fcntl(fd, F_SETLK, &c));
        c = lk(F_RDLCK, 16, 2);
        I(fcntl(fd, F_SETLK, &c));
        I(lockf(fd2, F_TEST, 5));
        I(lseek(fd2, 16, SEEK_SET));
        I(lockf(fd2, F_TLOCK, 2));
        _exit(0);
    }
    reap("child", pid);

    /* closing any fd of the file drops this process's record locks */
    I(close(ro));
    pid = fork();
    if (pid == 0) {
        getlk(fd, F_WRLCK, 0, 20, parent);
        _exit(0);
    }
    reap("child after close", pid);

    /* lockf */
    I(lseek(fd, 0, SEEK_SET));
    I(lockf(fd, F_TLOCK, 4));
    I(lockf(fd, F_TEST, 4));
    pid = fork();
    if (pid == 0) {
        I(lseek(fd2, 0, SEEK_SET));
        I(lockf(fd2, F_TEST, 4));
        I(lockf(fd2, F_TLOCK, 0));
        I(lseek(fd2, 4, SEEK_SET));
        I(lockf(fd2, F_TLOCK, 4));
        _exit(0);
    }
    reap("lockf child", pid);
    I(lockf(fd, F_ULOCK, 4));
    I(lockf(fd, 99, 4));

    /* open file description locks: per open file, even in one process */
    fl = lk(F_WRLCK, 0, 4);
    I(fcntl(fd, F_OFD_SETLK, &fl));
    fl = lk(F_WRLCK, 0, 4);
    I(fcntl(fd2, F_OFD_SETLK, &fl));
    fl = lk(F_WRLCK, 0, 4);
    I(fcntl(fd2, F_OFD_GETLK, &fl));
    I(fl.l_type == F_WRLCK);
    B(fl.l_pid == -1);
    fl = lk(F_UNLCK, 0, 4);
    I(fcntl(fd, F_OFD_SETLK, &fl));
    fl = lk(F_WRLCK, 0, 4);
    I(fcntl(fd2, F_OFD_SETLK, &fl));

    fl = lk(F_UNLCK, 0, 4);
    I(fcntl(fd2, F_OFD_SETLK, &fl));

    /* OFD and POSIX locks of one process still conflict; bad OFD l_pid */
    I(set(fd, F_SETLK, F_WRLCK, 0, 4));
    I(set(fd2, F_OFD_SETLK, F_WRLCK, 2, 4));
    fl = lk(F_WRLCK, 8, 1);
    fl.l_pid = 1;
    I(fcntl(fd2, F_OFD_SETLK, &fl));
    fl = lk(F_WRLCK, 8, 1);
    fl.l_pid = 1;
    I(fcntl(fd2, F_OFD_GETLK, &fl));
    I(set(fd2, F_OFD_SETLK, F_WRLCK, 6, 2));
    fl = lk(F_RDLCK, 0, 0);
    I(fcntl(fd, F_GETLK, &fl));
    say("  posix sees ofd at %lld+%lld pid %d\n", (long long)fl.l_start, (long long)fl.l_len, fl.l_pid);
    I(set(fd2, F_OFD_SETLK, F_UNLCK, 0, 0));
    I(set(fd, F_SETLK, F_UNLCK, 0, 0));

    /* an O_PATH fd takes no locks */
    int path_fd = FD(open(F("f"), O_PATH));
    I(set(path_fd, F_SETLK, F_UNLCK, 0, 0));
    I(set(path_fd, F_GETLK, F_WRLCK, 0, 0));
    I(flock(path_fd, LOCK_SH));
    I(close(path_fd));

    /* splitting, merging and reporting ranges */
    say("ranges\n");
    pid_t me = getpid();
    I(set(fd, F_SETLK, F_WRLCK, 0, 100));
    I(set(fd, F_SETLK, F_UNLCK, 40, 10));
    probe(fd, F_WRLCK, SEEK_SET, 0, 0, me);
    probe(fd, F_WRLCK, SEEK_SET, 45, 10, me);
    probe(fd, F_WRLCK, SEEK_SET, 40, 10, me);
    I(set(fd, F_SETLK, F_WRLCK, 40, 10));
    probe(fd, F_RDLCK, SEEK_SET, 10, 1, me);
    I(set(fd, F_SETLK, F_RDLCK, 20, 10));
    probe(fd, F_RDLCK, SEEK_SET, 0, 0, me);
    probe(fd, F_RDLCK, SEEK_SET, 20, 10, me);
    probe(fd, F_WRLCK, SEEK_SET, 25, 10, me);
    I(set(fd, F_SETLK, F_RDLCK, 30, 10));
    probe(fd, F_WRLCK, SEEK_SET, 21, 100, me);
    I(set(fd, F_SETLK, F_WRLCK, 200, 0));
    probe(fd, F_RDLCK, SEEK_SET, 1000, 1, me);
    /* unlocking through another fd of the file: the locks are the process's */
    I(set(fd2, F_SETLK, F_UNLCK, 0, 0));
    probe(fd, F_WRLCK, SEEK_SET, 0, 0, me);
    /* negative lengths, SEEK_CUR, SEEK_END (the file has 20 bytes) */
    I(set(fd, F_SETLK, F_WRLCK, 10, -5));
    probe(fd, F_WRLCK, SEEK_SET, 0, 0, me);
    I(set(fd, F_SETLK, F_WRLCK, 3, -4));
    I(set(fd, F_SETLK, F_UNLCK, 0, 0));
    I(lseek(fd, 7, SEEK_SET));
    fl = lk(F_WRLCK, 2, 3);
    fl.l_whence = SEEK_CUR;
    I(fcntl(fd, F_SETLK, &fl));
    fl = lk(F_WRLCK, -4, 2);
    fl.l_whence = SEEK_END;
    I(fcntl(fd, F_SETLK, &fl));
    probe(fd, F_WRLCK, SEEK_SET, 0, 0, me);
    probe(fd, F_WRLCK, SEEK_END, -3, 0, me);
    probe(fd, F_WRLCK, SEEK_CUR, 0, -1, me);
    fl = lk(F_WRLCK, -30, 2);
    fl.l_whence = SEEK_END;
    I(fcntl(fd, F_SETLK, &fl));
    fl = lk(F_WRLCK, 0, 1);
    fl.l_whence = 7;
    I(fcntl(fd, F_SETLK, &fl));
    I(set(fd, F_SETLK, 9, 0, 1));
    I(set(fd, F_GETLK, F_UNLCK, 0, 1));
    I(set(fd, F_SETLK, F_WRLCK, 0x7fffffffffffff00LL, 0x200));
    I(set(fd, F_SETLK, F_UNLCK, 0, 0));
    /* any close of the file drops the process's locks, a dup's too */
    I(set(fd, F_SETLK, F_WRLCK, 0, 1));
    dup_fd = FD(dup(fd2));
    I(close(dup_fd));
    probe(fd, F_WRLCK, SEEK_SET, 0, 0, me);
    /* flock and record locks do not meet */
    I(set(fd, F_SETLK, F_WRLCK, 0, 0));
    I(flock(fd2, LOCK_EX | LOCK_NB));
    pid = fork();
    if (pid == 0) {
        int own = open(F("f"), O_RDWR);
        I(flock(own, LOCK_SH | LOCK_NB));
        I(set(own, F_SETLK, F_RDLCK, 0, 1));
        _exit(0);
    }
    reap("flock child", pid);
    I(flock(fd2, LOCK_UN));
    I(set(fd, F_SETLK, F_UNLCK, 0, 0));

    int to_parent[2], to_child[2];
    I(pipe(to_parent));
    I(pipe(to_child));

    /* F_GETLK names a child holder by the pid its parent knows */
    say("child holder\n");
    pid = fork();
    if (pid == 0) {
        set(fd, F_SETLK, F_RDLCK, 5, 5);
        signal_fd(to_parent[1]);
        await_fd(to_child[0]);
        _exit(0);
    }
    await_fd(to_parent[0]);
    fl = lk(F_WRLCK, 0, 0);
    I(fcntl(fd, F_GETLK, &fl));
    B(fl.l_pid == pid);
    say("  read at %lld+%lld\n", (long long)fl.l_start, (long long)fl.l_len);
    I(set(fd, F_SETLK, F_WRLCK, 0, 6));
    signal_fd(to_child[1]);
    reap("holder", pid);
    I(set(fd, F_SETLK, F_WRLCK, 0, 6));
    I(set(fd, F_SETLK, F_UNLCK, 0, 0));

    /* EDEADLK: the child holds byte 1 and waits for byte 0, which this
     * process holds; asking for byte 1 would close the cycle */
    say("deadlock\n");
    I(set(fd, F_SETLK, F_WRLCK, 0, 1));
    pid = fork();
    if (pid == 0) {
        set(fd, F_SETLK, F_WRLCK, 1, 1);
        signal_fd(to_parent[1]);
        I(set(fd, F_SETLKW, F_WRLCK, 0, 1));
        _exit(0);
    }
    await_fd(to_parent[0]);
    wait_blocked(pid);
    I(set(fd, F_SETLKW, F_WRLCK, 1, 1));
    I(set(fd, F_SETLK, F_WRLCK, 1, 1));
    set(fd, F_SETLK, F_UNLCK, 0, 1);
    reap("waiter", pid);

    /* waiters wake when the holder lets go: a record lock, a flock */
    say("wake-ups\n");
    I(set(fd, F_SETLK, F_WRLCK, 0, 0));
    I(flock(fd, LOCK_EX));
    pid = fork();
    if (pid == 0) {
        int own = open(F("f"), O_RDWR);
        signal_fd(to_parent[1]);
        I(set(own, F_SETLKW, F_RDLCK, 3, 1));
        I(flock(own, LOCK_SH));
        _exit(0);
    }
    await_fd(to_parent[0]);
    wait_blocked(pid);
    set(fd, F_SETLK, F_UNLCK, 0, 0);
    wait_blocked(pid);
    flock(fd, LOCK_UN);
    reap("waiter", pid);

    /* a SIGKILLed holder's locks go with it */
    say("killed holder\n");
    pid = fork();
    if (pid == 0) {
        int own = open(F("f"), O_RDWR);
        set(own, F_SETLK, F_WRLCK, 0, 0);
        flock(own, LOCK_EX);
        signal_fd(to_parent[1]);
        pause();
        _exit(0);
    }
    await_fd(to_parent[0]);
    I(set(fd, F_SETLK, F_WRLCK, 0, 1));
    I(flock(fd2, LOCK_EX | LOCK_NB));
    I(kill(pid, SIGKILL));
    reap("holder", pid);
    I(set(fd, F_SETLKW, F_WRLCK, 0, 1));
    I(flock(fd2, LOCK_EX));
    I(flock(fd2, LOCK_UN));

    /* a signal whose handler has no SA_RESTART ends a blocked F_SETLKW
     * with EINTR; the lock is still this process's */
    say("interrupted\n");
    pid = fork();
    if (pid == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_alarm;
        sigaction(SIGALRM, &sa, NULL);
        struct itimerval t = {.it_value = {.tv_usec = 200000}};
        setitimer(ITIMER_REAL, &t, NULL);
        I(set(fd, F_SETLKW, F_WRLCK, 0, 1));
        _exit(0);
    }
    reap("waiter", pid);
    probe(fd, F_WRLCK, SEEK_SET, 0, 0, me);

    I(close(fd));
    I(close(fd2));
    return done();
}
