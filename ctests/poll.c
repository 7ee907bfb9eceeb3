/* poll.c: poll and ppoll over rump-only sets (FIFOs in the base), host-only
 * sets (pipes) and mixed ones: timeouts, readability, POLLOUT, POLLHUP,
 * POLLERR, POLLNVAL, negative fds, events 0, revents masking, a signal
 * mask that keeps a pending signal blocked, EINTR (poll never restarts),
 * and a thread whose write wakes a blocked poll. */
#include "mux.h"

/* the set being built: fds, events and a label each */
static struct pollfd pf[8];
static const char *lab[8];
static int np;

static void add(const char *label, int fd, int events)
{
    pf[np].fd = fd;
    pf[np].events = (short)events;
    pf[np].revents = 0;
    lab[np++] = label;
}

/* Prints a poll result and, unless it failed, each entry's revents; then
 * starts a new set. */
static int report(const char *what, int r, int e)
{
    if (r < 0)
        say("%s = -1 %s\n", what, ename(e));
    else
        say("%s = %d\n", what, r);
    for (int i = 0; r >= 0 && i < np; i++)
        say("  %s %s -> %s\n", lab[i], poll_names(pf[i].events), poll_names(pf[i].revents));
    np = 0;
    return r;
}

static int P(const char *what, int timeout)
{
    int r = poll(pf, (nfds_t)np, timeout);
    return report(what, r, errno);
}

static int PT(const char *what, const struct timespec *ts, const sigset_t *sigmask)
{
    int r = ppoll(pf, (nfds_t)np, ts, sigmask);
    return report(what, r, errno);
}

static int PP(const char *what, long ms, const sigset_t *sigmask)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    return PT(what, ms < 0 ? NULL : &ts, sigmask);
}

