/*
 * mux.h: helpers for the event multiplexing, signal and thread programs
 * (poll.c, select.c, epoll.c, signal.c, threads.c), on top of check.h.
 *
 * The sets these programs wait on mix two kinds of descriptor: pipe()
 * gives a host pipe on every run, while a FIFO made in the base directory
 * is a host FIFO on the host run and a rump FIFO on the hijacked runs. So
 * a set of FIFOs is rump-only there, a set of pipes host-only, and a set
 * with both a mixed one.
 *
 * Only the main thread prints: helper threads record what they saw and
 * main prints it after joining them, so the transcript never depends on
 * scheduling. Helper threads start with every signal blocked, so that a
 * process-directed signal (a timer's SIGALRM) always lands on main.
 *
 *   poll_names(r)         revents as "POLLIN|POLLHUP" ("0" for none)
 *   fifo(name, &r, &w)    mkfifo in the base, opened without blocking:
 *                         r O_RDONLY|O_NONBLOCK, then w O_WRONLY
 *   set_nonblock(fd, on)  O_NONBLOCK on or off with F_GETFL/F_SETFL
 *   drain(fd)             reads a non-blocking fd until it has nothing
 *   sleep_ms(n)           nanosleep, resumed after signals
 *   spawn(fn, arg)        a thread with all signals blocked
 *   later_write(&l, fd, ms, s)  a thread writing s to fd after ms (or
 *                         closing fd if s is NULL); join_later(t, &l)
 *   on(sig, flags)        a handler counting into hits[sig]
 *   mask(how, sig)        sigprocmask of one signal; is_pending(sig)
 *   ticker(ms)            ITIMER_REAL every ms (0 disarms it)
 */
#ifndef CTESTS_MUX_H
#define CTESTS_MUX_H

#include "check.h"
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/time.h>
#include <time.h>

/* an fd number nothing here opens */
#define BADFD 1000

UNUSED static const char *poll_names(int r)
{
    static char ring[4][256];
    static int next;
    static const struct {
        int bit;
        const char *name;
    } names[] = {
        {POLLIN, "POLLIN"},         {POLLPRI, "POLLPRI"},       {POLLOUT, "POLLOUT"},
        {POLLERR, "POLLERR"},       {POLLHUP, "POLLHUP"},       {POLLNVAL, "POLLNVAL"},
        {POLLRDNORM, "POLLRDNORM"}, {POLLRDBAND, "POLLRDBAND"}, {POLLWRNORM, "POLLWRNORM"},
        {POLLWRBAND, "POLLWRBAND"}, {POLLRDHUP, "POLLRDHUP"},
    };
    char *b = ring[next++ % 4];
    size_t o = 0;
    b[0] = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (r & names[i].bit) {
            o += (size_t)snprintf(b + o, 256 - o, "%s%s", o ? "|" : "", names[i].name);
            r &= ~names[i].bit;
        }
    if (r)
        o += (size_t)snprintf(b + o, 256 - o, "%s%#x", o ? "|" : "", (unsigned)r);
    if (!o)
        snprintf(b, 256, "0");
    return b;
}

/* Gives up on the program: setup that should not fail did. */
UNUSED static void die(const char *what)
{
    say("%s: %s (giving up)\n", what, ename(errno));
    exit(1);
}

/* A FIFO `name` in the base, opened for reading (non-blocking, so no
 * writer is needed) and then for writing (a reader exists, so it does not
 * block either). */
UNUSED static void fifo(const char *name, int *r, int *w)
{
    if (mkfifo(F(name), 0644) != 0)
        die(name);
    *r = open(F(name), O_RDONLY | O_NONBLOCK);
    if (*r < 0)
        die(name);
    *w = open(F(name), O_WRONLY);
    if (*w < 0)
        die(name);
}

UNUSED static void hostpipe(int p[2])
{
    if (pipe(p) != 0)
        die("pipe");
}

UNUSED static void set_nonblock(int fd, int on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK) != 0)
        die("set_nonblock");
}

/* Reads a non-blocking fd until it is empty; the bytes read. */
UNUSED static long long drain(int fd)
{
    char buf[4096];
    long long n = 0;
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0)
        n += r;
    return n;
}

UNUSED static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

UNUSED static pthread_t spawn(void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    pthread_t t;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = pthread_create(&t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0) {
        errno = e;
        die("pthread_create");
    }
    return t;
}

UNUSED static void join(pthread_t t)
{
    int e = pthread_join(t, NULL);
    if (e != 0) {
        errno = e;
        die("pthread_join");
    }
}

struct later {
    int fd;
    long ms;
    const char *s;
    long long result; /* what write returned */
    int err;
};

static void *later_main(void *arg)
{
    struct later *l = arg;
    sleep_ms(l->ms);
    l->result = l->s ? write(l->fd, l->s, strlen(l->s)) : close(l->fd);
    l->err = errno;
    return NULL;
}

/* A thread that writes `s` to `fd` after `ms` (closes it if `s` is NULL);
 * join it with join_later. */
UNUSED static pthread_t later_write(struct later *l, int fd, long ms, const char *s)
{
    l->fd = fd;
    l->ms = ms;
    l->s = s;
    l->result = 0;
    l->err = 0;
    return spawn(later_main, l);
}

UNUSED static void join_later(pthread_t t, struct later *l)
{
    join(t);
    const char *what = l->s ? "write" : "close";
    if (l->result < 0)
        say("  (the thread's %s: %s)\n", what, ename(l->err));
    else
        say("  (the thread's %s: %lld)\n", what, l->result);
}

static volatile sig_atomic_t hits[65];

static void count_hit(int sig) { hits[sig]++; }

/* A handler counting `sig` into hits[sig], with sa_flags `flags`. */
UNUSED static void on(int sig, int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = count_hit;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) != 0)
        die("sigaction");
}

UNUSED static void disposition(int sig, void (*h)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) != 0)
        die("sigaction");
}

UNUSED static void mask(int how, int sig)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    if (sigprocmask(how, &s, NULL) != 0)
        die("sigprocmask");
}

UNUSED static int is_pending(int sig)
{
    sigset_t s;
    sigemptyset(&s);
    if (sigpending(&s) != 0)
        die("sigpending");
    return sigismember(&s, sig);
}

/* SIGALRM every `ms` milliseconds from now; 0 disarms the timer. */
UNUSED static void ticker(long ms)
{
    struct itimerval it;
    memset(&it, 0, sizeof it);
    it.it_value.tv_sec = it.it_interval.tv_sec = ms / 1000;
    it.it_value.tv_usec = it.it_interval.tv_usec = (ms % 1000) * 1000;
    if (setitimer(ITIMER_REAL, &it, NULL) != 0)
        die("setitimer");
}

/* Reads exactly n bytes unless EOF or an error comes first (a signal
 * in between is retried); returns the bytes read or -1. */
UNUSED static int read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -1 : (int)got;
        got += (size_t)r;
    }
    return (int)got;
}

#endif
