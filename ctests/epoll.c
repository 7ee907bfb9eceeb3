/* epoll.c: epoll over rump FIFOs (in the base), host pipes and both:
 * epoll_create1, epoll_ctl and its errors, level-triggered, EPOLLET and
 * EPOLLONESHOT, data.u64 passed through, EPOLLHUP/EPOLLERR, maxevents,
 * a closed fd leaving the set, epoll_pwait with a signal mask, EINTR, an
 * epoll fd in poll and in another epoll, a thread whose write wakes a
 * blocked epoll_wait, a thread already waiting on an epoll fd with no
 * FIFO in it when another adds one, 10,000 round trips between a host pipe and a
 * rump FIFO through one epoll loop, and a level-triggered epoll over 200
 * FIFOs alone (no host fd in the set): a busy loop, events that stay
 * until read, maxevents below the ready count, MOD and DEL of ready fds.
 * Events are printed sorted by data. */
#include "mux.h"
#include <sys/epoll.h>

static const char *ev_names(uint32_t e)
{
    static char ring[4][256];
    static int next;
    static const struct {
        uint32_t bit;
        const char *name;
    } names[] = {
        {EPOLLIN, "EPOLLIN"},           {EPOLLPRI, "EPOLLPRI"},         {EPOLLOUT, "EPOLLOUT"},
        {EPOLLERR, "EPOLLERR"},         {EPOLLHUP, "EPOLLHUP"},         {EPOLLRDNORM, "EPOLLRDNORM"},
        {EPOLLRDBAND, "EPOLLRDBAND"},   {EPOLLWRNORM, "EPOLLWRNORM"},   {EPOLLWRBAND, "EPOLLWRBAND"},
        {EPOLLRDHUP, "EPOLLRDHUP"},     {EPOLLET, "EPOLLET"},           {EPOLLONESHOT, "EPOLLONESHOT"},
        {EPOLLEXCLUSIVE, "EPOLLEXCLUSIVE"},
    };
    char *b = ring[next++ % 4];
    size_t o = 0;
    b[0] = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (e & names[i].bit) {
            o += (size_t)snprintf(b + o, 256 - o, "%s%s", o ? "|" : "", names[i].name);
            e &= ~names[i].bit;
        }
    if (e)
        o += (size_t)snprintf(b + o, 256 - o, "%s%#x", o ? "|" : "", e);
    if (!o)
        snprintf(b, 256, "0");
    return b;
}

/* epoll_ctl with an event built from `events` and `data` */
static int ctl(int ep, int op, int fd, uint32_t events, uint64_t data)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(ep, op, fd, &ev);
}

static int by_data(const void *a, const void *b)
{
    uint64_t x = ((const struct epoll_event *)a)->data.u64, y = ((const struct epoll_event *)b)->data.u64;
    return x < y ? -1 : x > y;
}

static struct epoll_event evs[16];

/* Prints a result and the events, sorted by data. */
static int report(const char *what, int r, int e)
{
    if (r < 0) {
        say("%s = -1 %s\n", what, ename(e));
        return r;
    }
    say("%s = %d\n", what, r);
    qsort(evs, (size_t)r, sizeof evs[0], by_data);
    for (int i = 0; i < r; i++)
        say("  data %#llx: %s\n", (unsigned long long)evs[i].data.u64, ev_names(evs[i].events));
    return r;
}

static int W(const char *what, int ep, int timeout)
{
    int r = epoll_wait(ep, evs, 16, timeout);
    return report(what, r, errno);
}

static int PW(const char *what, int ep, int timeout, const sigset_t *sigmask)
{
    int r = epoll_pwait(ep, evs, 16, timeout, sigmask);
    return report(what, r, errno);
}

/* ---- the round trips ---- */

/* A thread that reads a 32-bit value from `in`, transforms it and writes
 * it to `out`, until `in` reaches its end. */
