/* inotify.c: inotify on the base directory: inotify_init1 flags, the
 * errors of inotify_add_watch (mask, fd, path, IN_ONLYDIR, IN_MASK_CREATE
 * with IN_MASK_ADD) and inotify_rm_watch, one wd per watched file, the
 * events of create/write/read/chmod/rename/mkdir/rmdir/unlink on a watched
 * directory (names, IN_ISDIR, one cookie per rename), FIONREAD, a read
 * too short for the next record (EINVAL), poll and a blocking read woken
 * by another thread, coalescing, IN_ONESHOT, IN_MASK_ADD,
 * IN_DELETE_SELF + IN_IGNORED for a file and for a directory, IN_EXCL_UNLINK,
 * relative paths, and no events at all for an O_PATH open.
 *
 * Watch descriptors differ between kernels, so each prints as the order
 * it was first seen in (w1, w2...); a cookie prints as 0, "c" for a
 * cookie new here and "same" for the one the record before had. */
#include "check.h"
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>

static int seen_wds[64];
static int nseen;

/* A wd as its order of first appearance; -1 stays -1. */
static const char *wd_name(int wd)
{
    static char ring[4][16];
    static int next;
    char *b = ring[next++ % 4];
    if (wd < 0) {
        snprintf(b, 16, "%d", wd);
        return b;
    }
    int i = 0;
    while (i < nseen && seen_wds[i] != wd)
        i++;
    if (i == nseen && nseen < 64)
        seen_wds[nseen++] = wd;
    snprintf(b, 16, "w%d", i + 1);
    return b;
}

static const char *mask_names(uint32_t m)
{
    static char b[256];
    static const struct {
        uint32_t bit;
        const char *name;
    } names[] = {
        {IN_ACCESS, "ACCESS"},       {IN_MODIFY, "MODIFY"},         {IN_ATTRIB, "ATTRIB"},
        {IN_CLOSE_WRITE, "CLOSE_WRITE"}, {IN_CLOSE_NOWRITE, "CLOSE_NOWRITE"}, {IN_OPEN, "OPEN"},
        {IN_MOVED_FROM, "MOVED_FROM"}, {IN_MOVED_TO, "MOVED_TO"},   {IN_CREATE, "CREATE"},
        {IN_DELETE, "DELETE"},       {IN_DELETE_SELF, "DELETE_SELF"}, {IN_MOVE_SELF, "MOVE_SELF"},
        {IN_UNMOUNT, "UNMOUNT"},     {IN_Q_OVERFLOW, "Q_OVERFLOW"}, {IN_IGNORED, "IGNORED"},
        {IN_ISDIR, "ISDIR"},
    };
    size_t o = 0;
    b[0] = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (m & names[i].bit) {
            o += (size_t)snprintf(b + o, sizeof b - o, "%s%s", o ? "|" : "", names[i].name);
            m &= ~names[i].bit;
        }
    if (m)
        snprintf(b + o, sizeof b - o, "%s%#x", o ? "|" : "", m);
    return b;
}

static uint32_t last_cookie;

/* Prints the records of one read of `n` bytes. */
static void show_events(const char *buf, long n)
{
    for (long at = 0; at < n;) {
        const struct inotify_event *e = (const void *)(buf + at);
        const char *cookie = e->cookie == 0 ? "0" : e->cookie == last_cookie ? "same" : "c";
        if (e->cookie)
            last_cookie = e->cookie;
        say("  %s %s cookie=%s len=%u name=\"%s\"\n", wd_name(e->wd), mask_names(e->mask), cookie, e->len,
            e->len ? e->name : "");
        at += (long)sizeof *e + e->len;
    }
}

/* Reads and prints what `fd` holds now (non-blocking fd). */
static void drain(int fd, const char *what)
{
    char buf[4096] __attribute__((aligned(8)));
    long n = read(fd, buf, sizeof buf);
    if (n < 0) {
        say("%s: read = -1 %s\n", what, ename(errno));
        return;
    }
    say("%s: read = %ld\n", what, n);
    show_events(buf, n);
}

static int add(int fd, const char *rel_path, uint32_t mask)
{
    int wd = inotify_add_watch(fd, F(rel_path), mask);
    int e = errno;
    if (wd < 0)
        say("inotify_add_watch(%s, %#x) = -1 %s\n", rel_path, mask, ename(e));
    else
        say("inotify_add_watch(%s, %#x) = %s\n", rel_path, mask, wd_name(wd));
    errno = e;
    return wd;
}

static int blocking_fd;

static void *later_create(void *arg)
{
    (void)arg;
    usleep(50000);
    close(open(F("d/late"), O_WRONLY | O_CREAT, 0644));
    return NULL;
}

