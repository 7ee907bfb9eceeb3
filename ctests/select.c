/* select.c: select and pselect over rump-only sets (FIFOs in the base),
 * host-only sets (pipes) and mixed ones: read, write and except sets, the
 * result and which bits are left set, sets cleared on a timeout, the
 * timeout left, EBADF for a closed fd, nfds, a signal mask, EINTR, and a
 * thread whose write wakes a blocked select. */
#include "mux.h"
#include <sys/select.h>

/* the sets being built, with a label per fd */
static fd_set rs, ws, xs;
static struct {
    const char *label;
    int fd, sets;
} ent[8];
static int ne, maxfd = -1;

enum { R = 1, W = 2, X = 4 };

static const char *which(int sets)
{
    static char ring[4][8];
    static int next;
    char *b = ring[next++ % 4];
    snprintf(b, 8, "%s%s%s", sets & R ? "r" : "", sets & W ? "w" : "", sets & X ? "x" : "");
    if (!b[0])
        snprintf(b, 8, "-");
    return b;
}

static void add(const char *label, int fd, int sets)
{
    if (ne == 0) {
        FD_ZERO(&rs);
        FD_ZERO(&ws);
        FD_ZERO(&xs);
        maxfd = -1;
    }
    if (fd >= 0 && fd < FD_SETSIZE) {
        if (sets & R)
            FD_SET(fd, &rs);
        if (sets & W)
            FD_SET(fd, &ws);
        if (sets & X)
            FD_SET(fd, &xs);
    }
    ent[ne].label = label;
    ent[ne].fd = fd;
    ent[ne++].sets = sets;
    if (fd > maxfd)
        maxfd = fd;
}

/* which of the sets still hold fd */
static int left(int fd)
{
    return (FD_ISSET(fd, &rs) ? R : 0) | (FD_ISSET(fd, &ws) ? W : 0) | (FD_ISSET(fd, &xs) ? X : 0);
}

/* Prints a result and the bits left for each fd below nfds (an fd at or
 * above it is not looked at, and what is left of its bit depends on its
 * number); then starts a new set. */
static int report(const char *what, int r, int e, int nfds)
{
    if (r < 0)
        say("%s = -1 %s\n", what, ename(e));
    else
        say("%s = %d\n", what, r);
    for (int i = 0; i < ne; i++) {
        if (ent[i].fd >= nfds)
            say("  %s %s: not below nfds\n", ent[i].label, which(ent[i].sets));
        else
            say("  %s %s -> %s\n", ent[i].label, which(ent[i].sets), which(left(ent[i].fd)));
    }
    ne = 0;
    return r;
}

/* select over the sets built, NULL for a set nothing is in; a timeout in
 * microseconds (< 0: none). */
static int SELn(const char *what, int nfds, long us)
{
    int any = 0;
    for (int i = 0; i < ne; i++)
        any |= ent[i].sets;
    struct timeval tv = {us / 1000000, us % 1000000};
    int r = select(nfds, any & R ? &rs : NULL, any & W ? &ws : NULL, any & X ? &xs : NULL, us < 0 ? NULL : &tv);
    return report(what, r, errno, nfds);
}

static int SEL(const char *what, long us) { return SELn(what, maxfd + 1, us); }

/* select on the read set alone, with the caller's timeval (left as the
 * call leaves it) */
static int SELtv(const char *what, struct timeval *tv)
{
    int r = select(maxfd + 1, &rs, NULL, NULL, tv);
    return report(what, r, errno, maxfd + 1);
}

/* pselect on the read set alone, with the caller's timespec */
static int PSts(const char *what, const struct timespec *ts)
{
    int r = pselect(maxfd + 1, &rs, NULL, NULL, ts, NULL);
    return report(what, r, errno, maxfd + 1);
}

static int PS(const char *what, long us, const sigset_t *sigmask)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    int r = pselect(maxfd + 1, &rs, &ws, &xs, us < 0 ? NULL : &ts, sigmask);
    return report(what, r, errno, maxfd + 1);
}

