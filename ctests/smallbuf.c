/* smallbuf.c: small buffers that turn bad part way, as a remote kernel
 * reaches them through its shared channel's inline areas: a readlink
 * whose buffer runs from a good page into one that cannot be touched;
 * reads and writes ending at that edge or starting on a bad page; fstat, poll and epoll_wait whose struct or array
 * straddles that edge or lies in a read-only page; and the same calls
 * with buffers that end just before the edge. What each returns, and
 * the bytes that arrived, as the host kernel says; a read or write whose
 * buffer turns bad part way is a short count, in-process too. */
#include "check.h"
#include <poll.h>
#include <sys/epoll.h>
#include <sys/mman.h>

/* Bad pointers on purpose: the compiler may not see them coming. */
#pragma GCC diagnostic ignored "-Wnonnull"

int main(int argc, char **argv)
{
    setup(argc, argv);
    /* A read-write page followed by one that cannot be touched (kept
     * reserved, so no later mapping lands there), and a read-only page. */
    char *two = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    B(two != MAP_FAILED);
    I(mprotect(two + 4096, 4096, PROT_NONE));
    char *edge = two + 4096;
    char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    B(ro != MAP_FAILED);

    char data[100];
    for (int i = 0; i < 100; i++)
        data[i] = (char)('a' + i % 26);
    int fd = FD(open(F("f"), O_RDWR | O_CREAT | O_TRUNC, 0644));
    I(write(fd, data, sizeof data));

    say("read\n");
    I(lseek(fd, 0, SEEK_SET));
    I(read(fd, edge - 100, 100));
    show("arrived", edge - 100, 100);
    I(lseek(fd, 0, SEEK_SET));
    I(read(fd, ro, 10));
    I(read(fd, edge, 10));
    I(lseek(fd, 0, SEEK_SET));
    memset(edge - 50, '.', 50);
    I(read(fd, edge - 50, 100));
    show("short", edge - 50, 50);
    I(lseek(fd, 0, SEEK_CUR));

    say("write\n");
    memcpy(edge - 50, "0123456789", 10);
    I(lseek(fd, 0, SEEK_SET));
    I(write(fd, edge - 50, 50));
    I(write(fd, ro, 10));
    I(write(fd, edge, 10));
    I(lseek(fd, 0, SEEK_SET));
    I(write(fd, edge - 30, 60));
    I(lseek(fd, 0, SEEK_CUR));
    cat("f");

    say("readlink\n");
    I(symlink("a-link-target-that-is-forty-bytes-long..", F("l")));
    memset(edge - 20, '-', 20);
    I(readlink(F("l"), edge - 20, 40));
    I(readlink(F("l"), edge - 40, 40));
    show("link", edge - 40, 40);

    say("fstat\n");
    struct stat *st = (struct stat *)(edge - sizeof(struct stat) / 2);
    I(fstat(fd, st));
    I(fstat(fd, (struct stat *)ro));
    st = (struct stat *)(edge - sizeof(struct stat));
    I(fstat(fd, st));
    I(st->st_size);

    say("poll\n");
    I(mkfifo(F("p"), 0644));
    int p = FD(open(F("p"), O_RDWR));
    I(write(p, "x", 1));
    struct pollfd *pf = (struct pollfd *)(edge - sizeof(struct pollfd));
    *pf = (struct pollfd){ .fd = p, .events = POLLIN };
    I(poll(pf, 1, 0));
    I(pf->revents);
    I(poll(pf, 2, 0));
    I(poll((struct pollfd *)ro, 1, 0));

    say("epoll_wait\n");
    int ep = FD(epoll_create1(0));
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 7 };
    I(epoll_ctl(ep, EPOLL_CTL_ADD, p, &ev));
    struct epoll_event *evs = (struct epoll_event *)(edge - sizeof(struct epoll_event));
    /* Room for 4 declared, one event ready: it fits before the edge. */
    I(epoll_wait(ep, evs, 4, 0));
    I(evs->events);
    I(evs->data.u64);
    I(epoll_wait(ep, (struct epoll_event *)(edge - sizeof(struct epoll_event) / 2), 4, 0));
    I(epoll_wait(ep, (struct epoll_event *)ro, 4, 0));

    I(close(ep));
    I(close(p));
    I(close(fd));
    return done();
}
