/*
 * check.h: the transcript helpers shared by the ctests programs.
 *
 * Every program takes one argument, a base directory (a host directory or
 * one under /rump), creates it, works only inside it and prints one line
 * per call: the call as written, its result and, on failure, the errno
 * name. What differs between kernels and runs is normalised: an fd prints
 * as "fd", a pointer as non-NULL/NULL, a path as relative to the base.
 * The test runner (hijack/tests/ctests.rs) compares the transcripts of a
 * host run and a rump run.
 *
 *   I(expr)    an int/ssize_t/off_t result; < 0 prints the errno name
 *   FD(expr)   the same, but a result >= 0 prints as "fd"
 *   EV(expr)   a call that returns an errno value (posix_fadvise...)
 *   PTR(expr)  a pointer result; NULL prints the errno name
 *   B(expr)    a condition, printed as true/false
 *   S(expr)    a stdio result: EOF prints as EOF, without errno
 *   F("name")  base + "/" + name (a small ring of static buffers)
 *   say(...)   printf to the transcript
 *   hold()/release()  keep transcript lines in memory while fd 1 is
 *              redirected, and print them afterwards
 */
#ifndef CTESTS_CHECK_H
#define CTESTS_CHECK_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define UNUSED __attribute__((unused))

static char base[PATH_MAX];
static size_t base_len;

static int holding;
static char held[65536];
static size_t held_len;

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (holding) {
        if (held_len < sizeof held)
            held_len += (size_t)vsnprintf(held + held_len, sizeof held - held_len, fmt, ap);
        if (held_len > sizeof held)
            held_len = sizeof held;
    } else {
        vprintf(fmt, ap);
        fflush(stdout);
    }
    va_end(ap);
}

UNUSED static void hold(void) { holding = 1; }

UNUSED static void release(void)
{
    holding = 0;
    fwrite(held, 1, held_len, stdout);
    fflush(stdout);
    held_len = 0;
}

UNUSED static const char *ename(int e)
{
    static char buf[32];
    const char *n = strerrorname_np(e);
    if (n)
        return n;
    snprintf(buf, sizeof buf, "E#%d", e);
    return buf;
}

UNUSED static long long ck_int(const char *what, long long r)
{
    int e = errno;
    if (r < 0)
        say("%s = %lld %s\n", what, r, ename(e));
    else
        say("%s = %lld\n", what, r);
    errno = e;
    return r;
}

UNUSED static long long ck_fd(const char *what, long long r)
{
    int e = errno;
    if (r < 0)
        say("%s = %lld %s\n", what, r, ename(e));
    else
        say("%s = fd\n", what);
    errno = e;
    return r;
}

UNUSED static int ck_ev(const char *what, int r)
{
    say("%s = %s\n", what, r == 0 ? "0" : ename(r));
    return r;
}

UNUSED static void *ck_ptr(const char *what, void *p)
{
    int e = errno;
    if (p)
        say("%s = non-NULL\n", what);
    else
        say("%s = NULL %s\n", what, ename(e));
    errno = e;
    return p;
}

UNUSED static int ck_bool(const char *what, int c)
{
    say("%s: %s\n", what, c ? "true" : "false");
    return c;
}

/* a stdio result where EOF carries no errno (end of file) */
UNUSED static long long ck_eof(const char *what, long long r)
{
    if (r == EOF)
        say("%s = EOF\n", what);
    else
        say("%s = %lld\n", what, r);
    return r;
}

#define I(expr) ck_int(#expr, (long long)(expr))
#define FD(expr) ((int)ck_fd(#expr, (long long)(expr)))
#define EV(expr) ck_ev(#expr, (expr))
#define PTR(expr) ck_ptr(#expr, (void *)(expr))
#define B(expr) ck_bool(#expr, !!(expr))
#define S(expr) ck_eof(#expr, (long long)(expr))

/* base + "/" + rel, in one of 16 rotating buffers. */
UNUSED static const char *F(const char *rel)
{
    static char ring[16][2 * PATH_MAX];
    static int next;
    char *b = ring[next++ % 16];
    snprintf(b, 2 * PATH_MAX, "%s/%s", base, rel);
    return b;
}

/* `p` shown relative to `root` ("." for root itself, "/x" below it). */
UNUSED static const char *rel_to(const char *root, const char *p)
{
    size_t n = strlen(root);
    if (!p)
        return "(null)";
    if (strncmp(p, root, n) == 0 && (p[n] == 0 || p[n] == '/'))
        return p[n] ? p + n : ".";
    return p;
}

UNUSED static const char *rel(const char *p) { return rel_to(base, p); }

/* Prints `n` bytes of `buf` as a C string literal. */
UNUSED static void show(const char *what, const void *buf, long long n)
{
    const unsigned char *s = buf;
    char out[1024];
    size_t o = 0;
    if (n < 0) {
        say("%s: (nothing)\n", what);
        return;
    }
    for (long long i = 0; i < n && o < sizeof out - 8; i++) {
        unsigned char c = s[i];
        if (c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 32 || c > 126) {
            o += (size_t)snprintf(out + o, sizeof out - o, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = 0;
    say("%s: \"%s\"\n", what, out);
}

/* Prints a whole file's contents (read with open/read). */
UNUSED static void cat(const char *rel_name)
{
    char buf[4096];
    long long n = 0, r;
    int fd = open(F(rel_name), O_RDONLY);
    if (fd < 0) {
        say("cat %s: %s\n", rel_name, ename(errno));
        return;
    }
    while (n < (long long)sizeof buf && (r = read(fd, buf + n, sizeof buf - (size_t)n)) > 0)
        n += r;
    close(fd);
    char what[300];
    snprintf(what, sizeof what, "cat %s", rel_name);
    show(what, buf, n);
}

/* Writes `s` to a new file (open/write/close), for setting up. */
UNUSED static void put(const char *rel_name, const char *s)
{
    int fd = open(F(rel_name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s) || close(fd) != 0)
        say("put %s: %s\n", rel_name, ename(errno));
}

/* Every program starts here: the base directory, created. */
UNUSED static void setup(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s BASE\n", argv[0]);
        exit(2);
    }
    snprintf(base, sizeof base, "%s", argv[1]);
    base_len = strlen(base);
    umask(022);
    I(mkdir(base, 0755));
}

UNUSED static int done(void)
{
    say("done\n");
    return 0;
}

#endif
