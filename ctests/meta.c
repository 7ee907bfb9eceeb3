/* meta.c: the metadata family: the stat calls and statx, access,
 * readlink, chmod and chown, timestamps, statvfs, pathconf, xattrs,
 * realpath, and the path errors (ENOENT, ENOTDIR, ELOOP). Only the
 * fields every kernel agrees on are printed. */
#include "check.h"
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <utime.h>

/* The kernel-independent part of a stat: type and permissions, links,
 * size (not for directories), owner (as "me" when it is ours). */
static void pst(const char *what, int r, const struct stat *st)
{
    if (r != 0)
        return;
    char sz[32] = "-";
    if (!S_ISDIR(st->st_mode))
        snprintf(sz, sizeof sz, "%lld", (long long)st->st_size);
    say("  %s: mode=%o nlink=%lu size=%s uid=%s gid=%s\n", what, (unsigned)st->st_mode,
        (unsigned long)st->st_nlink, sz, st->st_uid == getuid() ? "me" : "other",
        st->st_gid == getgid() ? "me" : "other");
}

static void ptimes_(const char *what, const char *path, int atime)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        say("  %s: lstat %s\n", what, ename(errno));
        return;
    }
    if (atime)
        say("  %s: atime=%lld.%09ld\n", what, (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec);
    say("  %s: mtime=%lld.%09ld\n", what, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

#define ptimes(what, path) ptimes_(what, path, 1)

#define ST(call, st) pst(#call, (int)ck_int(#call, (long long)(call)), &(st))

int main(int argc, char **argv)
{
    struct stat st;
    char buf[256];
    long long n;
    setup(argc, argv);

    put("f", "hello");
    I(chmod(F("f"), 0640));
    I(mkdir(F("d"), 0755));
    I(mkdir(F("d/sub"), 0700));
    I(symlink("f", F("l")));
    I(symlink("./d", F("dl")));
    I(symlink("loop", F("loop")));
    I(symlink("nowhere", F("dangling")));
    I(mkfifo(F("fifo"), 0600));

    /* the stat family */
    ST(stat(F("f"), &st), st);
    ST(stat(F("d"), &st), st);
    ST(stat(F("d/sub"), &st), st);
    ST(stat(F("l"), &st), st);
    ST(lstat(F("l"), &st), st);
    ST(lstat(F("dl"), &st), st);
    ST(stat(F("dl/"), &st), st);
    ST(lstat(F("dl/"), &st), st);
    ST(stat(F("fifo"), &st), st);
    ST(stat(base, &st), st);
    ST(stat(F("dangling"), &st), st);
    ST(lstat(F("dangling"), &st), st);
    int fd = FD(open(F("f"), O_RDWR));
    int dfd = FD(open(F("d"), O_RDONLY | O_DIRECTORY));
    int bfd = FD(open(base, O_RDONLY | O_DIRECTORY));
    ST(fstat(fd, &st), st);
    ST(fstat(dfd, &st), st);
    ST(fstatat(bfd, "f", &st, 0), st);
    ST(fstatat(bfd, "l", &st, AT_SYMLINK_NOFOLLOW), st);
    ST(fstatat(bfd, "l", &st, 0), st);
    ST(fstatat(AT_FDCWD, F("dl"), &st, AT_SYMLINK_NOFOLLOW), st);
    ST(fstatat(fd, "", &st, AT_EMPTY_PATH), st);
    ST(fstatat(dfd, "sub", &st, 0), st);
    ST(fstatat(dfd, "..", &st, 0), st);
    I(fstatat(fd, "x", &st, 0));
    I(fstatat(bfd, "f", &st, 0x40000000));
    I(fstatat(fd, "", &st, 0));

    struct statx sx;
    if (I(statx(AT_FDCWD, F("f"), 0, STATX_BASIC_STATS, &sx)) == 0)
        say("  statx: mask&basic=%x mode=%o nlink=%u size=%llu\n", sx.stx_mask & STATX_BASIC_STATS,
            (unsigned)sx.stx_mode, sx.stx_nlink, (unsigned long long)sx.stx_size);
    if (I(statx(bfd, "l", AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx)) == 0)
        say("  statx: mode=%o size=%llu\n", (unsigned)sx.stx_mode, (unsigned long long)sx.stx_size);
    if (I(statx(fd, "", AT_EMPTY_PATH, STATX_SIZE, &sx)) == 0)
        say("  statx: size=%llu\n", (unsigned long long)sx.stx_size);
    I(statx(AT_FDCWD, F("nope"), 0, STATX_BASIC_STATS, &sx));

    /* path errors */
    I(stat(F("nope"), &st));
    I(stat(F("nope/x"), &st));
    I(stat(F("f/x"), &st));
    I(stat(F("f/"), &st));
    I(stat(F("loop"), &st));
    I(stat(F("loop/x"), &st));
    ST(lstat(F("loop"), &st), st);
    I(stat("", &st));
    I(lstat(F("l/"), &st));
    I(open(F("loop"), O_RDONLY));
    I(open(F("l"), O_RDONLY | O_NOFOLLOW));

    /* access */
    I(access(F("f"), F_OK));
    I(access(F("f"), R_OK | W_OK));
    I(access(F("f"), X_OK));
    I(access(F("d"), X_OK));
    I(access(F("nope"), F_OK));
    I(access(F("f/x"), F_OK));
    I(access(F("dangling"), F_OK));
    I(access(F("f"), 0x40));
    I(faccessat(bfd, "f", R_OK, 0));
    I(faccessat(dfd, "sub", W_OK, 0));
    I(faccessat(AT_FDCWD, F("dangling"), F_OK, AT_SYMLINK_NOFOLLOW));
    I(faccessat(bfd, "f", R_OK, AT_EACCESS));
    I(eaccess(F("f"), R_OK));

    /* readlink */
    memset(buf, 0, sizeof buf);
    n = I(readlink(F("l"), buf, sizeof buf));
    show("readlink", buf, n);
    n = I(readlink(F("dl"), buf, sizeof buf));
    show("readlink", buf, n);
    memset(buf, '#', sizeof buf);
    n = I(readlink(F("dl"), buf, 2));
    show("readlink (truncated)", buf, 3);
    n = I(readlinkat(bfd, "dangling", buf, sizeof buf));
    show("readlinkat", buf, n);
    I(readlink(F("f"), buf, sizeof buf));
    I(readlink(F("nope"), buf, sizeof buf));
    I(readlinkat(bfd, "f", buf, sizeof buf));
    I(readlink(F("l"), buf, 0));

    /* chmod */
    I(chmod(F("f"), 0600));
    ST(stat(F("f"), &st), st);
    I(chmod(F("l"), 0604));
    ST(stat(F("f"), &st), st);
    ST(lstat(F("l"), &st), st);
    I(fchmod(fd, 0644));
    ST(fstat(fd, &st), st);
    I(fchmod(dfd, 01777));
    ST(fstat(dfd, &st), st);
    I(fchmodat(bfd, "f", 0640, 0));
    ST(stat(F("f"), &st), st);
    I(fchmodat(AT_FDCWD, F("f"), 0600, AT_SYMLINK_NOFOLLOW));
    ST(stat(F("f"), &st), st);
    I(fchmodat(AT_FDCWD, F("l"), 0600, AT_SYMLINK_NOFOLLOW));
    ST(lstat(F("l"), &st), st);
    I(chmod(F("nope"), 0600));
    I(chmod(F("f"), 04755));
    ST(stat(F("f"), &st), st);
    I(chmod(F("f"), 0644));

    /* chown to ourselves */
    I(chown(F("f"), getuid(), getgid()));
    I(chown(F("f"), -1, -1));
    I(lchown(F("l"), getuid(), getgid()));
    I(fchown(fd, getuid(), -1));
    I(fchownat(bfd, "d", -1, getgid(), 0));
    I(fchownat(bfd, "dangling", getuid(), getgid(), AT_SYMLINK_NOFOLLOW));
    I(chown(F("dangling"), getuid(), getgid()));
    ST(stat(F("f"), &st), st);

    /* timestamps */
    struct timespec ts[2] = {{1000000000, 5}, {1200000000, 700}};
    I(utimensat(AT_FDCWD, F("f"), ts, 0));
    ptimes("f", F("f"));
    struct timespec ts2[2] = {{1300000000, 0}, {0, UTIME_OMIT}};
    I(futimens(fd, ts2));
    ptimes("f", F("f"));
    struct timespec ts3[2] = {{0, UTIME_OMIT}, {1400000000, 123456789}};
    I(utimensat(bfd, "l", ts3, AT_SYMLINK_NOFOLLOW));
    ptimes_("l", F("l"), 0);
    ptimes("f", F("f"));
    I(utimensat(bfd, "l", ts, 0));
    ptimes("f", F("f"));
    struct timeval tv[2] = {{1100000000, 1}, {1100000001, 2}};
    I(utimes(F("f"), tv));
    ptimes("f", F("f"));
    struct utimbuf ub = {1500000000, 1500000001};
    I(utime(F("f"), &ub));
    ptimes("f", F("f"));
    I(futimes(fd, tv));
    ptimes("f", F("f"));
    I(lutimes(F("l"), tv));
    ptimes("l", F("l"));
    I(utimensat(AT_FDCWD, F("nope"), ts, 0));
    struct timespec bad[2] = {{0, 2000000000}, {0, 0}};
    I(utimensat(AT_FDCWD, F("f"), bad, 0));
    I(utimensat(AT_FDCWD, F("f"), NULL, 0));
    I(fstat(fd, &st));
    B(st.st_mtim.tv_sec > 1500000000);

    /* statvfs, pathconf */
    struct statvfs sv;
    if (I(statvfs(base, &sv)) == 0)
        say("  f_bsize>0: %s\n", sv.f_bsize > 0 ? "ok" : "no");
    if (I(fstatvfs(fd, &sv)) == 0)
        say("  f_bsize>0: %s\n", sv.f_bsize > 0 ? "ok" : "no");
    I(statvfs(F("nope"), &sv));
    I(pathconf(F("f"), _PC_NAME_MAX));
    I(fpathconf(dfd, _PC_NAME_MAX));
    I(pathconf(F("nope"), _PC_NAME_MAX));

    /* xattrs: host tmpfs and the rump kernel fail differently; only
     * whether the call failed is printed */
    B(getxattr(F("f"), "user.x", buf, sizeof buf) < 0);
    B(lgetxattr(F("l"), "user.x", buf, sizeof buf) < 0);
    B(fgetxattr(fd, "user.x", buf, sizeof buf) < 0);
    B(getxattr(F("nope"), "user.x", buf, sizeof buf) < 0);

    /* realpath, shown relative to the base's own */
    char *rb = PTR(realpath(base, NULL));
    char *rp = PTR(realpath(F("dl/../l"), NULL));
    say("  -> %s\n", rel_to(rb ? rb : base, rp));
    free(rp);
    rp = PTR(realpath(F("d/sub/../../dl/./sub/"), NULL));
    say("  -> %s\n", rel_to(rb ? rb : base, rp));
    free(rp);
    char rbuf[PATH_MAX];
    rp = PTR(realpath(F("dl"), rbuf));
    say("  -> %s\n", rel_to(rb ? rb : base, rp));
    rp = PTR(canonicalize_file_name(F("l")));
    say("  -> %s\n", rel_to(rb ? rb : base, rp));
    free(rp);
    PTR(realpath(F("dangling"), NULL));
    PTR(realpath(F("loop"), NULL));
    PTR(realpath(F("f/x"), NULL));
    PTR(realpath(F("nope/.."), NULL));
    free(rb);

    I(close(fd));
    I(close(dfd));
    I(close(bfd));
    return done();
}