int main(int argc, char **argv)
{
    setup(argc, argv);
    I(mkdir(F("d"), 0755));
    put("file", "x");

    say("-- init and errors\n");
    I(inotify_init1(IN_NONBLOCK | IN_CLOEXEC) >= 0);
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    I(inotify_init1(0x4) < 0 ? -errno : 0);
    I(fcntl(fd, F_GETFD));
    I(fcntl(fd, F_GETFL) & O_NONBLOCK);
    drain(fd, "empty");
    add(fd, "d", 0);
    add(fd, "d", IN_CREATE | IN_MASK_ADD | IN_MASK_CREATE);
    I(inotify_add_watch(-1, F("d"), IN_CREATE));
    I(inotify_add_watch(999, F("d"), IN_CREATE));
    int notify = open(F("file"), O_RDONLY);
    I(inotify_add_watch(notify, F("d"), IN_CREATE));
    close(notify);
    add(fd, "missing", IN_CREATE);
    add(fd, "file", IN_CREATE | IN_ONLYDIR);
    add(fd, "file/x", IN_CREATE);
    I(inotify_rm_watch(fd, 12345));

    say("-- a watched directory\n");
    int wd = add(fd, "d", IN_ALL_EVENTS);
    add(fd, "d", IN_CREATE);
    add(fd, "d", IN_CREATE | IN_MASK_CREATE);
    add(fd, "d/.", IN_ALL_EVENTS);
    add(fd, "d", IN_ALL_EVENTS);
    /* relative paths follow the working directory, into the kernel too */
    I(chdir(base));
    B(inotify_add_watch(fd, "d", IN_ALL_EVENTS) == wd);
    I(chdir("d"));
    B(inotify_add_watch(fd, ".", IN_ALL_EVENTS) == wd);
    I(inotify_add_watch(fd, "nothing", IN_ALL_EVENTS));
    I(chdir("/"));
    int f = FD(open(F("d/f"), O_WRONLY | O_CREAT, 0644));
    I(write(f, "hello", 5));
    I(write(f, "again", 5));
    I(close(f));
    int avail = -1;
    I(ioctl(fd, FIONREAD, &avail));
    say("FIONREAD: %d\n", avail);
    drain(fd, "create, write twice, close");
    f = FD(open(F("d/f"), O_RDONLY));
    char small[8];
    I(read(f, small, sizeof small));
    I(read(f, small, sizeof small));
    I(close(f));
    char tiny[sizeof(struct inotify_event) + 4] __attribute__((aligned(8)));
    I(close(open(F("d/f"), O_PATH)));
    I(read(fd, tiny, 8));
    I(read(fd, tiny, sizeof tiny));
    drain(fd, "open, read, close");
    I(chmod(F("d/f"), 0600));
    I(truncate(F("d/f"), 2));
    I(rename(F("d/f"), F("d/g")));
    I(mkdir(F("d/sub"), 0755));
    I(rename(F("d/sub"), F("d/sub2")));
    I(rmdir(F("d/sub2")));
    I(link(F("d/g"), F("d/h")));
    I(symlink("g", F("d/s")));
    I(unlink(F("d/h")));
    I(unlink(F("d/s")));
    drain(fd, "chmod, truncate, rename, mkdir, rename, rmdir, link, symlink, unlink");
    I(rename(F("file"), F("d/in")));
    I(rename(F("d/in"), F("file")));
    drain(fd, "moved in and out");

    say("-- poll and a blocking read\n");
    struct pollfd p = {.fd = fd, .events = POLLIN};
    I(poll(&p, 1, 0));
    I(close(open(F("d/p"), O_RDONLY | O_CREAT, 0644)));
    I(poll(&p, 1, 1000));
    say("revents: %#x\n", p.revents);
    drain(fd, "after poll");
    blocking_fd = inotify_init1(0);
    int bwd = add(blocking_fd, "d", IN_CREATE);
    pthread_t t;
    pthread_create(&t, NULL, later_create, NULL);
    char bbuf[256] __attribute__((aligned(8)));
    long bn = read(blocking_fd, bbuf, sizeof bbuf);
    say("blocking read = %ld\n", bn);
    show_events(bbuf, bn);
    pthread_join(t, NULL);
    I(inotify_rm_watch(blocking_fd, bwd));
    I(inotify_rm_watch(blocking_fd, bwd));
    bn = read(blocking_fd, bbuf, sizeof bbuf);
    say("after rm_watch: read = %ld\n", bn);
    show_events(bbuf, bn);
    I(close(blocking_fd));
    I(inotify_rm_watch(fd, wd));
    drain(fd, "rm_watch of the directory");

    say("-- IN_ONESHOT, IN_MASK_ADD\n");
    put("one", "");
    add(fd, "one", IN_MODIFY | IN_ONESHOT);
    put("one", "a");
    put("one", "b");
    drain(fd, "oneshot");
    put("two", "");
    int w2 = add(fd, "two", IN_ATTRIB);
    add(fd, "two", IN_MODIFY | IN_MASK_ADD);
    I(chmod(F("two"), 0600));
    put("two", "x");
    drain(fd, "mask add");
    add(fd, "two", IN_CLOSE_WRITE);
    I(chmod(F("two"), 0644));
    put("two", "y");
    drain(fd, "mask replaced");
    I(inotify_rm_watch(fd, w2));
    drain(fd, "rm_watch");

    say("-- gone: a file, a directory, IN_EXCL_UNLINK\n");
    put("z", "");
    add(fd, "z", IN_ALL_EVENTS);
    I(unlink(F("z")));
    drain(fd, "unlinked file");
    put("zo", "");
    add(fd, "zo", IN_ALL_EVENTS);
    f = FD(open(F("zo"), O_RDONLY));
    I(unlink(F("zo")));
    drain(fd, "unlinked while open");
    I(close(f));
    drain(fd, "closed");
    I(mkdir(F("e"), 0755));
    add(fd, "e", IN_ALL_EVENTS);
    I(rmdir(F("e")));
    drain(fd, "removed directory");
    I(mkdir(F("m"), 0755));
    add(fd, "m", IN_ALL_EVENTS);
    I(rename(F("m"), F("m2")));
    DIR *dp = PTR(opendir(F("m2")));
    B(readdir(dp) != NULL);
    I(closedir(dp));
    I(chmod(F("m2"), 0700));
    I(rmdir(F("m2")));
    drain(fd, "moved, listed and removed directory");
    I(mkdir(F("x"), 0755));
    add(fd, "x", IN_DELETE | IN_MODIFY | IN_EXCL_UNLINK);
    f = FD(open(F("x/kept"), O_WRONLY | O_CREAT, 0644));
    I(unlink(F("x/kept")));
    I(write(f, "late", 4));
    I(close(f));
    drain(fd, "written after unlink");
    I(close(fd));
    return done();
}
