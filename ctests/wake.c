/* wake.c: blocked waits over {host pipe, rump FIFO} that another thread
 * wakes, as a remote kernel tells them through its shared-memory channel:
 * what poll and epoll_wait report when a write, a close or a change that
 * makes nothing ready (the first of two writers closing) wakes them;
 * EPOLLET and EPOLLONESHOT across such wake-ups; events a wait timed out
 * before; and 1,000 round trips each of poll, edge-triggered epoll and
 * one-shot epoll re-armed with EPOLL_CTL_MOD, every wait checked. */
#include "mux.h"
#include <sys/epoll.h>

static int ctl(int ep, int op, int fd, uint32_t events, uint64_t data)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(ep, op, fd, &ev);
}

/* One epoll_wait, printed with the data and events it returned. */
static int W(const char *what, int ep, int max, int timeout)
{
    struct epoll_event ev[4];
    int r = epoll_wait(ep, ev, max, timeout);
    if (r < 0) {
        say("%s = -1 %s\n", what, ename(errno));
        return r;
    }
    say("%s = %d\n", what, r);
    for (int i = 0; i < r; i++)
        say("  data %c: %#x\n", (int)ev[i].data.u64, ev[i].events);
    return r;
}

/* One poll on {p, f} for POLLIN, printed with both revents. */
static int P(const char *what, int p, int f, int timeout)
{
    struct pollfd s[2] = {{p, POLLIN, 0}, {f, POLLIN, 0}};
    int r = poll(s, 2, timeout);
    if (r < 0)
        say("%s = -1 %s\n", what, ename(errno));
    else
        say("%s = %d, pipe %s, FIFO %s\n", what, r, poll_names(s[0].revents), poll_names(s[1].revents));
    return r;
}

/* A thread copying 1-byte messages from `in` to `out` until `in` ends. */
struct echo {
    int in, out;
    long n;
};

static void *echo_main(void *arg)
{
    struct echo *e = arg;
    unsigned char c;
    while (read_full(e->in, &c, 1) == 1 && write(e->out, &c, 1) == 1)
        e->n++;
    return NULL;
}

enum how { BY_POLL, BY_ET, BY_ONESHOT };

/* main writes the host pipe u, a thread copies it to the FIFO y, main
 * waits for y (and the idle host pipe q) and reads it: `rounds` times. */
static void round_trips(const char *name, enum how how, int rounds)
{
    int u[2], q[2], yr, yw;
    hostpipe(u);
    hostpipe(q);
    char fname[16];
    snprintf(fname, sizeof fname, "rt%d", how);
    fifo(fname, &yr, &yw);
    struct echo e = {u[0], yw, 0};
    pthread_t t = spawn(echo_main, &e);
    int ep = -1;
    if (how != BY_POLL) {
        ep = epoll_create1(EPOLL_CLOEXEC);
        uint32_t flags = how == BY_ET ? EPOLLET : EPOLLONESHOT;
        if (ep < 0 || ctl(ep, EPOLL_CTL_ADD, q[0], EPOLLIN, 'q') < 0 ||
            ctl(ep, EPOLL_CTL_ADD, yr, EPOLLIN | flags, 'y') < 0)
            die("epoll setup");
    }
    long bad = 0, done_ = 0;
    for (int i = 0; i < rounds && !bad; i++) {
        unsigned char c = (unsigned char)(i % 251 + 1), got = 0;
        if (write(u[1], &c, 1) != 1)
            die("write u");
        if (how == BY_POLL) {
            struct pollfd s[2] = {{q[0], POLLIN, 0}, {yr, POLLIN, 0}};
            int r;
            while ((r = poll(s, 2, 5000)) < 0 && errno == EINTR)
                ;
            bad += r != 1 || s[0].revents != 0 || s[1].revents != POLLIN;
        } else {
            struct epoll_event ev[2];
            int r;
            while ((r = epoll_wait(ep, ev, 2, 5000)) < 0 && errno == EINTR)
                ;
            bad += r != 1 || ev[0].data.u64 != 'y' || ev[0].events != EPOLLIN;
            if (how == BY_ONESHOT && ctl(ep, EPOLL_CTL_MOD, yr, EPOLLIN | EPOLLONESHOT, 'y') < 0)
                die("EPOLL_CTL_MOD");
        }
        if (!bad && (read(yr, &got, 1) != 1 || got != c))
            bad++;
        done_ += !bad;
    }
    say("%s: %ld of %d round trips as expected\n", name, done_, rounds);
    I(close(u[1]));
    join(t);
    say("  (the thread copied %ld)\n", e.n);
    if (ep >= 0)
        I(close(ep));
    I(close(u[0]));
    I(close(q[0]));
    I(close(q[1]));
    I(close(yr));
    I(close(yw));
}

