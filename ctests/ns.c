/* ns.c: the namespace family: mkdir, rmdir, unlink, rename, link,
 * symlink, mkfifo/mknod, the working directory (chdir, fchdir, getcwd
 * and relative calls from inside the base), the temporary-name calls,
 * and remove. */
#include "check.h"
#include <stdio.h>

static void exists(const char *name)
{
    struct stat st;
    if (lstat(F(name), &st) != 0)
        say("  %s: %s\n", name, ename(errno));
    else
        say("  %s: %s nlink=%lu\n", name,
            S_ISREG(st.st_mode)   ? "file"
            : S_ISDIR(st.st_mode) ? "dir"
            : S_ISLNK(st.st_mode) ? "symlink"
            : S_ISFIFO(st.st_mode) ? "fifo"
                                   : "other",
            S_ISDIR(st.st_mode) ? 0UL : (unsigned long)st.st_nlink);
}

/* The working directory, relative to the base. */
static void cwd(void)
{
    char buf[PATH_MAX];
    char *p = getcwd(buf, sizeof buf);
    if (!p)
        say("getcwd = NULL %s\n", ename(errno));
    else
        say("getcwd = %s\n", rel(p));
}

/* A template made by mkstemp and friends: the prefix kept, the X's gone. */
static void tmpl(const char *t, const char *prefix, const char *suffix)
{
    size_t np = strlen(prefix), ns = strlen(suffix), n = strlen(t);
    int ok = n == np + 6 + ns && strncmp(t, prefix, np) == 0 && strcmp(t + n - ns, suffix) == 0 &&
             strncmp(t + np, "XXXXXX", 6) != 0;
    say("  name: %s%s\n", rel(prefix), ok ? "?????? (ok)" : t);
}