struct echo {
    int in, out;
    uint32_t mul, add;
    long n;
    int err;
};

static void *echo_main(void *arg)
{
    struct echo *e = arg;
    uint32_t v;
    int r;
    while ((r = read_full(e->in, &v, sizeof v)) == sizeof v) {
        v = v * e->mul + e->add;
        if (write(e->out, &v, sizeof v) != sizeof v) {
            e->err = errno;
            return NULL;
        }
        e->n++;
    }
    if (r != 0)
        e->err = r < 0 ? errno : EPROTO;
    return NULL;
}

/* A wait that starts on an epoll fd with no FIFO in it yet: main adds
 * one, ready, while this thread sleeps (on the hijacked runs the epoll fd
 * gets its companion in the kernel then, and the host's wait must end). */
struct early_wait {
    int ep;
    int n;
    int err;
    struct epoll_event ev;
};

static void *early_wait_main(void *arg)
{
    struct early_wait *w = arg;
    w->n = epoll_wait(w->ep, &w->ev, 1, 5000);
    w->err = errno;
    return NULL;
}

static void fifo_added_while_waiting(int fr, int fw)
{
    struct early_wait w = {FD(epoll_create1(EPOLL_CLOEXEC)), 0, 0, {0, {0}}};
    pthread_t t = spawn(early_wait_main, &w);
    sleep_ms(50);
    I(write(fw, "late", 4));
    I(ctl(w.ep, EPOLL_CTL_ADD, fr, EPOLLIN, 77));
    join(t);
    if (w.n < 0)
        say("  (the thread's epoll_wait: %s)\n", ename(w.err));
    else
        say("  (the thread's epoll_wait: %d, data %llu, %s)\n", w.n, (unsigned long long)w.ev.data.u64,
            ev_names(w.ev.events));
    drain(fr);
    I(close(w.ep));
}

#define ROUNDS 10000

#define MANY 200
#define MANY_ROUNDS 2000

static uint32_t many_rng = 2463534242u;

/* xorshift32: every run writes to the FIFOs in the same order */
static int many_next(void)
{
    many_rng ^= many_rng << 13;
    many_rng ^= many_rng >> 17;
    many_rng ^= many_rng << 5;
    return (int)(many_rng % MANY);
}

/* Waits on `ep` with room for `max` events; prints the count and the data
 * of each, sorted, or the error. */
static int many_wait(const char *what, int ep, int max, int timeout)
{
    struct epoll_event ev[64];
    int n = epoll_wait(ep, ev, max, timeout);
    if (n < 0) {
        say("%s = -1 %s\n", what, ename(errno));
        return n;
    }
    qsort(ev, (size_t)n, sizeof ev[0], by_data);
    char line[64 * 24];
    size_t o = 0;
    line[0] = 0;
    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(line + o, sizeof line - o, " %llu:%s", (unsigned long long)ev[i].data.u64,
                              ev_names(ev[i].events));
    say("%s = %d%s\n", what, n, line);
    return n;
}

/* Reads one byte from each fd an epoll_wait on `ep` (room for `max`)
 * returns until it returns none; counts the waits, the events and the
 * FIFOs seen twice. */
static void many_collect(const char *what, int ep, int max, const int *fds)
{
    struct epoll_event ev[64];
    char seen[MANY] = {0};
    int waits = 0, events = 0, twice = 0, n;
    while ((n = epoll_wait(ep, ev, max, 0)) > 0) {
        waits++;
        for (int i = 0; i < n; i++) {
            uint64_t j = ev[i].data.u64;
            char c;
            events++;
            twice += seen[j]++ != 0;
            if (read(fds[j], &c, 1) != 1)
                die("read FIFO");
        }
    }
    say("%s: %d waits of at most %d, %d events, %d twice, last wait = %d%s%s\n", what, waits, max, events, twice,
        n, n < 0 ? " " : "", n < 0 ? ename(errno) : "");
}

