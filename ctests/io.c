/* io.c: the file I/O family: the open family, read and write in their
 * forms, lseek, the dup family and fcntl fd flags, close, truncation,
 * sync, fadvise/fallocate, and the errors tools meet. */
#include "check.h"
#include <sys/mman.h>
#include <sys/uio.h>

/* an fd number nothing here opens */
#define BADFD 1000

int main(int argc, char **argv)
{
    char buf[128];
    long long n;
    setup(argc, argv);

    /* open, write, seek, read */
    int fd = FD(open(F("a"), O_RDWR | O_CREAT | O_TRUNC, 0644));
    I(write(fd, "hello world\n", 12));
    I(lseek(fd, 0, SEEK_CUR));
    I(lseek(fd, -6, SEEK_CUR));
    n = I(read(fd, buf, sizeof buf));
    show("read", buf, n);
    I(read(fd, buf, sizeof buf));
    I(lseek(fd, 0, SEEK_SET));
    n = I(read(fd, buf, 5));
    show("read", buf, n);
    I(lseek(fd, -2, SEEK_CUR));
    n = I(read(fd, buf, 3));
    show("read", buf, n);
    I(lseek(fd, 0, SEEK_END));
    I(lseek(fd, -3, SEEK_END));
    I(lseek(fd, 4, SEEK_END));
    I(lseek(fd, -100, SEEK_CUR));
    I(lseek(fd, -1, SEEK_SET));
    I(lseek(fd, 0, 42));
    I(lseek(fd, 0, SEEK_CUR));

    /* pread/pwrite leave the offset alone */
    I(lseek(fd, 7, SEEK_SET));
    I(pwrite(fd, "HE", 2, 0));
    n = I(pread(fd, buf, 5, 0));
    show("pread", buf, n);
    I(pread(fd, buf, 5, 100));
    I(pread(fd, buf, 5, -1));
    I(lseek(fd, 0, SEEK_CUR));

    /* readv/writev and the positioned forms */
    struct iovec wv[2] = {{"abc", 3}, {"defg", 4}};
    I(lseek(fd, 0, SEEK_SET));
    I(writev(fd, wv, 2));
    I(lseek(fd, 0, SEEK_CUR));
    char r1[2], r2[4];
    struct iovec rv[2] = {{r1, 2}, {r2, 4}};
    I(lseek(fd, 1, SEEK_SET));
    I(readv(fd, rv, 2));
    show("readv[0]", r1, 2);
    show("readv[1]", r2, 4);
    I(pwritev(fd, wv, 2, 12));
    memset(r2, 0, sizeof r2);
    I(preadv(fd, rv, 2, 11));
    show("preadv[0]", r1, 2);
    show("preadv[1]", r2, 4);
    /* a negative offset is EINVAL, and one past 4 GiB is not cut to 32 bits */
    I(preadv(fd, rv, 2, -5));
    I(pwritev(fd, wv, 2, -2));
    I(preadv(fd, rv, 2, 0x100000000LL));
    I(lseek(fd, 0, SEEK_CUR));
    I(lseek(fd, 0, SEEK_END));
    I(writev(fd, wv, 0));
    volatile int neg = -1;
    I(readv(fd, rv, neg));

    /* openat, creat */
    int dfd = FD(open(base, O_RDONLY | O_DIRECTORY));
    int b = FD(openat(dfd, "b", O_WRONLY | O_CREAT | O_EXCL, 0600));
    I(write(b, "bee", 3));
    I(close(b));
    b = FD(openat(AT_FDCWD, F("b"), O_RDONLY));
    n = I(read(b, buf, sizeof buf));
    show("read b", buf, n);
    I(close(b));
    I(openat(dfd, "nope", O_RDONLY));
    int c = FD(creat(F("c"), 0644));
    I(write(c, "sea", 3));
    I(read(c, buf, 1));
    I(close(c));
    c = FD(creat(F("c"), 0644));
    I(lseek(c, 0, SEEK_END));
    I(close(c));

    /* O_APPEND */
    int ap = FD(open(F("b"), O_WRONLY | O_APPEND));
    I(lseek(ap, 0, SEEK_SET));
    I(write(ap, "+end", 4));
    I(lseek(ap, 0, SEEK_CUR));
    I(pwrite(ap, "P", 1, 0));
    I(close(ap));
    cat("b");

    /* O_TRUNC of an existing file */
    int t = FD(open(F("b"), O_RDWR | O_TRUNC));
    I(lseek(t, 0, SEEK_END));
    I(close(t));

    /* open errors */
    I(open(F("a"), O_WRONLY | O_CREAT | O_EXCL, 0644));
    I(open(F("a"), O_RDONLY | O_DIRECTORY));
    I(open(F("nope"), O_RDONLY));
    I(open(F("a/x"), O_RDONLY));
    I(open(F("nope/x"), O_RDONLY | O_CREAT, 0644));
    I(mkdir(F("d"), 0755));
    I(open(F("d"), O_WRONLY));
    I(open(F("d"), O_RDWR));
    I(open(F("d"), O_RDONLY | O_CREAT, 0644));
    int dd = FD(open(F("d"), O_RDONLY));
    I(read(dd, buf, sizeof buf));
    I(write(dd, "x", 1));
    I(close(dd));
    I(open(F("d/"), O_RDONLY | O_DIRECTORY) >= 0);
    I(open(F("a/"), O_RDONLY));

    /* dup: a shared offset */
    int d = FD(dup(fd));
    I(lseek(fd, 3, SEEK_SET));
    I(lseek(d, 0, SEEK_CUR));
    I(read(d, buf, 2));
    I(lseek(fd, 0, SEEK_CUR));
    I(fcntl(d, F_GETFD));

    /* dup2 onto 0, then back */
    int s0 = fcntl(0, F_DUPFD, 10);
    I(s0 >= 10);
    I(dup2(fd, 0));
    I(lseek(0, 0, SEEK_SET));
    n = I(read(0, buf, 5));
    show("read 0", buf, n);
    I(lseek(fd, 0, SEEK_CUR));
    I(dup2(s0, 0));
    I(close(s0));
    I(lseek(0, 0, SEEK_CUR));

    /* dup2 onto 1 (the transcript is held meanwhile), then back */
    int s1 = fcntl(1, F_DUPFD, 10);
    hold();
    I(s1 >= 10);
    I(dup2(fd, 1));
    I(lseek(1, 0, SEEK_END));
    I(write(1, "|via1", 5));
    I(dup2(s1, 1));
    release();
    I(close(s1));
    I(lseek(fd, -5, SEEK_END));
    n = I(read(fd, buf, 5));
    show("read", buf, n);

    /* dup2 onto 2, write, close it, restore */
    int s2 = fcntl(2, F_DUPFD, 10);
    I(s2 >= 10);
    I(dup2(fd, 2));
    I(write(2, "|via2", 5));
    I(close(2));
    I(write(2, "x", 1));
    I(dup2(s2, 2));
    I(close(s2));
    I(lseek(fd, -5, SEEK_END));
    n = I(read(fd, buf, 5));
    show("read", buf, n);

    /* dup2 of an fd onto itself, onto a closed fd, of a closed fd */
    I(dup2(fd, fd) == fd);
    I(dup2(fd, 40));
    I(lseek(40, 0, SEEK_CUR) == lseek(fd, 0, SEEK_CUR));
    I(close(40));
    I(dup2(40, 41));
    I(dup2(fd, -1));

    /* dup3 and close-on-exec */
    I(dup3(fd, 20, O_CLOEXEC));
    I(fcntl(20, F_GETFD));
    I(fcntl(20, F_SETFD, 0));
    I(fcntl(20, F_GETFD));
    I(dup3(fd, 20, 0));
    I(fcntl(20, F_GETFD));
    I(dup3(fd, fd, 0));
    I(dup3(fd, 21, 0x40000000));
    I(close(20));
    int dc = (int)I(fcntl(fd, F_DUPFD_CLOEXEC, 30));
    I(dc >= 30);
    I(fcntl(dc, F_GETFD));
    I(fcntl(fd, F_GETFD));
    I(close(dc));
    int df = fcntl(fd, F_DUPFD, 0);
    I(df >= 0);
    I(fcntl(df, F_GETFD));
    I(fcntl(fd, F_GETFL) & O_ACCMODE);
    I(close(df));

    /* close, then EBADF */
    I(close(d));
    I(close(d));
    I(read(d, buf, 1));
    I(write(d, buf, 1));
    I(lseek(d, 0, SEEK_SET));
    I(fcntl(d, F_GETFD));
    I(dup(d));
    I(read(-1, buf, 1));

    /* truncate */
    I(ftruncate(fd, 4));
    I(lseek(fd, 0, SEEK_END));
    I(truncate(F("a"), 100));
    I(lseek(fd, 0, SEEK_END));
    I(truncate(F("a"), 6));
    I(pread(fd, buf, sizeof buf, 0));
    I(truncate(F("nope"), 1));
    I(truncate(F("d"), 1));
    I(ftruncate(fd, -1));
    int ro = FD(open(F("a"), O_RDONLY));
    I(ftruncate(ro, 1));
    I(write(ro, "x", 1));

    /* sync */
    I(fsync(fd));
    I(fdatasync(fd));
    I(fsync(ro));

    /* fadvise and fallocate return an errno value */
    EV(posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL));
    EV(posix_fadvise(ro, 0, 0, POSIX_FADV_DONTNEED));
    EV(posix_fadvise(fd, 0, 0, 99));
    EV(posix_fadvise(fd, 0, -1, POSIX_FADV_NORMAL));
    EV(posix_fadvise(BADFD, 0, 0, POSIX_FADV_NORMAL));
    I(lseek(fd, 2, SEEK_SET));
    EV(posix_fallocate(fd, 0, 200));
    I(lseek(fd, 0, SEEK_CUR));
    I(lseek(fd, 0, SEEK_END));
    EV(posix_fallocate(fd, 0, 10));
    I(lseek(fd, 0, SEEK_END));
    EV(posix_fallocate(fd, 0, 0));
    EV(posix_fallocate(fd, -1, 10));
    EV(posix_fallocate(ro, 0, 300));
    EV(posix_fallocate(BADFD, 0, 10));
    EV(posix_fadvise(dfd, 0, 0, POSIX_FADV_NORMAL));
    EV(posix_fallocate(dfd, 0, 10));
    I(close(ro));

    /* preadv2/pwritev2 without flags */
    I(pwritev2(fd, wv, 2, 0, 0));
    memset(r2, 0, sizeof r2);
    I(preadv2(fd, rv, 2, 1, 0));
    show("preadv2[0]", r1, 2);
    show("preadv2[1]", r2, 4);
    I(lseek(fd, 0, SEEK_SET));
    I(preadv2(fd, rv, 2, -1, 0));
    I(lseek(fd, 0, SEEK_CUR));

    /* file status flags */
    I(fcntl(fd, F_GETFL) & (O_APPEND | O_NONBLOCK));
    I(fcntl(fd, F_SETFL, O_APPEND | O_NONBLOCK));
    I(fcntl(fd, F_GETFL) & (O_APPEND | O_NONBLOCK | O_ACCMODE));
    I(fcntl(fd, F_SETFL, 0));
    I(fcntl(fd, F_GETFL) & (O_APPEND | O_NONBLOCK));

    /* not a terminal */
    errno = 0;
    I(isatty(fd));
    say("  errno %s\n", ename(errno));
    errno = 0;
    I(isatty(dfd));
    say("  errno %s\n", ename(errno));

    /* mmap of a file: private and read-only shared mappings */
    I(pwrite(fd, "mapped!", 7, 0));
    char *m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    B(m != MAP_FAILED);
    if (m != MAP_FAILED) {
        show("mmap private", m, 7);
        I(munmap(m, 4096));
    }
    m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    B(m != MAP_FAILED);
    if (m != MAP_FAILED) {
        show("mmap shared", m, 7);
        I(munmap(m, 4096));
    }
    m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    B(m != MAP_FAILED);
    if (m != MAP_FAILED) {
        m[0] = 'M';
        show("mmap private, written", m, 7);
        I(munmap(m, 4096));
    }
    n = I(pread(fd, buf, 7, 0));
    show("the file", buf, n);
    B(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, BADFD, 0) == MAP_FAILED);

    /* close_range */
    I(dup2(fd, 50));
    I(dup2(fd, 51));
    I(dup2(fd, 52));
    I(close_range(51, 52, CLOSE_RANGE_CLOEXEC));
    I(fcntl(51, F_GETFD));
    I(fcntl(50, F_GETFD));
    I(close_range(50, 52, 0));
    I(fcntl(50, F_GETFD));
    I(fcntl(52, F_GETFD));
    I(lseek(fd, 0, SEEK_CUR));

    /* bad pointers are EFAULT, not a crash */
    char *volatile nul = NULL;
    I(lseek(fd, 0, SEEK_SET));
    I(read(fd, nul, 10));
    I(write(fd, nul, 10));
    I(pread(fd, nul, 10, 0));
    I(open(nul, O_RDONLY));
    I(lseek(fd, 0, SEEK_CUR));

    I(close(fd));
    I(close(dfd));
    return done();
}
