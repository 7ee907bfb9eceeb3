/* dir.c: the directory family: opendir/readdir/closedir, fdopendir,
 * dirfd, rewinddir, telldir/seekdir, scandir with alphasort, and the
 * errors. Entries come in any order, so names are sorted before they
 * are printed. */
#include "check.h"
#include <dirent.h>

/* A DIR that should have opened but did not leaves the rest of the
 * transcript to show the difference instead of crashing on NULL. */
#define readdir(d) ((d) ? readdir(d) : NULL)
#define closedir(d) ((d) ? closedir(d) : (errno = EBADF, -1))
#define rewinddir(d) ((d) ? rewinddir(d) : (void)0)
#define telldir(d) ((d) ? telldir(d) : -1L)
#define seekdir(d, pos) ((d) ? seekdir(d, pos) : (void)0)
#define dirfd(d) ((d) ? dirfd(d) : (errno = EBADF, -1))

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static const char *dtype(unsigned char t)
{
    switch (t) {
    case DT_REG: return "reg";
    case DT_DIR: return "dir";
    case DT_LNK: return "lnk";
    case DT_FIFO: return "fifo";
    case DT_UNKNOWN: return "unknown";
    default: return "other";
    }
}

/* Reads `d` to its end and prints the sorted names with their types
 * (only the first `show_max`, then a count). Returns the count. */
static int list(const char *what, DIR *d, int show_max)
{
    char *names[512];
    int n = 0;
    struct dirent *e;
    errno = 0;
    while (n < 512 && (e = readdir(d)) != NULL) {
        char *s = malloc(strlen(e->d_name) + 16);
        sprintf(s, "%s(%s)", e->d_name, dtype(e->d_type));
        names[n++] = s;
    }
    int err = errno;
    qsort(names, (size_t)n, sizeof names[0], cmp);
    say("%s: %d entries%s%s\n", what, n, err ? ", errno " : "", err ? ename(err) : "");
    for (int i = 0; i < n; i++) {
        if (i < show_max)
            say("  %s\n", names[i]);
        free(names[i]);
    }
    return n;
}

static int no_dots(const struct dirent *e) { return e->d_name[0] != '.'; }

int main(int argc, char **argv)
{
    setup(argc, argv);
    put("a", "a");
    put("b", "bb");
    put("c", "ccc");
    I(mkdir(F("sub"), 0755));
    I(mkdir(F("empty"), 0755));
    I(symlink("a", F("link")));
    I(mkfifo(F("fifo"), 0644));
    I(mkdir(F("many"), 0755));
    for (int i = 0; i < 150; i++) {
        char name[64];
        snprintf(name, sizeof name, "many/entry-with-a-longish-name-%03d", i);
        put(name, "");
    }

    /* opendir, readdir, closedir */
    DIR *d = PTR(opendir(base));
    list("readdir base", d, 100);
    struct dirent *e;
    e = readdir(d);
    B(e == NULL);
    I(closedir(d));

    d = PTR(opendir(F("empty")));
    list("readdir empty", d, 100);
    I(closedir(d));

    d = PTR(opendir(F("many")));
    int n = list("readdir many", d, 3);
    rewinddir(d);
    say("rewinddir\n");
    I(list("readdir many again", d, 0) == n);

    /* telldir/seekdir round trip */
    rewinddir(d);
    for (int i = 0; i < 40; i++)
        readdir(d);
    long pos = telldir(d);
    B(pos >= 0);
    e = readdir(d);
    char name[256] = "";
    if (e)
        snprintf(name, sizeof name, "%s", e->d_name);
    for (int i = 0; i < 50; i++)
        readdir(d);
    seekdir(d, pos);
    say("seekdir\n");
    e = readdir(d);
    B(e && strcmp(e->d_name, name) == 0);
    rewinddir(d);
    pos = telldir(d);
    e = readdir(d);
    snprintf(name, sizeof name, "%s", e ? e->d_name : "");
    seekdir(d, pos);
    e = readdir(d);
    B(e && strcmp(e->d_name, name) == 0);

    /* dirfd */
    int dfd = FD(dirfd(d));
    struct stat st;
    I(fstat(dfd, &st));
    B(S_ISDIR(st.st_mode));
    I(fstatat(dfd, "entry-with-a-longish-name-007", &st, 0));
    I(closedir(d));

    /* fdopendir: the DIR owns the fd */
    int fd = FD(open(F("sub"), O_RDONLY | O_DIRECTORY));
    put("sub/x", "x");
    put("sub/y", "y");
    d = PTR(fdopendir(fd));
    B(dirfd(d) == fd);
    list("fdopendir sub", d, 100);
    I(closedir(d));
    I(close(fd));
    fd = FD(open(base, O_RDONLY | O_DIRECTORY));
    I(lseek(fd, 0, SEEK_SET));
    d = PTR(fdopendir(fd));
    list("fdopendir base", d, 100);
    I(closedir(d));
    fd = FD(open(F("a"), O_RDONLY));
    PTR(fdopendir(fd));
    I(close(fd));
    PTR(fdopendir(fd));
    fd = FD(open(F("sub"), O_WRONLY));

    /* errors */
    PTR(opendir(F("a")));
    PTR(opendir(F("nope")));
    PTR(opendir(F("a/x")));
    PTR(opendir(""));
    d = PTR(opendir(F("link")));
    d = PTR(opendir(F("sub/")));
    list("readdir sub/", d, 100);
    I(closedir(d));

    /* scandir */
    struct dirent **ents;
    n = (int)I(scandir(base, &ents, NULL, alphasort));
    for (int i = 0; i < n; i++) {
        say("  %s\n", ents[i]->d_name);
        free(ents[i]);
    }
    if (n >= 0)
        free(ents);
    n = (int)I(scandir(F("sub"), &ents, no_dots, alphasort));
    for (int i = 0; i < n; i++) {
        say("  %s\n", ents[i]->d_name);
        free(ents[i]);
    }
    if (n >= 0)
        free(ents);
    n = (int)I(scandir(F("many"), &ents, no_dots, alphasort));
    for (int i = 0; i < n; i++) {
        if (i < 2 || i == n - 1)
            say("  %s\n", ents[i]->d_name);
        free(ents[i]);
    }
    if (n >= 0)
        free(ents);
    I(scandir(F("nope"), &ents, NULL, alphasort));
    I(scandir(F("a"), &ents, NULL, alphasort));
    fd = FD(open(base, O_RDONLY | O_DIRECTORY));
    n = (int)I(scandirat(fd, "sub", &ents, no_dots, alphasort));
    for (int i = 0; i < n; i++) {
        say("  %s\n", ents[i]->d_name);
        free(ents[i]);
    }
    if (n >= 0)
        free(ents);
    I(close(fd));

    /* a directory read from inside it */
    I(chdir(base));
    d = PTR(opendir("."));
    list("readdir .", d, 100);
    I(closedir(d));
    d = PTR(opendir("sub"));
    list("readdir sub", d, 100);
    I(closedir(d));
    I(chdir("/"));

    /* entries removed while the directory is open: gone on the next pass */
    d = PTR(opendir(F("sub")));
    I(unlink(F("sub/x")));
    rewinddir(d);
    list("after unlink", d, 100);
    I(closedir(d));
    return done();
}