/* A level-triggered epoll over MANY FIFOs opened O_RDWR, no host fd. */
static void many_fifos(void)
{
    int fds[MANY];
    char name[32];
    int ep = FD(epoll_create1(EPOLL_CLOEXEC));
    for (int i = 0; i < MANY; i++) {
        snprintf(name, sizeof name, "many%d", i);
        if (mkfifo(F(name), 0644) != 0)
            die(name);
        fds[i] = open(F(name), O_RDWR | O_NONBLOCK);
        if (fds[i] < 0)
            die(name);
        if (ctl(ep, EPOLL_CTL_ADD, fds[i], EPOLLIN, (uint64_t)i) != 0)
            die("epoll_ctl ADD");
    }
    many_wait("epoll_wait nothing written", ep, 64, 0);

    /* The event loop: one byte, one event, that FIFO's. */
    long wrong = 0;
    for (int k = 0; k < MANY_ROUNDS; k++) {
        struct epoll_event ev[64];
        int i = many_next(), n;
        char c = 'm';
        if (write(fds[i], &c, 1) != 1)
            die("write FIFO");
        n = epoll_wait(ep, ev, 64, -1);
        wrong += n != 1 || ev[0].data.u64 != (uint64_t)i || ev[0].events != EPOLLIN;
        for (int j = 0; j < n; j++)
            if (read(fds[ev[j].data.u64], &c, 1) != 1 || c != 'm')
                die("read FIFO");
    }
    say("busy loop: %d rounds, %ld with other events than the one written\n", MANY_ROUNDS, wrong);

    /* Level-triggered: reported at every wait until read empty. */
    static const int some[] = {3, 77, 150, 199, 0, 77};
    for (size_t k = 0; k < sizeof some / sizeof some[0]; k++)
        I(write(fds[some[k]], "s", 1));
    many_wait("epoll_wait 5 written", ep, 64, -1);
    many_wait("epoll_wait again, nothing read", ep, 64, 0);
    char c;
    for (size_t k = 0; k < 5; k++)
        I(read(fds[some[k]], &c, 1));
    many_wait("epoll_wait one byte read from each", ep, 64, 0);
    I(read(fds[77], &c, 1));
    many_wait("epoll_wait all read", ep, 64, 0);

    /* More ready than maxevents: every one comes, a few at a time. */
    for (int i = 0; i < MANY; i += 10)
        I(write(fds[i], "x", 1));
    many_collect("20 written, collected", ep, 8, fds);
    many_wait("epoll_wait after", ep, 64, 0);

    /* MOD and DEL of ready fds. */
    I(write(fds[5], "x", 1));
    I(write(fds[6], "x", 1));
    I(write(fds[7], "x", 1));
    I(ctl(ep, EPOLL_CTL_MOD, fds[5], EPOLLOUT, 1005));
    I(ctl(ep, EPOLL_CTL_DEL, fds[6], 0, 0));
    many_wait("epoll_wait 5 as EPOLLOUT, 6 gone, 7 in", ep, 64, 0);
    I(ctl(ep, EPOLL_CTL_MOD, fds[5], EPOLLIN | EPOLLOUT, 5));
    many_wait("epoll_wait 5 as both", ep, 64, 0);
    I(ctl(ep, EPOLL_CTL_ADD, fds[6], EPOLLIN, 6));
    for (int i = 5; i <= 7; i++)
        I(read(fds[i], &c, 1));
    I(ctl(ep, EPOLL_CTL_MOD, fds[5], EPOLLIN, 5));
    many_wait("epoll_wait all read again", ep, 64, 0);

    for (int i = 0; i < MANY; i++)
        if (close(fds[i]) != 0)
            die("close FIFO");
    I(close(ep));
}

/* main -> host pipe u -> thread 1 -> rump FIFO y -> main -> rump FIFO v ->
 * thread 2 -> host pipe x -> main, with main waiting on {y, x} in one
 * epoll: one value in flight, so each round wakes the other side. */
