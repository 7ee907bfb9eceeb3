/* signal.c: signals and blocking I/O on rump FIFOs (in the base) beside
 * host pipes: a timer interrupting a blocked read or write (EINTR without
 * SA_RESTART, restarted with it; a partial write returns its count),
 * SIGPIPE for a write with no reader (handled, ignored, blocked, and the
 * default action in a child), and the non-blocking side: O_NONBLOCK reads
 * and writes, open O_NONBLOCK, FIONREAD, FIONBIO, F_SETFL/F_GETFL. */
#include "mux.h"
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <sys/wait.h>

/* SIGALRM once, `ms` from now */
static void oneshot(long ms)
{
    struct itimerval it;
    memset(&it, 0, sizeof it);
    it.it_value.tv_sec = ms / 1000;
    it.it_value.tv_usec = (ms % 1000) * 1000;
    if (setitimer(ITIMER_REAL, &it, NULL) != 0)
        die("setitimer");
}

/* F_GETFL as names: the access mode, O_NONBLOCK and O_APPEND */
static const char *fl_names(int fl)
{
    static char b[64];
    if (fl < 0)
        return ename(errno);
    int acc = fl & O_ACCMODE;
    snprintf(b, sizeof b, "%s%s%s", acc == O_RDONLY ? "O_RDONLY" : acc == O_WRONLY ? "O_WRONLY" : "O_RDWR",
             fl & O_NONBLOCK ? "|O_NONBLOCK" : "", fl & O_APPEND ? "|O_APPEND" : "");
    return b;
}

#define FL(fd) say("F_GETFL(%s) = %s\n", #fd, fl_names(fcntl(fd, F_GETFL)))

/* A thread that, once SIGALRM was handled, waits `ms` more and then
 * writes `s` to `fd` (or, if `s` is NULL, reads up to `n` bytes from it). */
struct after_signal {
    int fd;
    long ms;
    const char *s;
    size_t n;
    long long result;
    int err;
};

static void *after_signal_main(void *arg)
{
    struct after_signal *a = arg;
    static char buf[65536];
    for (int i = 0; i < 5000 && hits[SIGALRM] == 0; i++)
        sleep_ms(1);
    sleep_ms(a->ms);
    if (a->s)
        a->result = write(a->fd, a->s, strlen(a->s));
    else
        a->result = read(a->fd, buf, a->n < sizeof buf ? a->n : sizeof buf);
    a->err = errno;
    return NULL;
}

static void join_after(pthread_t t, struct after_signal *a)
{
    join(t);
    if (a->result < 0)
        say("  (the thread's %s: %s)\n", a->s ? "write" : "read", ename(a->err));
    else
        say("  (the thread's %s: %s)\n", a->s ? "write" : "read", a->result > 0 ? "> 0" : "0");
}

/* Fills a non-blocking write end; the bytes it took. */
static long long fill(int fd)
{
    static char chunk[4096];
    long long n = 0;
    ssize_t r;
    memset(chunk, 'f', sizeof chunk);
    while ((r = write(fd, chunk, sizeof chunk)) > 0)
        n += r;
    while ((r = write(fd, chunk, 1)) > 0)
        n += r;
    return n;
}

static void status(const char *what, int st)
{
    if (WIFEXITED(st))
        say("%s: exited %d\n", what, WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        say("%s: signal %s\n", what, sigabbrev_np(WTERMSIG(st)));
    else
        say("%s: status %#x\n", what, st);
}

/* In a child with SIGPIPE at its default action, writes to `fd`. */
static void child_write(const char *what, int fd)
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        disposition(SIGPIPE, SIG_DFL);
        ssize_t r = write(fd, "x", 1);
        _exit(r < 0 ? 100 + (errno == EPIPE) : 0);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            die("waitpid");
    status(what, st);
}