int main(int argc, char **argv)
{
    setup(argc, argv);
    char buf[64];
    struct later l, l2;
    pthread_t t, t2;
    int p[2], ar, aw, br, bw, bw2;
    hostpipe(p);
    fifo("a", &ar, &aw);
    fifo("b", &br, &bw);
    bw2 = FD(open(F("b"), O_WRONLY));

    say("-- poll\n");
    t = later_write(&l, aw, 20, "wake");
    P("poll, the FIFO written", p[0], ar, 5000);
    join_later(t, &l);
    show("read a", buf, I(read(ar, buf, sizeof buf)));
    /* a wake-up that makes nothing ready: one of two writers closes */
    t = later_write(&l, bw2, 20, NULL);
    t2 = later_write(&l2, bw, 80, "late");
    P("poll, a writer closed, then the other writes", p[0], br, 5000);
    join_later(t, &l);
    join_later(t2, &l2);
    show("read b", buf, I(read(br, buf, sizeof buf)));
    /* written after a wait timed out: the next wait sees it */
    P("poll, nothing written", p[0], ar, 30);
    t = later_write(&l, aw, 10, "after");
    join_later(t, &l);
    P("poll, written after the last one timed out", p[0], ar, 5000);
    show("read a", buf, I(read(ar, buf, sizeof buf)));

    say("-- epoll, edge-triggered\n");
    int ep = FD(epoll_create1(EPOLL_CLOEXEC));
    I(ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 'p'));
    I(ctl(ep, EPOLL_CTL_ADD, ar, EPOLLIN | EPOLLET, 'a'));
    t = later_write(&l, aw, 20, "one");
    W("epoll_wait, the FIFO written", ep, 4, 5000);
    join_later(t, &l);
    W("epoll_wait, the data still unread", ep, 4, 30);
    t = later_write(&l, aw, 20, "two");
    W("epoll_wait, written again", ep, 4, 5000);
    join_later(t, &l);
    show("read a", buf, I(read(ar, buf, sizeof buf)));
    W("epoll_wait, nothing written", ep, 4, 30);
    t = later_write(&l, aw, 10, "after");
    join_later(t, &l);
    W("epoll_wait, written after the last one timed out", ep, 4, 5000);
    W("epoll_wait, reported once", ep, 4, 30);
    show("read a", buf, I(read(ar, buf, sizeof buf)));

    say("-- epoll, one-shot, maxevents 1\n");
    I(ctl(ep, EPOLL_CTL_ADD, br, EPOLLIN | EPOLLONESHOT, 'b'));
    t = later_write(&l, bw, 20, "one");
    W("epoll_wait(1), the FIFO written", ep, 1, 5000);
    join_later(t, &l);
    t = later_write(&l, bw, 10, "two");
    join_later(t, &l);
    W("epoll_wait(1), disabled", ep, 1, 30);
    I(ctl(ep, EPOLL_CTL_MOD, br, EPOLLIN | EPOLLONESHOT, 'b'));
    W("epoll_wait(1), re-armed", ep, 1, 5000);
    show("read b", buf, I(read(br, buf, sizeof buf)));
    I(ctl(ep, EPOLL_CTL_MOD, br, EPOLLIN | EPOLLONESHOT, 'b'));

    say("-- hangups\n");
    t = later_write(&l, bw, 20, NULL);
    W("epoll_wait, the FIFO's last writer closed", ep, 4, 5000);
    join_later(t, &l);
    I(close(ep));
    t = later_write(&l, aw, 20, NULL);
    P("poll, the FIFO's last writer closed", p[0], ar, 5000);
    join_later(t, &l);

    say("-- round trips\n");
    round_trips("poll", BY_POLL, 1000);
    round_trips("epoll EPOLLET", BY_ET, 1000);
    round_trips("epoll EPOLLONESHOT", BY_ONESHOT, 1000);

    I(close(ar));
    I(close(br));
    I(close(p[0]));
    I(close(p[1]));
    return done();
}