int main(int argc, char **argv)
{
    char buf[PATH_MAX];
    long long n;
    setup(argc, argv);
    int bfd = FD(open(base, O_RDONLY | O_DIRECTORY));

    /* mkdir, rmdir */
    I(mkdir(F("d"), 0755));
    I(mkdir(F("d"), 0755));
    I(mkdir(F("d/"), 0755));
    I(mkdir(F("nope/x"), 0755));
    I(mkdirat(bfd, "d2", 0700));
    I(mkdirat(bfd, "d2/e/", 0700));
    put("d/f", "x");
    I(mkdir(F("d/f/x"), 0755));
    I(rmdir(F("d")));
    I(rmdir(F("d/f")));
    I(rmdir(F("nope")));
    I(rmdir(F("d/.")));
    I(unlink(F("d")));
    I(unlink(F("d/f")));
    I(unlink(F("d/f")));
    I(rmdir(F("d")));
    exists("d");
    I(unlinkat(bfd, "d2", 0));
    I(unlinkat(bfd, "d2", AT_REMOVEDIR));
    I(unlinkat(bfd, "nope", 0));
    I(unlinkat(bfd, "x", 0x1));

    /* rename */
    put("a", "A");
    put("e", "E");
    I(rename(F("a"), F("b")));
    exists("a");
    exists("b");
    I(renameat(bfd, "b", bfd, "c"));
    I(renameat(AT_FDCWD, F("c"), bfd, "c2"));
    I(renameat2(AT_FDCWD, F("c2"), AT_FDCWD, F("e"), RENAME_NOREPLACE));
    I(renameat2(AT_FDCWD, F("c2"), AT_FDCWD, F("c3"), RENAME_NOREPLACE));
    I(rename(F("c3"), F("e")));
    cat("e");
    exists("c3");
    I(rename(F("nope"), F("x")));
    I(rename(F("e"), F("e")));
    I(mkdir(F("m"), 0755));
    I(mkdir(F("m/n"), 0755));
    I(mkdir(F("o"), 0755));
    put("o/p", "p");
    I(rename(F("e"), F("m")));
    I(rename(F("m"), F("e")));
    I(rename(F("m"), F("o")));
    I(rename(F("m"), F("m/n/m")));
    I(rename(F("m/n"), F("q")));
    exists("q");
    I(rename(F("q"), F("m")));
    exists("m");
    I(rename(F("e"), F("nope/e")));
    I(rename(F("e"), F("e/x")));

    /* link */
    I(link(F("e"), F("h")));
    exists("e");
    I(linkat(bfd, "e", bfd, "h2", 0));
    exists("h2");
    I(link(F("e"), F("h")));
    I(link(F("m"), F("mh")));
    I(link(F("nope"), F("x")));
    I(unlink(F("h")));
    exists("e");

    /* symlink */
    I(symlink("e", F("s")));
    I(symlinkat("../e", bfd, "m/s2"));
    I(symlink("e", F("s")));
    I(symlink("x", F("nope/s")));
    n = I(readlink(F("m/s2"), buf, sizeof buf));
    show("readlink", buf, n);
    exists("s");
    cat("m/s2");
    I(linkat(bfd, "s", bfd, "hs", 0));
    exists("hs");
    I(linkat(bfd, "s", bfd, "hf", AT_SYMLINK_FOLLOW));
    exists("hf");
    exists("e");
    I(rename(F("s"), F("s3")));
    exists("s3");
    I(unlink(F("s3")));
    exists("e");

    /* fifos and nodes */
    I(mkfifo(F("fifo"), 0644));
    exists("fifo");
    I(mkfifo(F("fifo"), 0644));
    I(mkfifoat(bfd, "fifo2", 0600));
    exists("fifo2");
    I(mknod(F("fifo3"), S_IFIFO | 0644, 0));
    exists("fifo3");
    I(mknodat(bfd, "reg", S_IFREG | 0644, 0));
    exists("reg");
    I(mknod(F("fifo3"), S_IFIFO | 0644, 0));
    I(unlink(F("fifo")));

    /* the working directory */
    I(chdir(base));
    cwd();
    I(mkdir("r", 0755));
    int fd = FD(open("r/x", O_WRONLY | O_CREAT, 0644));
    I(write(fd, "rel", 3));
    I(close(fd));
    exists("r/x");
    I(rename("r/x", "r/y"));
    I(link("r/y", "r/z"));
    I(symlink("y", "r/w"));
    n = I(readlink("r/w", buf, sizeof buf));
    show("readlink", buf, n);
    I(access("r/w", R_OK));
    struct stat st;
    I(stat("r/z", &st));
    I(st.st_size);
    I(chdir("r"));
    cwd();
    cat("r/w");
    fd = FD(open("w", O_RDONLY));
    n = I(read(fd, buf, sizeof buf));
    show("read", buf, n);
    I(close(fd));
    I(unlink("z"));
    I(chdir(".."));
    cwd();
    I(chdir("r/../r/./"));
    cwd();
    I(chdir("nope"));
    I(chdir("w"));
    cwd();
    I(chdir("y"));
    I(chdir(".."));
    cwd();
    int rfd = FD(open("r", O_RDONLY | O_DIRECTORY));
    I(chdir("m"));
    cwd();
    I(fchdir(rfd));
    cwd();
    I(access("y", F_OK));
    I(fchdir(bfd));
    cwd();
    I(close(rfd));
    I(fchdir(rfd));
    int ffd = FD(open("e", O_RDONLY));
    I(fchdir(ffd));
    I(close(ffd));
    cwd();
    I(rmdir("r"));
    I(unlink("r/y"));
    I(unlink("r/w"));
    I(rmdir("r"));
    exists("r");
    char *p = PTR(getcwd(buf, 3));
    (void)p;
    p = PTR(getcwd(NULL, 0));
    if (p)
        say("  = %s\n", rel(p));
    free(p);
    p = PTR(get_current_dir_name());
    if (p)
        say("  = %s\n", rel(p));
    free(p);
    I(chdir("/"));
    cwd();
    I(chdir(base));
    cwd();
    I(mkdirat(AT_FDCWD, "rel", 0755));
    I(symlinkat("x", AT_FDCWD, "rel/sl"));
    I(renameat(AT_FDCWD, "rel/sl", bfd, "sl"));
    I(unlinkat(AT_FDCWD, "sl", 0));
    I(unlinkat(AT_FDCWD, "rel", AT_REMOVEDIR));
    I(chdir("/"));

    /* temporary names */
    char t[PATH_MAX + 64];
    snprintf(t, sizeof t, "%s/tmpXXXXXX", base);
    fd = FD(mkstemp(t));
    tmpl(t, F("tmp"), "");
    I(write(fd, "tmp", 3));
    I(close(fd));
    I(access(t, R_OK | W_OK));
    I(stat(t, &st));
    say("  mode=%o size=%lld\n", (unsigned)st.st_mode, (long long)st.st_size);
    I(unlink(t));
    snprintf(t, sizeof t, "%s/tmpXXXXXX.txt", base);
    fd = FD(mkstemps(t, 4));
    tmpl(t, F("tmp"), ".txt");
    I(close(fd));
    I(unlink(t));
    snprintf(t, sizeof t, "%s/oXXXXXX", base);
    fd = FD(mkostemp(t, O_CLOEXEC));
    tmpl(t, F("o"), "");
    I(fcntl(fd, F_GETFD));
    I(close(fd));
    I(unlink(t));
    snprintf(t, sizeof t, "%s/dirXXXXXX", base);
    p = PTR(mkdtemp(t));
    tmpl(t, F("dir"), "");
    I(stat(t, &st));
    say("  mode=%o\n", (unsigned)st.st_mode);
    I(rmdir(t));
    snprintf(t, sizeof t, "%s/nope/tmpXXXXXX", base);
    I(mkstemp(t));
    snprintf(t, sizeof t, "%s/nope/tmpXXXXXX", base);
    PTR(mkdtemp(t));
    snprintf(t, sizeof t, "%s/badXXXXX", base);
    I(mkstemp(t));

    /* remove */
    I(remove(F("reg")));
    exists("reg");
    I(remove(F("m")));
    I(remove(F("o/p")));
    I(remove(F("o")));
    exists("o");
    I(remove(F("nope")));
    I(remove(F("fifo2")));
    I(remove(F("hs")));
    exists("hs");

    I(close(bfd));
    return done();
}
