/* stdio.c: the stdio family on files: fopen in every mode, the write
 * and read calls, seeking, fileno/fdopen, freopen of stdout onto a file
 * and back, and fclose. */
#include "check.h"
#include <sys/wait.h>

/* A stream the rest of a section can use when an fopen that should work
 * failed: the transcript goes on (and shows the difference) instead of
 * the program crashing on NULL. */
static FILE *stream(const char *what, FILE *f)
{
    ck_ptr(what, f);
    return f ? f : fopen("/dev/null", "r+");
}

/* An fopen or fdopen expected to work. */
#define ST(expr) stream(#expr, (expr))

/* Reads the rest of `f` with fgets and prints each line. */
static void lines(const char *what, FILE *f)
{
    char buf[256];
    while (fgets(buf, sizeof buf, f))
        show(what, buf, (long long)strlen(buf));
    say("%s: feof=%d ferror=%d\n", what, feof(f) != 0, ferror(f) != 0);
}

int main(int argc, char **argv)
{
    char buf[256];
    long long n;
    setup(argc, argv);

    /* "w": write calls, ftell, fflush */
    FILE *f = ST(fopen(F("f"), "w"));
    I(fprintf(f, "x=%d\n", 42));
    I(fputs("line two\n", f) >= 0);
    I(fwrite("abc", 1, 3, f));
    S(fputc('\n', f));
    I(ftell(f));
    I(fflush(f));
    cat("f");
    I(fputs("more\n", f) >= 0);
    I(fclose(f));
    cat("f");

    /* "r": fgets, getline, fread, feof, fseek, ftell, rewind, fgetc */
    f = ST(fopen(F("f"), "r"));
    I(fileno(f) >= 0);
    char *p = PTR(fgets(buf, sizeof buf, f));
    show("fgets", buf, p ? (long long)strlen(buf) : -1);
    char *line = NULL;
    size_t cap = 0;
    n = I(getline(&line, &cap, f));
    show("getline", line, n);
    n = I(fread(buf, 1, sizeof buf, f));
    show("fread", buf, n);
    B(feof(f));
    S(fgetc(f));
    I(ftell(f));
    I(fseek(f, 2, SEEK_SET));
    S(fgetc(f));
    I(ftell(f));
    B(feof(f));
    I(fseek(f, -5, SEEK_END));
    n = I(fread(buf, 1, 3, f));
    show("fread", buf, n);
    I(fseek(f, -2, SEEK_CUR));
    S(fgetc(f));
    I(fseek(f, -100, SEEK_SET));
    rewind(f);
    say("rewind\n");
    I(ftell(f));
    S(ungetc('Z', f));
    S(fgetc(f));
    int v = 0;
    S(fscanf(f, "=%d", &v));
    I(v);
    n = I(getdelim(&line, &cap, 'w', f));
    show("getdelim", line, n);
    I(fseeko(f, 0, SEEK_END));
    I(ftello(f));
    I(fputs("x", f));
    B(ferror(f));
    clearerr(f);
    B(ferror(f));
    I(fclose(f));
    free(line);

    /* "a": appends whatever the position */
    f = ST(fopen(F("f"), "a"));
    I(ftell(f));
    I(fputs("tail\n", f) >= 0);
    I(fseek(f, 0, SEEK_SET));
    I(fputs("tail2\n", f) >= 0);
    I(fflush(f));
    I(ftell(f));
    I(fgetc(f));
    I(fclose(f));
    cat("f");
    f = ST(fopen(F("new-a"), "a"));
    I(fclose(f));
    cat("new-a");

    /* "r+": overwrite in place */
    f = ST(fopen(F("f"), "r+"));
    I(fputs("X", f) >= 0);
    I(fseek(f, 0, SEEK_SET));
    p = PTR(fgets(buf, sizeof buf, f));
    show("fgets", buf, p ? (long long)strlen(buf) : -1);
    I(fseek(f, 0, SEEK_CUR));
    I(fputs("Y", f) >= 0);
    I(fclose(f));
    cat("f");
    PTR(fopen(F("nope"), "r+"));

    /* "w+": truncates, reads back */
    f = ST(fopen(F("f"), "w+"));
    I(ftell(f));
    I(fprintf(f, "%s %d\n", "w+", 7));
    rewind(f);
    lines("w+", f);
    I(fclose(f));

    /* "a+": reads from the start, writes at the end */
    f = ST(fopen(F("f"), "a+"));
    lines("a+", f);
    I(fputs("A+\n", f) >= 0);
    I(fseek(f, 0, SEEK_SET));
    lines("a+", f);
    I(fclose(f));

    /* "x" and "e" */
    PTR(fopen(F("f"), "wx"));
    f = ST(fopen(F("fx"), "wx"));
    I(fclose(f));
    f = ST(fopen(F("f"), "re"));
    I(fcntl(fileno(f), F_GETFD));
    I(fclose(f));
    f = ST(fopen(F("f"), "r"));
    I(fcntl(fileno(f), F_GETFD));
    I(fcntl(fileno(f), F_GETFL) & O_ACCMODE);
    I(fclose(f));
    f = ST(fopen(F("f"), "w+e"));
    I(fcntl(fileno(f), F_GETFL) & O_ACCMODE);
    I(fcntl(fileno(f), F_GETFD));
    I(fclose(f));

    /* errors */
    PTR(fopen(F("nope"), "r"));
    PTR(fopen(F("nope/x"), "w"));
    I(mkdir(F("d"), 0755));
    PTR(fopen(F("d"), "w"));
    PTR(fopen(F("f"), "q"));
    f = PTR(fopen(F("d"), "r"));
    if (f) {
        errno = 0;
        I(fgetc(f));
        B(ferror(f));
        I(fclose(f));
    }

    /* fileno and fdopen */
    put("g", "one\ntwo\n");
    int fd = FD(open(F("g"), O_RDONLY));
    f = ST(fdopen(fd, "r"));
    B(fileno(f) == fd);
    lines("fdopen", f);
    I(fclose(f));
    I(close(fd));
    fd = FD(open(F("g"), O_RDONLY));
    PTR(fdopen(fd, "w"));
    I(lseek(fd, 4, SEEK_SET));
    f = ST(fdopen(fd, "r"));
    lines("fdopen at 4", f);
    I(fclose(f));
    fd = FD(open(F("g"), O_RDWR | O_APPEND));
    f = ST(fdopen(fd, "a"));
    I(fputs("three\n", f) >= 0);
    I(fclose(f));
    cat("g");
    PTR(fdopen(1000, "r"));

    /* freopen of stdout onto a file, then back */
    fflush(stdout);
    int saved = dup(1);
    hold();
    I(saved >= 0);
    f = PTR(freopen(F("out"), "w", stdout));
    if (!f) {
        /* freopen closed stdout: a new one on the saved fd */
        I(dup2(saved, 1));
        release();
        stdout = fdopen(1, "w");
        return done();
    }
    I(printf("printed to the file %d\n", 1));
    I(puts("puts too"));
    I(fileno(stdout));
    I(fflush(stdout));
    I(dup2(saved, 1));
    release();
    I(close(saved));
    clearerr(stdout);
    cat("out");
    I(printf("stdout is back\n"));
    fflush(stdout);

    /* the standard streams on files moved onto 0, 1 and 2 with dup2, as
     * a shell's redirections leave them for the program it runs */
    int s0 = dup(0);
    fd = FD(open(F("g"), O_RDONLY));
    I(dup2(fd, 0));
    I(close(fd));
    p = PTR(fgets(buf, sizeof buf, stdin));
    show("stdin", buf, p ? (long long)strlen(buf) : -1);
    I(getchar());
    I(scanf("%4s", buf));
    show("scanf", buf, (long long)strlen(buf));
    I(dup2(s0, 0));
    I(close(s0));
    clearerr(stdin);

    fflush(stdout);
    int s1 = dup(1);
    fd = FD(open(F("o1"), O_WRONLY | O_CREAT | O_TRUNC, 0644));
    hold();
    I(dup2(fd, 1));
    I(close(fd));
    I(printf("stdout %s\n", "on a file"));
    I(fwrite("fwrite\n", 1, 7, stdout));
    I(fflush(stdout));
    I(dup2(s1, 1));
    release();
    I(close(s1));
    clearerr(stdout);
    cat("o1");

    int s2 = dup(2);
    fd = FD(open(F("o2"), O_WRONLY | O_CREAT | O_TRUNC, 0644));
    I(dup2(fd, 2));
    I(close(fd));
    I(fprintf(stderr, "stderr %s\n", "on a file"));
    errno = ENOENT;
    perror("perror");
    I(fflush(stderr));
    I(dup2(s2, 2));
    I(close(s2));
    clearerr(stderr);
    cat("o2");

    /* exit flushes what stdio still holds */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        FILE *c = fopen(F("atexit"), "w");
        if (c)
            fputs("flushed by exit\n", c);
        int o = open(F("atexit1"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(o, 1);
        printf("stdout flushed by exit\n");
        exit(0);
    }
    int st = 0;
    I(waitpid(pid, &st, 0) == pid);
    I(st);
    cat("atexit");
    cat("atexit1");

    /* freopen of a stream onto another file */
    f = ST(fopen(F("f"), "r"));
    f = PTR(freopen(F("g"), "r", f));
    if (f)
        lines("freopen", f);
    if (f)
        PTR(freopen(F("nope"), "r", f));

    return done();
}