int main(int argc, char **argv)
{
    char buf[64];
    int ar, aw, br, bw, p[2], q[2];
    setup(argc, argv);
    fifo("a", &ar, &aw);
    fifo("b", &br, &bw);
    hostpipe(p);
    hostpipe(q);

    say("-- empty sets time out, and are cleared\n");
    add("a.r", ar, R | X);
    add("b.r", br, R | X);
    SEL("select fifos, 0", 0);
    add("a.r", ar, R | X);
    add("b.r", br, R | X);
    SEL("select fifos, 20 ms", 20000);
    add("p.r", p[0], R | X);
    add("q.r", q[0], R | X);
    SEL("select pipes, 0", 0);
    add("p.r", p[0], R | X);
    add("q.r", q[0], R | X);
    SEL("select pipes, 20 ms", 20000);
    add("a.r", ar, R | X);
    add("p.r", p[0], R | X);
    SEL("select mixed, 0", 0);
    add("a.r", ar, R);
    add("p.r", p[0], R);
    SEL("select mixed, 20 ms", 20000);
    I(select(0, NULL, NULL, NULL, &(struct timeval){0, 0}));
    I(select(0, NULL, NULL, NULL, &(struct timeval){0, 20000}));
    {
        struct timeval tv = {0, 20000};
        add("a.r", ar, R);
        add("p.r", p[0], R);
        SELtv("select mixed, 20 ms", &tv);
        B(tv.tv_sec == 0 && tv.tv_usec == 0);
        tv = (struct timeval){0, 0};
        add("a.r", ar, R);
        add("p.r", p[0], R);
        SELtv("select mixed, 0", &tv);
        B(tv.tv_sec == 0 && tv.tv_usec == 0);
    }

    say("-- readable after a write\n");
    I(write(aw, "x", 1));
    add("a.r", ar, R | X);
    add("b.r", br, R | X);
    SEL("select fifos", 0);
    add("p.r", p[0], R | X);
    add("a.r", ar, R | X);
    SEL("select mixed", 1000000);
    I(write(p[1], "yy", 2));
    add("p.r", p[0], R);
    add("q.r", q[0], R);
    SEL("select pipes", 1000000);
    add("a.r", ar, R);
    add("q.r", q[0], R);
    add("p.r", p[0], R);
    add("b.r", br, R);
    SEL("select mixed", -1);
    {
        struct timeval tv = {5, 0};
        add("a.r", ar, R);
        add("p.r", p[0], R);
        SELtv("select mixed, 5 s", &tv);
        long long us = tv.tv_sec * 1000000LL + tv.tv_usec;
        B(us > 4000000 && us <= 5000000);
    }

    say("-- writable, and the same fd in several sets\n");
    add("a.r", ar, R | W | X);
    add("a.w", aw, R | W | X);
    add("p.r", p[0], R | W | X);
    add("p.w", p[1], R | W | X);
    SEL("select every set", 0);
    add("a.w", aw, W);
    add("p.w", p[1], W);
    SEL("select write ends", -1);
    add("a.r", ar, W);
    add("p.r", p[0], W);
    add("a.w", aw, R);
    add("p.w", p[1], R);
    SEL("select the wrong way", 0);
    int rw = FD(open(F("a"), O_RDWR));
    add("a.rw", rw, R | W);
    SEL("select O_RDWR FIFO", 0);
    I(close(rw));
    show("read a", buf, I(read(ar, buf, sizeof buf)));
    show("read p", buf, I(read(p[0], buf, sizeof buf)));
    add("a.r", ar, R);
    add("p.r", p[0], R);
    add("a.w", aw, W);
    SEL("select drained", 0);

    say("-- the writer gone: readable (EOF); the reader gone: writable (EPIPE)\n");
    int cr, cw, h[2], er, ew, g[2];
    fifo("c", &cr, &cw);
    hostpipe(h);
    fifo("e", &er, &ew);
    hostpipe(g);
    I(close(cw));
    I(close(h[1]));
    I(close(er));
    I(close(g[0]));
    add("c.r", cr, R | W | X);
    add("h.r", h[0], R | W | X);
    add("e.w", ew, R | W | X);
    add("g.w", g[1], R | W | X);
    SEL("select hung-up ends", -1);
    add("c.r", cr, W);
    add("h.r", h[0], W);
    SEL("select hung-up read ends for writing", 0);
    I(close(ew));
    I(close(g[1]));

    say("-- EBADF leaves the sets alone\n");
    I(close(br));
    I(close(q[0]));
    I(write(aw, "z", 1));
    add("a.r", ar, R);
    add("b.r closed", br, R);
    SEL("select a closed FIFO fd", 0);
    add("a.r", ar, R);
    add("q.r closed", q[0], R);
    SEL("select a closed pipe fd", -1);
    add("a.r", ar, R);
    add("p.w", p[1], W);
    add("b.r closed", br, X);
    SEL("select a closed fd in the except set", 0);
    I(close(bw));
    I(close(q[1]));

    say("-- nfds\n");
    add("a.r", ar, R);
    SELn("select nfds = the fd", ar, 0);
    add("a.r", ar, R);
    SELn("select nfds = the fd + 1", ar + 1, 0);
    I(write(p[1], "p", 1));
    add("p.r", p[0], R);
    SELn("select nfds = the fd", p[0], 0);
    add("p.r", p[0], R);
    SELn("select nfds = the fd + 1", p[0] + 1, 0);
    add("a.r", ar, R);
    SELn("select nfds -1", -1, 0);
    {
        /* room for 2 * FD_SETSIZE bits, all asked for */
        fd_set big[2];
        memset(big, 0, sizeof big);
        FD_SET(ar, &big[0]);
        FD_SET(p[0], &big[0]);
        I(select(2 * FD_SETSIZE, &big[0], NULL, NULL, &(struct timeval){0, 0}));
        B(FD_ISSET(ar, &big[0]));
        B(FD_ISSET(p[0], &big[0]));
    }
    {
        /* glibc's select takes tv_usec >= 1000000 as whole seconds */
        struct timeval odd = {0, 1000000};
        add("a.r", ar, R);
        SELtv("select tv_usec 1000000, the FIFO ready", &odd);
    }
    I(read(ar, buf, sizeof buf));
    I(read(p[0], buf, sizeof buf));
    {
        struct timeval bad = {-1, 0};
        add("a.r", ar, R);
        SELtv("select negative timeout", &bad);
    }

    say("-- pselect\n");
    add("a.r", ar, R);
    add("p.r", p[0], R);
    PS("pselect 0", 0, NULL);
    add("a.r", ar, R);
    add("p.r", p[0], R);
    PS("pselect 20 ms", 20000, NULL);
    I(write(aw, "1", 1));
    add("a.r", ar, R);
    add("p.r", p[0], R);
    add("p.w", p[1], W);
    PS("pselect no timeout", -1, NULL);
    I(read(ar, buf, sizeof buf));
    {
        struct timespec ts = {0, 20000000};
        add("a.r", ar, R);
        PSts("pselect, 20 ms", &ts);
        B(ts.tv_sec == 0 && ts.tv_nsec == 20000000);
    }

    say("-- pselect and a pending signal\n");
    sigset_t blocked, none;
    sigemptyset(&none);
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGUSR1);
    on(SIGUSR1, 0);
    mask(SIG_BLOCK, SIGUSR1);
    I(raise(SIGUSR1));
    add("a.r", ar, R);
    add("p.r", p[0], R);
    PS("pselect masking SIGUSR1, 20 ms", 20000, &blocked);
    B(is_pending(SIGUSR1));
    I(hits[SIGUSR1]);
    add("a.r", ar, R);
    add("p.r", p[0], R);
    PS("pselect unmasking SIGUSR1", 5000000, &none);
    B(is_pending(SIGUSR1));
    I(hits[SIGUSR1]);
    I(raise(SIGUSR1));
    add("a.r", ar, R);
    PS("pselect rump-only unmasking SIGUSR1", -1, &none);
    I(raise(SIGUSR1));
    add("p.r", p[0], R);
    PS("pselect host-only unmasking SIGUSR1", -1, &none);
    I(hits[SIGUSR1]);
    /* ready fds win over a signal the mask lets in: it stays pending */
    I(write(aw, "1", 1));
    I(raise(SIGUSR1));
    add("a.r", ar, R);
    PS("pselect rump-only ready, unmasking SIGUSR1", -1, &none);
    B(is_pending(SIGUSR1));
    I(hits[SIGUSR1]);
    I(read(ar, buf, sizeof buf));
    mask(SIG_UNBLOCK, SIGUSR1);

    say("-- a signal interrupts select, with or without SA_RESTART\n");
    on(SIGALRM, 0);
    ticker(20);
    add("a.r", ar, R);
    add("p.r", p[0], R);
    SEL("select mixed, SIGALRM without SA_RESTART", 5000000);
    ticker(0);
    B(hits[SIGALRM] > 0);
    on(SIGALRM, SA_RESTART);
    ticker(20);
    add("a.r", ar, R);
    add("p.r", p[0], R);
    SEL("select mixed, SIGALRM with SA_RESTART", -1);
    ticker(20);
    add("a.r", ar, R);
    SEL("select rump-only, SIGALRM with SA_RESTART", -1);
    ticker(0);
    sleep_ms(30);

    say("-- a thread's write wakes a blocked select\n");
    struct later l;
    pthread_t t = later_write(&l, aw, 20, "wake");
    add("p.r", p[0], R);
    add("a.r", ar, R);
    SEL("select {pipe, FIFO}, the FIFO written", 5000000);
    join_later(t, &l);
    show("read a", buf, I(read(ar, buf, sizeof buf)));
    t = later_write(&l, p[1], 20, "wake");
    add("p.r", p[0], R);
    add("a.r", ar, R);
    SEL("select {pipe, FIFO}, the pipe written", 5000000);
    join_later(t, &l);
    show("read p", buf, I(read(p[0], buf, sizeof buf)));
    t = later_write(&l, aw, 20, "rump");
    add("a.r", ar, R);
    SEL("select {FIFO}", 5000000);
    join_later(t, &l);
    show("read a", buf, I(read(ar, buf, sizeof buf)));
    t = later_write(&l, aw, 20, "pselect");
    add("p.r", p[0], R);
    add("a.r", ar, R);
    PS("pselect {pipe, FIFO}", 5000000, &none);
    join_later(t, &l);
    show("read a", buf, I(read(ar, buf, sizeof buf)));
    int kr, kw;
    fifo("k", &kr, &kw);
    t = later_write(&l, kw, 20, NULL);
    add("p.r", p[0], R);
    add("k.r", kr, R);
    SEL("select {pipe, FIFO}, the FIFO's writer closed", 5000000);
    join_later(t, &l);
    I(read(kr, buf, sizeof buf));
    I(close(kr));

    I(close(ar));
    I(close(aw));
    I(close(p[0]));
    I(close(p[1]));
    I(close(cr));
    I(close(h[0]));
    return done();
}
