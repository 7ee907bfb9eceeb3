/* lock.c: file locks, as tools take them: flock, fcntl record locks
 * (F_SETLK, F_SETLKW, F_GETLK and the OFD forms) and lockf, held by this
 * process and tested from a forked child and through a second open. */
#include "check.h"
#include <sys/file.h>
#include <sys/wait.h>

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

    I(close(fd));
    I(close(fd2));
    return done();
}
