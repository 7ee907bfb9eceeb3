/* threads.c: many threads blocking on FIFOs (in the base) at once. Pairs
 * of threads play ping-pong, each pair over its own two FIFOs (or a host
 * pipe one way and a FIFO back), while reader threads block on one shared
 * FIFO that main writes in bursts and then closes. A lost wake-up or a
 * deadlock hangs the program (the runner's timeout catches it); only
 * totals are printed. */
#include "mux.h"

#define PAIRS 10       /* ping-pong pairs over two FIFOs */
#define MIXED 4        /* ping-pong pairs over a host pipe and a FIFO */
#define ROUNDS 300     /* round trips per pair */
#define READERS 4      /* threads reading the shared FIFO */
#define MESSAGES 400   /* messages main writes to it */
#define BURST 50       /* messages per burst */
#define THREADS (2 * (PAIRS + MIXED) + READERS)

static pthread_barrier_t start;

struct pair {
    int id;
    int ping_r, ping_w, pong_r, pong_w;
    long done, wrong, echoed; /* round trips, bad replies, values echoed */
    uint64_t sum;
    int err, echo_err;
};

static uint64_t reply(uint64_t v) { return v * 2 + 1; }

static void *pinger(void *arg)
{
    struct pair *p = arg;
    pthread_barrier_wait(&start);
    for (long k = 0; k < ROUNDS; k++) {
        uint64_t v = (uint64_t)p->id * 1000000 + (uint64_t)k, w;
        if (write(p->ping_w, &v, sizeof v) != sizeof v) {
            p->err = errno;
            break;
        }
        if (read_full(p->pong_r, &w, sizeof w) != sizeof w) {
            p->err = errno ? errno : EPROTO;
            break;
        }
        if (w != reply(v))
            p->wrong++;
        p->sum += w;
        p->done++;
    }
    /* the ponger sees the end of its input */
    close(p->ping_w);
    return NULL;
}

static void *ponger(void *arg)
{
    struct pair *p = arg;
    uint64_t v;
    int r;
    pthread_barrier_wait(&start);
    while ((r = read_full(p->ping_r, &v, sizeof v)) == sizeof v) {
        v = reply(v);
        if (write(p->pong_w, &v, sizeof v) != sizeof v) {
            p->echo_err = errno;
            return NULL;
        }
        p->echoed++;
    }
    if (r != 0)
        p->echo_err = r < 0 ? errno : EPROTO;
    return NULL;
}

struct reader {
    int fd;
    long n;
    uint64_t sum;
    int err;
};

static void *shared_reader(void *arg)
{
    struct reader *rd = arg;
    uint64_t v;
    ssize_t r;
    pthread_barrier_wait(&start);
    while ((r = read(rd->fd, &v, sizeof v)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r != sizeof v) {
            rd->err = r < 0 ? errno : EPROTO;
            break;
        }
        rd->n++;
        rd->sum += v;
    }
    return NULL;
}

static void blocking_fifo(const char *name, int *r, int *w)
{
    fifo(name, r, w);
    set_nonblock(*r, 0);
}

int main(int argc, char **argv)
{
    static struct pair pairs[PAIRS + MIXED];
    static struct reader readers[READERS];
    pthread_t t[THREADS];
    int nt = 0;
    setup(argc, argv);

    for (int i = 0; i < PAIRS + MIXED; i++) {
        struct pair *p = &pairs[i];
        char name[32];
        p->id = i + 1;
        if (i < PAIRS) {
            snprintf(name, sizeof name, "ping%d", i);
            blocking_fifo(name, &p->ping_r, &p->ping_w);
        } else {
            int h[2];
            hostpipe(h);
            p->ping_r = h[0];
            p->ping_w = h[1];
        }
        snprintf(name, sizeof name, "pong%d", i);
        blocking_fifo(name, &p->pong_r, &p->pong_w);
    }
    int sr, sw;
    blocking_fifo("shared", &sr, &sw);
    say("%d FIFO pairs and %d pipe+FIFO pairs, %d round trips each; %d readers of one FIFO\n", PAIRS, MIXED,
        ROUNDS, READERS);

    if (pthread_barrier_init(&start, NULL, THREADS + 1) != 0)
        die("pthread_barrier_init");
    for (int i = 0; i < READERS; i++) {
        readers[i].fd = sr;
        t[nt++] = spawn(shared_reader, &readers[i]);
    }
    for (int i = 0; i < PAIRS + MIXED; i++) {
        t[nt++] = spawn(ponger, &pairs[i]);
        t[nt++] = spawn(pinger, &pairs[i]);
    }
    pthread_barrier_wait(&start);
    say("all %d threads started\n", nt);

    /* bursts to the shared FIFO, with pauses so that the readers block
     * between them */
    uint64_t sent_sum = 0;
    long sent = 0;
    for (int b = 0; b < MESSAGES / BURST; b++) {
        sleep_ms(5);
        for (int k = 0; k < BURST; k++) {
            uint64_t v = (uint64_t)sent * 7 + 3;
            if (write(sw, &v, sizeof v) != sizeof v)
                die("write shared");
            sent_sum += v;
            sent++;
        }
    }
    I(close(sw));

    for (int i = 0; i < nt; i++)
        join(t[i]);
    say("all threads joined\n");

    long trips = 0, wrong = 0, echoed = 0, errors = 0;
    uint64_t sum = 0;
    for (int i = 0; i < PAIRS + MIXED; i++) {
        struct pair *p = &pairs[i];
        trips += p->done;
        wrong += p->wrong;
        echoed += p->echoed;
        sum += p->sum;
        if (p->err || p->echo_err) {
            say("pair %d: %s, %s\n", i, p->err ? ename(p->err) : "ok", p->echo_err ? ename(p->echo_err) : "ok");
            errors++;
        }
    }
    say("round trips: %ld (expected %d), echoed %ld, wrong replies %ld, pairs with errors %ld, sum %llu\n", trips,
        (PAIRS + MIXED) * ROUNDS, echoed, wrong, errors, (unsigned long long)sum);
    long got = 0;
    uint64_t got_sum = 0;
    int rerr = 0;
    for (int i = 0; i < READERS; i++) {
        got += readers[i].n;
        got_sum += readers[i].sum;
        if (readers[i].err) {
            say("reader %d: %s\n", i, ename(readers[i].err));
            rerr++;
        }
    }
    say("shared FIFO: sent %ld (sum %llu), read %ld (sum %llu), readers with errors %d\n", sent,
        (unsigned long long)sent_sum, got, (unsigned long long)got_sum, rerr);

    for (int i = 0; i < PAIRS + MIXED; i++) {
        close(pairs[i].ping_r);
        close(pairs[i].pong_r);
        close(pairs[i].pong_w);
    }
    I(close(sr));
    return done();
}