int main(int argc, char **argv)
{
    char buf[64];
    int ar, aw, br, bw, p[2], q[2];
    setup(argc, argv);

    say("-- empty sets time out\n");
    fifo("a", &ar, &aw);
    fifo("b", &br, &bw);
    hostpipe(p);
    hostpipe(q);
    add("a.r", ar, POLLIN);
    add("b.r", br, POLLIN);
    P("poll fifos, 0", 0);
    add("a.r", ar, POLLIN);
    add("b.r", br, POLLIN);
    P("poll fifos, 20 ms", 20);
    add("p.r", p[0], POLLIN);
    add("q.r", q[0], POLLIN);
    P("poll pipes, 0", 0);
    add("p.r", p[0], POLLIN);
    add("q.r", q[0], POLLIN);
    P("poll pipes, 20 ms", 20);
    add("p.r", p[0], POLLIN);
    add("a.r", ar, POLLIN);
    P("poll mixed, 0", 0);
    add("a.r", ar, POLLIN);
    add("p.r", p[0], POLLIN);
    P("poll mixed, 20 ms", 20);
    I(poll(NULL, 0, 0));
    I(poll(NULL, 0, 20));

    say("-- readable after a write\n");
    I(write(aw, "x", 1));
    add("a.r", ar, POLLIN);
    add("b.r", br, POLLIN);
    P("poll fifos", 0);
    add("p.r", p[0], POLLIN);
    add("a.r", ar, POLLIN);
    P("poll mixed", 1000);
    I(write(p[1], "yy", 2));
    add("p.r", p[0], POLLIN);
    add("q.r", q[0], POLLIN);
    P("poll pipes", 1000);
    add("a.r", ar, POLLIN);
    add("q.r", q[0], POLLIN);
    add("p.r", p[0], POLLIN);
    add("b.r", br, POLLIN);
    P("poll mixed", -1);
    /* the same fd twice counts twice */
    add("a.r", ar, POLLIN);
    add("a.r again", ar, POLLIN);
    add("p.r", p[0], POLLIN);
    add("p.r again", p[0], POLLIN);
    P("poll duplicates", 0);

    say("-- POLLOUT, and what each end reports\n");
    add("a.r", ar, POLLIN | POLLOUT);
    add("a.w", aw, POLLIN | POLLOUT);
    add("p.r", p[0], POLLIN | POLLOUT);
    add("p.w", p[1], POLLIN | POLLOUT);
    P("poll both ways", 0);
    add("a.r", ar, POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM | POLLPRI);
    add("a.w", aw, POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM | POLLPRI);
    add("p.r", p[0], POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM | POLLPRI);
    add("p.w", p[1], POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM | POLLPRI);
    P("poll everything", 0);
    say("-- revents only has what was asked for\n");
    add("a.r", ar, POLLOUT);
    add("p.r", p[0], POLLOUT);
    add("a.w", aw, POLLIN);
    add("p.w", p[1], POLLIN);
    P("poll the wrong way", 0);
    add("a.r", ar, POLLRDNORM);
    add("p.r", p[0], POLLRDNORM);
    add("a.w", aw, POLLWRNORM);
    add("p.w", p[1], POLLWRNORM);
    P("poll RDNORM/WRNORM only", 0);
    show("read a", buf, I(read(ar, buf, sizeof buf)));
    show("read p", buf, I(read(p[0], buf, sizeof buf)));
    add("a.r", ar, POLLIN);
    add("p.r", p[0], POLLIN);
    P("poll drained", 0);

    say("-- a FIFO opened O_RDWR\n");
    int rw = FD(open(F("a"), O_RDWR));
    add("a.rw", rw, POLLIN | POLLOUT);
    P("poll rw", 0);
    I(write(rw, "z", 1));
    add("a.rw", rw, POLLIN | POLLOUT);
    add("a.r", ar, POLLIN | POLLOUT);
    P("poll rw and r", 0);
    show("read a.r", buf, I(read(ar, buf, sizeof buf)));
    I(close(rw));

    say("-- POLLHUP when the writer is gone\n");
    int cr, cw, h[2];
    fifo("c", &cr, &cw);
    hostpipe(h);
    I(write(cw, "c", 1));
    I(write(h[1], "h", 1));
    I(close(cw));
    I(close(h[1]));
    add("c.r", cr, POLLIN);
    add("h.r", h[0], POLLIN);
    P("poll data then hangup", 0);
    I(read(cr, buf, sizeof buf));
    I(read(h[0], buf, sizeof buf));
    I(read(cr, buf, sizeof buf));
    I(read(h[0], buf, sizeof buf));
    add("c.r", cr, POLLIN);
    add("h.r", h[0], POLLIN);
    P("poll hangup", 0);
    add("c.r", cr, 0);
    add("h.r", h[0], 0);
    add("a.r", ar, 0);
    P("poll events 0", -1);
    add("c.r", cr, POLLOUT);
    add("h.r", h[0], POLLOUT);
    P("poll POLLOUT on a hung-up read end", 0);
    /* a FIFO reader that never had a writer sees no hangup; it does once
     * a writer came and went */
    int dr, dw;
    if (mkfifo(F("d"), 0644) != 0)
        die("mkfifo d");
    dr = FD(open(F("d"), O_RDONLY | O_NONBLOCK));
    add("d.r", dr, POLLIN);
    P("poll a FIFO never written", 0);
    I(read(dr, buf, sizeof buf));
    dw = FD(open(F("d"), O_WRONLY));
    add("d.r", dr, POLLIN);
    P("poll with a writer", 0);
    I(close(dw));
    add("d.r", dr, POLLIN);
    P("poll after the writer left", 0);
    /* a writer again clears the hangup */
    dw = FD(open(F("d"), O_WRONLY));
    add("d.r", dr, POLLIN);
    P("poll with a new writer", 0);
    I(close(dw));
    I(close(dr));

    say("-- POLLERR when the reader is gone\n");
    int er, ew, g[2];
    fifo("e", &er, &ew);
    hostpipe(g);
    I(close(er));
    I(close(g[0]));
    add("e.w", ew, POLLOUT);
    add("g.w", g[1], POLLOUT);
    P("poll write ends", 0);
    add("e.w", ew, 0);
    add("g.w", g[1], 0);
    P("poll write ends, events 0", 0);
    add("e.w", ew, POLLIN);
    add("g.w", g[1], POLLIN);
    add("a.r", ar, POLLIN);
    P("poll write ends for POLLIN", 1000);
    I(close(ew));
    I(close(g[1]));

    say("-- POLLNVAL and negative fds\n");
    I(close(br));
    I(close(q[0]));
    add("b.r closed", br, POLLIN);
    add("q.r closed", q[0], POLLIN);
    add("BADFD", BADFD, POLLIN);
    add("a.w", aw, POLLOUT);
    P("poll closed fds", 0);
    add("b.r closed", br, 0);
    P("poll a closed fd, events 0", 0);
    add("-1", -1, POLLIN);
    add("a.w", aw, POLLOUT);
    add("-5", -5, POLLIN | POLLOUT);
    add("p.w", p[1], POLLOUT);
    pf[0].revents = pf[2].revents = POLLIN;
    P("poll negative fds", 0);
    add("-1", -1, POLLIN);
    P("poll only a negative fd, 20 ms", 20);
    I(close(bw));
    I(close(q[1]));

    say("-- ppoll\n");
    add("a.r", ar, POLLIN);
    add("p.r", p[0], POLLIN);
    PP("ppoll 0", 0, NULL);
    add("a.r", ar, POLLIN);
    add("p.r", p[0], POLLIN);
    PP("ppoll 20 ms", 20, NULL);
    I(write(aw, "1", 1));
    add("a.r", ar, POLLIN);
    add("p.r", p[0], POLLIN);
    PP("ppoll 5 s", 5000, NULL);
    I(read(ar, buf, sizeof buf));
    {
        struct timespec neg = {-1, 0};
        add("a.r", ar, POLLIN);
        PT("ppoll negative timeout", &neg, NULL);
        struct timespec big = {0, 1000000000L};
        add("a.r", ar, POLLIN);
        PT("ppoll tv_nsec 1e9", &big, NULL);
    }

    say("-- ppoll and a pending signal\n");
    sigset_t blocked, none;
    sigemptyset(&none);
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGUSR1);
    on(SIGUSR1, 0);
    mask(SIG_BLOCK, SIGUSR1);
    I(raise(SIGUSR1));
    B(is_pending(SIGUSR1));
    add("a.r", ar, POLLIN);
    add("p.r", p[0], POLLIN);
    PP("ppoll masking SIGUSR1, 20 ms", 20, &blocked);
    B(is_pending(SIGUSR1));
    I(hits[SIGUSR1]);
    add("a.r", ar, POLLIN);
    add("p.r", p[0], POLLIN);
    PP("ppoll unmasking SIGUSR1", 5000, &none);
    B(is_pending(SIGUSR1));
    I(hits[SIGUSR1]);
    I(raise(SIGUSR1));
    add("a.r", ar, POLLIN);
    PP("ppoll rump-only unmasking SIGUSR1", -1, &none);
    I(hits[SIGUSR1]);
    I(raise(SIGUSR1));
    add("p.r", p[0], POLLIN);
    PP("ppoll host-only unmasking SIGUSR1", -1, &none);
    I(hits[SIGUSR1]);
    /* a ready fd wins: the call succeeds and the mask it set is undone
     * before the signal could be delivered, so it stays pending */
    I(raise(SIGUSR1));
    I(write(aw, "2", 1));
    add("a.r", ar, POLLIN);
    add("p.r", p[0], POLLIN);
    PP("ppoll ready, unmasking SIGUSR1", 5000, &none);
    B(is_pending(SIGUSR1));
    I(hits[SIGUSR1]);
    I(read(ar, buf, sizeof buf));
    mask(SIG_UNBLOCK, SIGUSR1);
    I(hits[SIGUSR1]);

    say("-- a signal interrupts poll, with or without SA_RESTART\n");
    on(SIGALRM, 0);
    ticker(20);
    add("a.r", ar, POLLIN);
    add("p.r", p[0], POLLIN);
    P("poll mixed, SIGALRM without SA_RESTART", 5000);
    ticker(0);
    B(hits[SIGALRM] > 0);
    hits[SIGALRM] = 0;
    on(SIGALRM, SA_RESTART);
    ticker(20);
    add("a.r", ar, POLLIN);
    add("p.r", p[0], POLLIN);
    P("poll mixed, SIGALRM with SA_RESTART", 5000);
    ticker(20);
    add("a.r", ar, POLLIN);
    P("poll rump-only, SIGALRM with SA_RESTART", -1);
    ticker(20);
    add("p.r", p[0], POLLIN);
    P("poll host-only, SIGALRM with SA_RESTART", -1);
    ticker(20);
    add("a.r", ar, POLLIN);
    add("p.r", p[0], POLLIN);
    P("poll mixed, no timeout, SIGALRM with SA_RESTART", -1);
    ticker(0);
    B(hits[SIGALRM] > 0);
    sleep_ms(30);

    say("-- a thread's write wakes a blocked poll\n");
    struct later l;
    pthread_t t = later_write(&l, aw, 20, "wake");
    add("p.r", p[0], POLLIN);
    add("a.r", ar, POLLIN);
    P("poll {pipe, FIFO}, the FIFO written", 5000);
    join_later(t, &l);
    show("read a", buf, I(read(ar, buf, sizeof buf)));
    t = later_write(&l, p[1], 20, "wake");
    add("p.r", p[0], POLLIN);
    add("a.r", ar, POLLIN);
    P("poll {pipe, FIFO}, the pipe written", 5000);
    join_later(t, &l);
    show("read p", buf, I(read(p[0], buf, sizeof buf)));
    t = later_write(&l, aw, 20, "rump");
    add("a.r", ar, POLLIN);
    P("poll {FIFO}", 5000);
    join_later(t, &l);
    show("read a", buf, I(read(ar, buf, sizeof buf)));
    t = later_write(&l, aw, 20, "ppoll");
    add("p.r", p[0], POLLIN);
    add("a.r", ar, POLLIN);
    PP("ppoll {pipe, FIFO}", 5000, &none);
    join_later(t, &l);
    show("read a", buf, I(read(ar, buf, sizeof buf)));
    /* an empty write wakes nobody */
    t = later_write(&l, aw, 20, "");
    add("a.r", ar, POLLIN);
    P("poll across an empty write", 50);
    join_later(t, &l);
    /* the last writer's close wakes it with a hangup */
    int kr, kw;
    fifo("k", &kr, &kw);
    t = later_write(&l, kw, 20, NULL);
    add("p.r", p[0], POLLIN);
    add("k.r", kr, POLLIN);
    P("poll {pipe, FIFO}, the FIFO's writer closed", 5000);
    join_later(t, &l);
    I(close(kr));
    t = later_write(&l, p[1], 20, NULL);
    add("p.r", p[0], POLLIN);
    add("a.r", ar, POLLIN);
    P("poll {pipe, FIFO}, the pipe's writer closed", 5000);
    join_later(t, &l);

    I(close(ar));
    I(close(aw));
    I(close(p[0]));
    I(close(cr));
    I(close(h[0]));
    return done();
}