int main(int argc, char **argv)
{
    static char big[256 * 1024];
    char buf[64];
    int ar, aw, br, bw, p[2];
    setup(argc, argv);
    fifo("a", &ar, &aw);
    set_nonblock(ar, 0);
    hostpipe(p);

    say("-- a timer interrupts a blocked read: EINTR without SA_RESTART\n");
    on(SIGALRM, 0);
    I(alarm(1));
    I(read(ar, buf, sizeof buf));
    I(hits[SIGALRM]);
    I(alarm(0));
    ticker(20);
    I(read(ar, buf, sizeof buf));
    I(read(p[0], buf, sizeof buf));
    struct iovec iov = {buf, sizeof buf};
    I(readv(ar, &iov, 1));
    ticker(0);
    B(hits[SIGALRM] > 1);
    sleep_ms(30);

    say("-- with SA_RESTART the read goes on until a thread writes\n");
    on(SIGALRM, SA_RESTART);
    struct after_signal as = {aw, 30, "late", 0, 0, 0};
    hits[SIGALRM] = 0;
    pthread_t t = spawn(after_signal_main, &as);
    oneshot(20);
    show("read a", buf, I(read(ar, buf, sizeof buf)));
    I(hits[SIGALRM]);
    join_after(t, &as);
    as = (struct after_signal){p[1], 30, "pipe", 0, 0, 0};
    hits[SIGALRM] = 0;
    t = spawn(after_signal_main, &as);
    oneshot(20);
    show("read p", buf, I(read(p[0], buf, sizeof buf)));
    I(hits[SIGALRM]);
    join_after(t, &as);

    say("-- a timer interrupts a blocked write to a full FIFO\n");
    fifo("b", &br, &bw);
    set_nonblock(bw, 1);
    long long filled = fill(bw);
    B(filled >= 4096);
    set_nonblock(bw, 0);
    on(SIGALRM, 0);
    ticker(20);
    I(write(bw, "0123456789", 10));
    ticker(0);
    B(drain(br) == filled);
    /* into an empty FIFO, more than fits: what fitted */
    memset(big, 'B', sizeof big);
    ticker(20);
    long long r = write(bw, big, sizeof big);
    ticker(0);
    B(r > 0 && r < (long long)sizeof big);
    B(r == filled);
    B(drain(br) == r);
    say("-- with SA_RESTART the write goes on until a thread reads\n");
    on(SIGALRM, SA_RESTART);
    set_nonblock(bw, 1);
    B(fill(bw) == filled);
    set_nonblock(bw, 0);
    as = (struct after_signal){br, 30, NULL, 8192, 0, 0};
    hits[SIGALRM] = 0;
    t = spawn(after_signal_main, &as);
    oneshot(20);
    I(write(bw, "0123456789", 10));
    I(hits[SIGALRM]);
    join_after(t, &as);
    B(drain(br) == filled - 8192 + 10);
    set_nonblock(bw, 1);

    say("-- the same on a pipe\n");
    set_nonblock(p[1], 1);
    set_nonblock(p[0], 1);
    long long pfilled = fill(p[1]);
    B(pfilled > 0);
    set_nonblock(p[1], 0);
    on(SIGALRM, 0);
    ticker(20);
    I(write(p[1], "0123456789", 10));
    ticker(0);
    B(drain(p[0]) == pfilled);
    ticker(20);
    r = write(p[1], big, sizeof big);
    ticker(0);
    B(r == pfilled);
    B(drain(p[0]) == r);
    I(close(p[1]));
    I(close(p[0]));
    sleep_ms(30);

    say("-- SIGPIPE: handled\n");
    int cr, cw, g[2];
    fifo("c", &cr, &cw);
    hostpipe(g);
    I(close(cr));
    I(close(g[0]));
    on(SIGPIPE, 0);
    I(write(cw, "x", 1));
    I(hits[SIGPIPE]);
    I(write(g[1], "x", 1));
    I(hits[SIGPIPE]);
    I(writev(cw, &iov, 1));
    I(hits[SIGPIPE]);
    set_nonblock(cw, 1);
    I(write(cw, "x", 1));
    I(hits[SIGPIPE]);
    say("-- SIGPIPE: ignored\n");
    disposition(SIGPIPE, SIG_IGN);
    I(write(cw, "x", 1));
    I(write(g[1], "x", 1));
    I(hits[SIGPIPE]);
    say("-- SIGPIPE: blocked, then taken with sigtimedwait\n");
    on(SIGPIPE, 0);
    mask(SIG_BLOCK, SIGPIPE);
    I(write(cw, "x", 1));
    B(is_pending(SIGPIPE));
    {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGPIPE);
        struct timespec zero = {0, 0};
        I(sigtimedwait(&s, NULL, &zero));
        B(is_pending(SIGPIPE));
        I(write(g[1], "x", 1));
        I(sigtimedwait(&s, NULL, &zero));
        I(sigtimedwait(&s, NULL, &zero));
    }
    mask(SIG_UNBLOCK, SIGPIPE);
    I(hits[SIGPIPE]);
    say("-- SIGPIPE: the default action, in a child\n");
    child_write("child writing to the FIFO", cw);
    child_write("child writing to the pipe", g[1]);
    I(close(cw));
    I(close(g[1]));

    say("-- O_NONBLOCK\n");
    int dr, dw;
    fifo("d", &dr, &dw);
    I(read(dr, buf, sizeof buf));
    FL(dr);
    FL(dw);
    I(close(dw));
    I(read(dr, buf, sizeof buf));
    int w2 = FD(open(F("d"), O_WRONLY | O_NONBLOCK));
    I(close(w2));
    I(close(dr));
    I(open(F("d"), O_WRONLY | O_NONBLOCK));
    dr = FD(open(F("d"), O_RDONLY | O_NONBLOCK));
    I(read(dr, buf, sizeof buf));
    dw = FD(open(F("d"), O_WRONLY | O_NONBLOCK));
    I(read(dr, buf, sizeof buf));
    B(fill(dw) == filled);
    I(write(dw, "x", 1));
    B(drain(dr) == filled);
    I(read(dr, buf, sizeof buf));

    say("-- FIONREAD\n");
    int n = -1;
    I(ioctl(dr, FIONREAD, &n));
    I(n);
    I(write(dw, "hello", 5));
    I(ioctl(dr, FIONREAD, &n));
    I(n);
    I(write(dw, "world!", 6));
    I(ioctl(dr, FIONREAD, &n));
    I(n);
    I(read(dr, buf, 3));
    I(ioctl(dr, FIONREAD, &n));
    I(n);
    I(ioctl(dw, FIONREAD, &n));
    I(n);
    I(drain(dr));
    int h[2];
    hostpipe(h);
    I(write(h[1], "abc", 3));
    I(ioctl(h[0], FIONREAD, &n));
    I(n);
    I(read(h[0], buf, sizeof buf));
    put("reg", "0123456789");
    int reg = FD(open(F("reg"), O_RDONLY));
    I(ioctl(reg, FIONREAD, &n));
    I(n);
    I(lseek(reg, 4, SEEK_SET));
    I(ioctl(reg, FIONREAD, &n));
    I(n);
    I(close(reg));

    say("-- FIONBIO\n");
    int one = 1, zero = 0;
    set_nonblock(dr, 0);
    FL(dr);
    I(ioctl(dr, FIONBIO, &one));
    FL(dr);
    I(read(dr, buf, sizeof buf));
    I(ioctl(dr, FIONBIO, &zero));
    FL(dr);
    I(ioctl(h[0], FIONBIO, &one));
    FL(h[0]);
    I(read(h[0], buf, sizeof buf));
    I(ioctl(h[0], FIONBIO, &zero));
    FL(h[0]);

    say("-- F_SETFL\n");
    FL(dw);
    I(fcntl(dw, F_SETFL, 0));
    FL(dw);
    I(fcntl(dr, F_SETFL, O_NONBLOCK));
    FL(dr);
    I(read(dr, buf, sizeof buf));
    I(fcntl(dr, F_SETFL, O_RDWR | O_APPEND));
    FL(dr);
    I(fcntl(dr, F_SETFL, 0));
    FL(dr);
    int rw = FD(open(F("d"), O_RDWR | O_NONBLOCK));
    FL(rw);
    I(read(rw, buf, sizeof buf));
    I(fcntl(rw, F_SETFL, 0));
    FL(rw);
    I(fcntl(h[1], F_SETFL, O_NONBLOCK));
    FL(h[1]);
    /* a dup shares the flags, a new open does not */
    int d2 = FD(dup(dr));
    I(fcntl(d2, F_SETFL, O_NONBLOCK));
    FL(dr);
    int d3 = FD(open(F("d"), O_RDONLY | O_NONBLOCK));
    FL(d3);
    I(fcntl(d3, F_SETFL, 0));
    FL(dr);
    I(close(d3));
    I(close(d2));
    I(close(rw));
    I(close(dr));
    I(close(dw));
    I(close(h[0]));
    I(close(h[1]));

    I(close(ar));
    I(close(aw));
    I(close(br));
    I(close(bw));
    return done();
}