static void ping_pong(void)
{
    int u[2], x[2], yr, yw, vr, vw;
    hostpipe(u);
    hostpipe(x);
    fifo("y", &yr, &yw);
    fifo("v", &vr, &vw);
    set_nonblock(vr, 0);
    set_nonblock(x[0], 1);
    struct echo t1 = {u[0], yw, 1103515245u, 12345u, 0, 0};
    struct echo t2 = {vr, x[1], 69069u, 1u, 0, 0};
    pthread_t h1 = spawn(echo_main, &t1), h2 = spawn(echo_main, &t2);
    int ep = FD(epoll_create1(EPOLL_CLOEXEC));
    I(ctl(ep, EPOLL_CTL_ADD, yr, EPOLLIN, 'y'));
    I(ctl(ep, EPOLL_CTL_ADD, x[0], EPOLLIN, 'x'));
    uint32_t v = 1;
    uint64_t sum = 0;
    long rounds = 0, from_y = 0, from_x = 0, stalls = 0, errors = 0;
    if (write(u[1], &v, sizeof v) != sizeof v)
        die("write u");
    while (rounds < ROUNDS && !errors) {
        struct epoll_event ev[4];
        int n = epoll_wait(ep, ev, 4, 5000);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            say("epoll_wait after %ld rounds = %d %s\n", rounds, n, n < 0 ? ename(errno) : "(timed out)");
            stalls++;
            break;
        }
        for (int i = 0; i < n; i++) {
            int from = ev[i].data.u64 == 'y' ? yr : x[0];
            int to = ev[i].data.u64 == 'y' ? vw : u[1];
            ssize_t r = read(from, &v, sizeof v);
            if (r != sizeof v) {
                say("read after %ld rounds = %zd %s\n", rounds, r, r < 0 ? ename(errno) : "");
                errors++;
                break;
            }
            sum = sum * 31 + v;
            rounds++;
            if (ev[i].data.u64 == 'y')
                from_y++;
            else
                from_x++;
            if (rounds < ROUNDS && write(to, &v, sizeof v) != sizeof v) {
                say("write after %ld rounds: %s\n", rounds, ename(errno));
                errors++;
                break;
            }
        }
    }
    say("round trips: %ld (%ld from the FIFO, %ld from the pipe), checksum %016llx\n", rounds, from_y, from_x,
        (unsigned long long)sum);
    /* the threads see the end of their input and finish */
    I(close(u[1]));
    I(close(vw));
    if (!stalls) {
        join(h1);
        join(h2);
        say("thread 1: %ld values%s%s; thread 2: %ld values%s%s\n", t1.n, t1.err ? " then " : "",
            t1.err ? ename(t1.err) : "", t2.n, t2.err ? " then " : "", t2.err ? ename(t2.err) : "");
    }
    I(close(ep));
    I(close(u[0]));
    I(close(x[0]));
    I(close(x[1]));
    I(close(yr));
    I(close(yw));
    I(close(vr));
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

    say("-- epoll_create\n");
    int ep = FD(epoll_create1(EPOLL_CLOEXEC));
    I(fcntl(ep, F_GETFD));
    I(epoll_create1(1));
    I(epoll_create(0));
    I(epoll_create(-1));
    int ep2 = FD(epoll_create(1));
    I(fcntl(ep2, F_GETFD));
    I(close(ep2));
    ep2 = FD(epoll_create1(0));
    I(fcntl(ep2, F_GETFD));
    W("epoll_wait empty", ep, 0);
    W("epoll_wait empty, 20 ms", ep, 20);

    say("-- epoll_ctl and its errors\n");
    I(ctl(ep, EPOLL_CTL_ADD, ar, EPOLLIN, 1));
    I(ctl(ep, EPOLL_CTL_ADD, ar, EPOLLIN, 1));
    I(ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 2));
    I(ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLOUT, 2));
    I(ctl(ep, EPOLL_CTL_MOD, br, EPOLLIN, 3));
    I(ctl(ep, EPOLL_CTL_DEL, br, 0, 0));
    I(ctl(ep, EPOLL_CTL_MOD, q[0], EPOLLIN, 4));
    I(ctl(ep, EPOLL_CTL_DEL, q[0], 0, 0));
    I(ctl(ep, EPOLL_CTL_ADD, ep, EPOLLIN, 5));
    I(ctl(ep, EPOLL_CTL_ADD, BADFD, EPOLLIN, 6));
    I(ctl(ep, 42, br, EPOLLIN, 7));
    I(ctl(ar, EPOLL_CTL_ADD, br, EPOLLIN, 8));
    I(ctl(p[0], EPOLL_CTL_ADD, br, EPOLLIN, 8));
    I(ctl(BADFD, EPOLL_CTL_ADD, br, EPOLLIN, 8));
    I(epoll_ctl(ep, EPOLL_CTL_ADD, br, NULL));
    put("reg", "regular\n");
    int reg = FD(open(F("reg"), O_RDWR));
    I(ctl(ep, EPOLL_CTL_ADD, reg, EPOLLIN, 9));
    I(close(reg));
    int dir = FD(open(base, O_RDONLY | O_DIRECTORY));
    I(ctl(ep, EPOLL_CTL_ADD, dir, EPOLLIN, 9));
    I(close(dir));
    int gone = FD(open(F("b"), O_RDONLY | O_NONBLOCK));
    I(close(gone));
    I(ctl(ep, EPOLL_CTL_ADD, gone, EPOLLIN, 10));
    I(ctl(ep, EPOLL_CTL_DEL, gone, 0, 0));
    I(ctl(ep, EPOLL_CTL_ADD, br, EPOLLIN | EPOLLEXCLUSIVE, 11));
    I(ctl(ep, EPOLL_CTL_MOD, br, EPOLLIN, 11));
    I(epoll_ctl(ep, EPOLL_CTL_DEL, br, NULL));
    I(ctl(ep, EPOLL_CTL_ADD, q[0], EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT, 12));
    W("epoll_wait nothing ready", ep, 0);

    say("-- level-triggered\n");
    I(write(aw, "x", 1));
    W("epoll_wait", ep, 0);
    W("epoll_wait again", ep, 1000);
    I(write(p[1], "yy", 2));
    W("epoll_wait mixed", ep, -1);
    I(epoll_wait(ep, evs, 1, 0));
    I(epoll_wait(ep, evs, 0, 0));
    volatile int neg = -1;
    I(epoll_wait(ep, evs, neg, 0));
    I(epoll_wait(ar, evs, 4, 0));
    I(epoll_wait(p[0], evs, 4, 0));
    I(epoll_wait(BADFD, evs, 4, 0));
    show("read a", buf, I(read(ar, buf, sizeof buf)));
    W("epoll_wait", ep, 0);
    show("read p", buf, I(read(p[0], buf, sizeof buf)));
    W("epoll_wait drained", ep, 0);

    say("-- data.u64, EPOLL_CTL_MOD and DEL\n");
    I(ctl(ep, EPOLL_CTL_ADD, br, EPOLLIN, 0xfeedfacecafebeefULL));
    I(ctl(ep, EPOLL_CTL_ADD, aw, EPOLLOUT, 0x8000000000000001ULL));
    I(ctl(ep, EPOLL_CTL_ADD, p[1], EPOLLOUT | EPOLLIN, 0x7fffffff00000000ULL));
    I(write(bw, "b", 1));
    W("epoll_wait", ep, 0);
    I(ctl(ep, EPOLL_CTL_MOD, br, EPOLLOUT, 13));
    I(ctl(ep, EPOLL_CTL_MOD, aw, EPOLLIN, 14));
    I(ctl(ep, EPOLL_CTL_MOD, p[1], EPOLLIN, 15));
    W("epoll_wait after MOD to the other way", ep, 0);
    I(ctl(ep, EPOLL_CTL_MOD, br, EPOLLIN | EPOLLOUT, 16));
    I(ctl(ep, EPOLL_CTL_MOD, aw, EPOLLIN | EPOLLOUT, 17));
    I(ctl(ep, EPOLL_CTL_MOD, p[1], EPOLLIN | EPOLLOUT, 18));
    W("epoll_wait after MOD to both", ep, 0);
    I(ctl(ep, EPOLL_CTL_DEL, aw, 0, 0));
    I(ctl(ep, EPOLL_CTL_DEL, p[1], 0, 0));
    I(ctl(ep, EPOLL_CTL_DEL, p[1], 0, 0));
    W("epoll_wait after DEL", ep, 0);
    I(read(br, buf, sizeof buf));
    I(ctl(ep, EPOLL_CTL_DEL, br, 0, 0));
    W("epoll_wait", ep, 0);

    say("-- EPOLLET\n");
    int er, ew, g[2];
    fifo("e", &er, &ew);
    hostpipe(g);
    set_nonblock(g[0], 1);
    I(ctl(ep, EPOLL_CTL_ADD, er, EPOLLIN | EPOLLET, 20));
    I(ctl(ep, EPOLL_CTL_ADD, g[0], EPOLLIN | EPOLLET, 21));
    W("epoll_wait nothing yet", ep, 0);
    I(write(ew, "1", 1));
    I(write(g[1], "1", 1));
    W("epoll_wait the edge", ep, 0);
    W("epoll_wait no new edge", ep, 20);
    I(read(er, buf, sizeof buf));
    I(read(g[0], buf, sizeof buf));
    I(read(er, buf, sizeof buf));
    I(read(g[0], buf, sizeof buf));
    W("epoll_wait drained", ep, 0);
    I(write(ew, "22", 2));
    W("epoll_wait the FIFO's new edge", ep, 0);
    I(write(g[1], "22", 2));
    W("epoll_wait the pipe's new edge", ep, 0);
    W("epoll_wait no new edge", ep, 0);
    /* MOD re-arms an edge for what is already there */
    I(ctl(ep, EPOLL_CTL_MOD, er, EPOLLIN | EPOLLET, 22));
    W("epoll_wait after MOD", ep, 0);
    I(drain(er));
    I(drain(g[0]));
    I(ctl(ep, EPOLL_CTL_DEL, er, 0, 0));
    I(ctl(ep, EPOLL_CTL_DEL, g[0], 0, 0));

    say("-- EPOLLONESHOT\n");
    int fr, fw, s[2];
    fifo("f", &fr, &fw);
    hostpipe(s);
    set_nonblock(s[0], 1);
    I(ctl(ep, EPOLL_CTL_ADD, fr, EPOLLIN | EPOLLONESHOT, 30));
    I(ctl(ep, EPOLL_CTL_ADD, s[0], EPOLLIN | EPOLLONESHOT, 31));
    I(write(fw, "1", 1));
    I(write(s[1], "1", 1));
    W("epoll_wait the one shot", ep, 0);
    W("epoll_wait disabled", ep, 0);
    I(write(fw, "2", 1));
    I(write(s[1], "2", 1));
    W("epoll_wait still disabled", ep, 20);
    I(ctl(ep, EPOLL_CTL_ADD, fr, EPOLLIN, 32));
    I(ctl(ep, EPOLL_CTL_MOD, fr, EPOLLIN | EPOLLONESHOT, 33));
    W("epoll_wait the FIFO re-armed", ep, 0);
    I(ctl(ep, EPOLL_CTL_MOD, s[0], EPOLLIN, 34));
    W("epoll_wait the pipe re-armed level-triggered", ep, 0);
    W("epoll_wait again", ep, 0);
    I(drain(fr));
    I(drain(s[0]));
    I(ctl(ep, EPOLL_CTL_DEL, fr, 0, 0));
    I(ctl(ep, EPOLL_CTL_DEL, s[0], 0, 0));

    say("-- EPOLLHUP and EPOLLERR\n");
    int cr, cw, h[2], dr, dw, k[2];
    fifo("c", &cr, &cw);
    hostpipe(h);
    fifo("d", &dr, &dw);
    hostpipe(k);
    I(ctl(ep, EPOLL_CTL_ADD, cr, EPOLLIN, 40));
    I(ctl(ep, EPOLL_CTL_ADD, h[0], 0, 41));
    I(ctl(ep, EPOLL_CTL_ADD, dw, EPOLLOUT, 42));
    I(ctl(ep, EPOLL_CTL_ADD, k[1], 0, 43));
    W("epoll_wait all connected", ep, 0);
    I(write(cw, "c", 1));
    I(close(cw));
    I(close(h[1]));
    I(close(dr));
    I(close(k[0]));
    W("epoll_wait hung up", ep, 0);
    I(read(cr, buf, sizeof buf));
    W("epoll_wait after the data", ep, 0);
    I(ctl(ep, EPOLL_CTL_MOD, cr, 0, 44));
    I(ctl(ep, EPOLL_CTL_MOD, dw, EPOLLIN, 45));
    W("epoll_wait asking for nothing", ep, 0);
    I(ctl(ep, EPOLL_CTL_DEL, cr, 0, 0));
    I(ctl(ep, EPOLL_CTL_DEL, h[0], 0, 0));
    I(ctl(ep, EPOLL_CTL_DEL, dw, 0, 0));
    I(ctl(ep, EPOLL_CTL_DEL, k[1], 0, 0));
    W("epoll_wait", ep, 0);
    I(close(cr));
    I(close(h[0]));
    I(close(dw));
    I(close(k[1]));

    say("-- a closed fd leaves the set\n");
    int mr, mw, n[2];
    fifo("m", &mr, &mw);
    hostpipe(n);
    I(ctl(ep, EPOLL_CTL_ADD, mr, EPOLLIN, 50));
    I(ctl(ep, EPOLL_CTL_ADD, n[0], EPOLLIN, 51));
    I(write(mw, "m", 1));
    I(write(n[1], "n", 1));
    W("epoll_wait", ep, 0);
    I(close(mr));
    W("epoll_wait the FIFO closed", ep, 0);
    I(close(n[0]));
    W("epoll_wait the pipe closed", ep, 0);
    I(ctl(ep, EPOLL_CTL_DEL, mr, 0, 0));
    I(ctl(ep, EPOLL_CTL_DEL, n[0], 0, 0));
    I(close(mw));
    I(close(n[1]));

    say("-- an epoll fd in poll and in another epoll\n");
    I(ctl(ep2, EPOLL_CTL_ADD, ep, EPOLLIN, 60));
    I(ctl(ep2, EPOLL_CTL_ADD, p[0], EPOLLIN, 61));
    W("epoll_wait outer", ep2, 0);
    struct pollfd pf = {ep, POLLIN | POLLOUT, 0};
    I(poll(&pf, 1, 0));
    say("  revents %s\n", poll_names(pf.revents));
    I(write(aw, "a", 1));
    W("epoll_wait outer, the FIFO written", ep2, 0);
    I(poll(&pf, 1, 0));
    say("  revents %s\n", poll_names(pf.revents));
    I(ctl(ep, EPOLL_CTL_ADD, ep2, EPOLLIN, 62));
    I(read(ar, buf, sizeof buf));
    I(write(p[1], "p", 1));
    W("epoll_wait outer, the pipe written", ep2, 0);
    I(read(p[0], buf, sizeof buf));
    I(ctl(ep2, EPOLL_CTL_DEL, ep, 0, 0));
    I(ctl(ep2, EPOLL_CTL_DEL, p[0], 0, 0));

    say("-- epoll_pwait and a pending signal\n");
    sigset_t blocked, none;
    sigemptyset(&none);
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGUSR1);
    on(SIGUSR1, 0);
    mask(SIG_BLOCK, SIGUSR1);
    I(raise(SIGUSR1));
    PW("epoll_pwait masking SIGUSR1, 20 ms", ep, 20, &blocked);
    B(is_pending(SIGUSR1));
    I(hits[SIGUSR1]);
    PW("epoll_pwait unmasking SIGUSR1", ep, 5000, &none);
    B(is_pending(SIGUSR1));
    I(hits[SIGUSR1]);
    I(raise(SIGUSR1));
    PW("epoll_pwait no timeout, unmasking SIGUSR1", ep, -1, &none);
    I(hits[SIGUSR1]);
    I(raise(SIGUSR1));
    PW("epoll_pwait with no mask, 20 ms", ep, 20, NULL);
    B(is_pending(SIGUSR1));
    mask(SIG_UNBLOCK, SIGUSR1);
    I(hits[SIGUSR1]);

    say("-- a signal interrupts epoll_wait, with or without SA_RESTART\n");
    on(SIGALRM, 0);
    ticker(20);
    W("epoll_wait, SIGALRM without SA_RESTART", ep, 5000);
    ticker(0);
    B(hits[SIGALRM] > 0);
    on(SIGALRM, SA_RESTART);
    ticker(20);
    W("epoll_wait, SIGALRM with SA_RESTART", ep, -1);
    ticker(0);
    sleep_ms(30);

    say("-- a thread's write wakes a blocked epoll_wait\n");
    struct later l;
    pthread_t t = later_write(&l, aw, 20, "wake");
    W("epoll_wait {pipe, FIFO}, the FIFO written", ep, 5000);
    join_later(t, &l);
    show("read a", buf, I(read(ar, buf, sizeof buf)));
    t = later_write(&l, p[1], 20, "wake");
    W("epoll_wait {pipe, FIFO}, the pipe written", ep, 5000);
    join_later(t, &l);
    show("read p", buf, I(read(p[0], buf, sizeof buf)));
    t = later_write(&l, aw, 20, "pwait");
    PW("epoll_pwait {pipe, FIFO}", ep, 5000, &none);
    join_later(t, &l);
    show("read a", buf, I(read(ar, buf, sizeof buf)));
    I(ctl(ep, EPOLL_CTL_DEL, ep2, 0, 0));
    I(close(ep2));
    I(ctl(ep, EPOLL_CTL_DEL, ep2, 0, 0));
    I(ctl(ep, EPOLL_CTL_DEL, q[0], 0, 0));
    t = later_write(&l, aw, 20, "only the FIFO");
    I(ctl(ep, EPOLL_CTL_DEL, p[0], 0, 0));
    W("epoll_wait {FIFO}", ep, 5000);
    join_later(t, &l);
    show("read a", buf, I(read(ar, buf, sizeof buf)));
    I(ctl(ep, EPOLL_CTL_DEL, ar, 0, 0));
    I(ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 2));
    t = later_write(&l, p[1], 20, "only the pipe");
    W("epoll_wait {pipe}", ep, -1);
    join_later(t, &l);
    show("read p", buf, I(read(p[0], buf, sizeof buf)));
    I(close(ep));

    say("-- a FIFO added while a thread waits on its epoll fd\n");
    fifo_added_while_waiting(fr, fw);

    say("-- round trips through one epoll loop\n");
    ping_pong();

    say("-- level-triggered over %d FIFOs alone\n", MANY);
    many_fifos();

    I(close(ar));
    I(close(aw));
    I(close(br));
    I(close(bw));
    I(close(p[0]));
    I(close(p[1]));
    I(close(q[0]));
    I(close(q[1]));
    I(close(er));
    I(close(ew));
    I(close(fr));
    I(close(fw));
    return done();
}
