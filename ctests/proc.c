/* proc.c: the process family with files in the base: fork with an
 * inherited fd (shared offset), exec with an fd on 0 or 1 or a path
 * argument, vfork, posix_spawn with file actions, system, popen/pclose,
 * and a child started in a working directory inside the base. */
#include "check.h"
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

static void status(const char *what, int st)
{
    if (st == -1)
        say("%s: -1 %s\n", what, ename(errno));
    else if (WIFEXITED(st))
        say("%s: exited %d\n", what, WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        say("%s: signal %d\n", what, WTERMSIG(st));
    else
        say("%s: status %#x\n", what, st);
}

static void reap(const char *what, pid_t pid)
{
    int st;
    if (pid < 0)
        return;
    pid_t r;
    do
        r = waitpid(pid, &st, 0);
    while (r < 0 && errno == EINTR);
    if (r != pid)
        say("%s: waitpid %s\n", what, ename(errno));
    else
        status(what, st);
}

/* Reads `fd` to its end; prints each line relative to the base. */
static void drain(const char *what, int fd)
{
    char buf[4096];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
        say("%s: %s\n", what, rel(line));
}

/* Runs argv[0] in a child with its stdout on a pipe, and prints what it
 * wrote, relative to the base. */
static void run_capture(const char *what, char *const argv[])
{
    int p[2];
    if (pipe(p) != 0) {
        say("pipe: %s\n", ename(errno));
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 1);
        close(p[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    if (pid < 0)
        say("fork: %s\n", ename(errno));
    drain(what, p[0]);
    close(p[0]);
    reap(what, pid);
}

int main(int argc, char **argv)
{
    char buf[256];
    char cmd[PATH_MAX + 64];
    long long n;
    pid_t pid;
    setup(argc, argv);
    put("in", "from parent\n");

    /* fork: the child reads an inherited fd; the offset is shared */
    int fd = FD(open(F("in"), O_RDONLY));
    int wfd = FD(open(F("shared"), O_WRONLY | O_CREAT | O_TRUNC, 0644));
    pid = fork();
    if (pid == 0) {
        n = I(read(fd, buf, 5));
        show("child read", buf, n);
        I(write(wfd, "child\n", 6));
        int c = FD(open(F("child"), O_WRONLY | O_CREAT | O_TRUNC, 0644));
        I(write(c, buf, (size_t)n));
        I(write(c, "\n", 1));
        I(close(c));
        I(close(fd));
        _exit(3);
    }
    reap("child", pid);
    I(pid > 0);
    n = I(read(fd, buf, sizeof buf));
    show("parent read", buf, n);
    I(write(wfd, "parent\n", 7));
    cat("child");
    cat("shared");
    I(close(wfd));

    /* exec with a file on fd 0: cat < file, from an offset */
    I(lseek(fd, 5, SEEK_SET));
    pid = fork();
    if (pid == 0) {
        dup2(fd, 0);
        close(fd);
        execl("/bin/cat", "cat", (char *)NULL);
        _exit(127);
    }
    reap("cat < in", pid);
    I(lseek(fd, 0, SEEK_CUR));
    I(close(fd));

    /* exec with the file as an argument */
    pid = fork();
    if (pid == 0) {
        char *av[] = {"cat", (char *)F("in"), NULL};
        execv("/bin/cat", av);
        _exit(127);
    }
    reap("cat in", pid);

    /* exec with a file on fd 1: cat in > out */
    pid = fork();
    if (pid == 0) {
        int o = open(F("catout"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(o, 1);
        close(o);
        execl("/bin/cat", "cat", F("in"), F("shared"), (char *)NULL);
        _exit(127);
    }
    reap("cat in shared > catout", pid);
    cat("catout");

    /* vfork and execve (the child only execs or exits) */
    char *vav[] = {"cat", (char *)F("child"), NULL};
    pid = vfork();
    if (pid == 0) {
        execve("/bin/cat", vav, environ);
        _exit(127);
    }
    reap("vfork cat child", pid);

    /* the exit status of a child, and exec failures */
    pid = fork();
    if (pid == 0)
        _exit(7);
    reap("_exit(7)", pid);
    pid = fork();
    if (pid == 0) {
        char *av[] = {"x", NULL};
        I(execv(F("in"), av));
        I(execv(F("nope"), av));
        _exit(9);
    }
    reap("exec failures", pid);

    /* posix_spawn with an open action onto 1 */
    posix_spawn_file_actions_t fa;
    I(posix_spawn_file_actions_init(&fa));
    I(posix_spawn_file_actions_addopen(&fa, 1, F("spawned"), O_WRONLY | O_CREAT | O_TRUNC, 0644));
    char *echo[] = {"echo", "spawned", "echo", NULL};
    EV(posix_spawn(&pid, "/bin/echo", &fa, NULL, echo, environ));
    reap("spawn echo > spawned", pid);
    I(posix_spawn_file_actions_destroy(&fa));
    cat("spawned");

    /* ... with a dup2 action of a file opened here */
    int sfd = FD(open(F("spawned2"), O_WRONLY | O_CREAT | O_TRUNC, 0644));
    I(posix_spawn_file_actions_init(&fa));
    I(posix_spawn_file_actions_adddup2(&fa, sfd, 1));
    I(posix_spawn_file_actions_addclose(&fa, sfd));
    EV(posix_spawn(&pid, "/bin/echo", &fa, NULL, echo, environ));
    reap("spawn echo >&sfd", pid);
    I(posix_spawn_file_actions_destroy(&fa));
    I(close(sfd));
    cat("spawned2");

    /* ... posix_spawnp with stdin from a file */
    I(posix_spawn_file_actions_init(&fa));
    I(posix_spawn_file_actions_addopen(&fa, 0, F("in"), O_RDONLY, 0));
    char *catv[] = {"cat", NULL};
    hold(); /* cat's output and ours would race until it is reaped */
    EV(posix_spawnp(&pid, "cat", &fa, NULL, catv, environ));
    reap("spawnp cat < in", pid);
    release();
    I(posix_spawn_file_actions_destroy(&fa));

    /* ... failures come back as the errno value */
    I(posix_spawn_file_actions_init(&fa));
    I(posix_spawn_file_actions_addopen(&fa, 0, F("nope"), O_RDONLY, 0));
    pid = -1;
    int e = EV(posix_spawn(&pid, "/bin/cat", &fa, NULL, catv, environ));
    if (e == 0)
        reap("spawn with a missing file", pid);
    I(posix_spawn_file_actions_destroy(&fa));
    pid = -1;
    e = EV(posix_spawn(&pid, F("nope"), NULL, NULL, catv, environ));
    if (e == 0)
        reap("spawn of a missing program", pid);

    /* system */
    snprintf(cmd, sizeof cmd, "cat %s", F("in"));
    status("system cat in", system(cmd));
    status("system exit 3", system("exit 3"));
    snprintf(cmd, sizeof cmd, "echo sys > %s", F("sysout"));
    status("system echo > sysout", system(cmd));
    cat("sysout");
    snprintf(cmd, sizeof cmd, "cat %s 2>/dev/null", F("nope"));
    status("system cat nope", system(cmd));
    snprintf(cmd, sizeof cmd, "echo x >> %s; exec cat < %s", F("sysout"), F("sysout"));
    status("system append and redirect", system(cmd));
    I(system(NULL) != 0);

    /* popen */
    snprintf(cmd, sizeof cmd, "cat %s", F("in"));
    FILE *p = PTR(popen(cmd, "r"));
    if (p) {
        char *l = PTR(fgets(buf, sizeof buf, p));
        show("popen fgets", buf, l ? (long long)strlen(buf) : -1);
        status("pclose", pclose(p));
    }
    snprintf(cmd, sizeof cmd, "cat > %s", F("pw"));
    p = PTR(popen(cmd, "w"));
    if (p) {
        I(fputs("written to popen\n", p) >= 0);
        status("pclose", pclose(p));
    }
    cat("pw");
    p = PTR(popen("exit 5", "r"));
    if (p)
        status("pclose", pclose(p));
    p = PTR(popen("true", "x"));

    /* children started in a working directory inside the base */
    I(chdir(base));
    char *pwd[] = {"/bin/pwd", NULL};
    run_capture("exec pwd", pwd);
    char *ls[] = {"/bin/ls", NULL};
    run_capture("exec ls", ls);
    p = PTR(popen("pwd; echo rel > relfile; cat relfile", "r"));
    if (p) {
        drain("popen pwd", fileno(p));
        status("pclose", pclose(p));
    }
    cat("relfile");
    I(chdir("/"));

    return done();
}
