/* mmap.c: shared file mappings. A process writes through a MAP_SHARED
 * mapping and another process (forked, or exec'd) reads the file, and the
 * reverse; msync; ftruncate shrinking under a mapping (SIGBUS past the
 * end, caught) and growing; mremap; a sparse file; MAP_PRIVATE
 * copy-on-write that nobody else sees; and the errors Linux gives for
 * access modes, arguments and files that cannot be mapped. */
#include "check.h"
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

static sigjmp_buf on_bus;

static void bus(int sig)
{
    (void)sig;
    siglongjmp(on_bus, 1);
}

/* Whether reading byte `p` raises SIGBUS; else prints the byte. */
static void touch(const char *what, volatile char *p)
{
    if (sigsetjmp(on_bus, 1)) {
        say("%s: SIGBUS\n", what);
        return;
    }
    char c = *p;
    say("%s: %d\n", what, c);
}

/* mmap(...), printed as "what: mapped" or "what: ERRNO". */
static void *map(const char *what, size_t len, int prot, int flags, int fd, off_t off)
{
    void *m = mmap(NULL, len, prot, flags, fd, off);
    say("%s: %s\n", what, m == MAP_FAILED ? ename(errno) : "mapped");
    return m;
}

static void reap(const char *what, pid_t pid)
{
    int st;
    if (waitpid(pid, &st, 0) != pid)
        say("%s: waitpid %s\n", what, ename(errno));
    else if (WIFEXITED(st))
        say("%s: exited %d\n", what, WEXITSTATUS(st));
    else
        say("%s: status %#x\n", what, st);
}

/* Prints `n` bytes of the file at `off`, read by a fresh open. */
static void peek(const char *what, const char *name, off_t off, size_t n)
{
    char buf[64];
    int fd = open(F(name), O_RDONLY);
    ssize_t r = fd < 0 ? -1 : pread(fd, buf, n, off);
    if (r < 0)
        say("%s: %s\n", what, ename(errno));
    else
        show(what, buf, r);
    if (fd >= 0)
        close(fd);
}

static void shared_between_processes(void)
{
    int fd = FD(open(F("f"), O_RDWR | O_CREAT | O_TRUNC, 0644));
    I(ftruncate(fd, 8192));
    char *p = PTR(mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    if (p == MAP_FAILED)
        return;
    memcpy(p, "parent", 6);
    I(msync(p, 8192, MS_SYNC));
    peek("read after the mapping's write", "f", 0, 6);
    I(pwrite(fd, "kernel", 6, 100));
    show("mapping after pwrite", p + 100, 6);

    /* A forked child reads what the parent wrote through the mapping,
     * then writes with write() and through a mapping of its own. */
    memcpy(p + 200, "before fork", 11);
    pid_t pid = fork();
    if (pid == 0) {
        peek("child reads", "f", 200, 11);
        int cfd = open(F("f"), O_RDWR);
        if (pwrite(cfd, "child write", 11, 300) != 11)
            say("child pwrite: %s\n", ename(errno));
        char *c = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, cfd, 4096);
        if (c == MAP_FAILED)
            say("child mmap: %s\n", ename(errno));
        else
            memcpy(c + 10, "child map", 9);
        _exit(0);
    }
    reap("child", pid);
    show("parent sees the child's write()", p + 300, 11);
    show("parent sees the child's mapping", p + 4096 + 10, 9);
    peek("and read() agrees", "f", 4096 + 10, 9);

    /* An exec'd program reads the file. */
    memcpy(p, "exec'd", 6);
    say("head -c 6 prints: ");
    pid = fork();
    if (pid == 0) {
        execl("/usr/bin/head", "head", "-c", "6", F("f"), (char *)NULL);
        _exit(127);
    }
    int status = -1;
    pid_t waited = waitpid(pid, &status, 0);
    say("\n");
    B(waited == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* Truncation under the mapping: past the end is SIGBUS; the rest of
     * the last page reads zeros; growing brings pages back as zeros. */
    I(ftruncate(fd, 100));
    touch("byte 50 after shrink", p + 50);
    touch("byte 200 after shrink", p + 200);
    touch("byte 4096 after shrink", p + 4096);
    I(ftruncate(fd, 8192));
    touch("byte 4096 after growth", p + 4096);
    touch("byte 300 after growth", p + 300);
    p[5000] = 'g';
    peek("growth is shared", "f", 5000, 1);
    struct stat st;
    I(fstat(fd, &st));
    I(st.st_size);

    /* mremap follows the file. */
    I(ftruncate(fd, 16384));
    char *q = PTR(mremap(p, 8192, 16384, MREMAP_MAYMOVE));
    if (q != MAP_FAILED) {
        memcpy(q + 12000, "remapped", 8);
        peek("write after mremap", "f", 12000, 8);
        show("old bytes after mremap", q + 5000, 1);
        I(msync(q, 16384, MS_ASYNC));
        I(msync(q + 1, 4096, MS_SYNC));
        /* A private mapping of the shared file: its writes stay its own. */
        char *c = PTR(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0));
        if (c != MAP_FAILED) {
            show("private view", c, 6);
            memcpy(c, "mine!!", 6);
            show("shared view after a private write", q, 6);
            peek("the file after a private write", "f", 0, 6);
            I(munmap(c, 4096));
        }
        I(munmap(q, 16384));
    }
    I(close(fd));
}

static void private_copy_on_write(void)
{
    put("p", "original");
    int fd = FD(open(F("p"), O_RDONLY));
    char *m = PTR(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0));
    if (m == MAP_FAILED)
        return;
    show("private mapping", m, 8);
    memcpy(m, "CHANGED!", 8);
    show("private mapping, written", m, 8);
    peek("the file is unchanged", "p", 0, 8);
    pid_t pid = fork();
    if (pid == 0) {
        peek("a child reads the file", "p", 0, 8);
        _exit(0);
    }
    reap("child", pid);
    I(munmap(m, 4096));
    I(close(fd));
}

static void sparse(void)
{
    int fd = FD(open(F("s"), O_RDWR | O_CREAT | O_TRUNC, 0644));
    I(ftruncate(fd, 1 << 20));
    char *m = PTR(mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    if (m == MAP_FAILED)
        return;
    m[900000] = 's';
    peek("sparse write", "s", 900000, 1);
    struct stat st;
    I(fstat(fd, &st));
    B(st.st_blocks > 0 && st.st_blocks <= 64);
    I(st.st_size);
    I(munmap(m, 1 << 20));
    I(close(fd));
}

static void errors(void)
{
    put("e", "some bytes");
    int ro = FD(open(F("e"), O_RDONLY));
    int wo = FD(open(F("e"), O_WRONLY));
    int rw = FD(open(F("e"), O_RDWR));
    int dir = FD(open(base, O_RDONLY | O_DIRECTORY));
    int path = FD(open(F("e"), O_PATH));
    I(mkfifo(F("fifo"), 0644));
    int fifo = FD(open(F("fifo"), O_RDWR));
    map("writable shared of O_RDONLY", 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0);
    void *m = map("read-only shared of O_RDONLY", 4096, PROT_READ, MAP_SHARED, ro, 0);
    if (m != MAP_FAILED)
        show("  its bytes", m, 10);
    map("writable private of O_RDONLY", 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0);
    map("shared of O_WRONLY", 4096, PROT_READ, MAP_SHARED, wo, 0);
    map("private of O_WRONLY", 4096, PROT_READ, MAP_PRIVATE, wo, 0);
    map("length 0", 0, PROT_READ, MAP_SHARED, rw, 0);
    map("unaligned offset", 4096, PROT_READ, MAP_SHARED, rw, 100);
    map("neither shared nor private", 4096, PROT_READ, 0, rw, 0);
    map("MAP_SYNC, validated", 4096, PROT_READ, MAP_SHARED_VALIDATE | MAP_SYNC, rw, 0);
    map("a directory", 4096, PROT_READ, MAP_SHARED, dir, 0);
    map("an O_PATH fd", 4096, PROT_READ, MAP_SHARED, path, 0);
    map("a FIFO", 4096, PROT_READ, MAP_SHARED, fifo, 0);
    /* A mapping past the end of the file: SIGBUS on touch. */
    char *far = PTR(mmap(NULL, 8192, PROT_READ, MAP_SHARED, rw, 0));
    if (far != MAP_FAILED) {
        touch("first page", far);
        touch("second page of a 10-byte file", far + 4096);
    }
    I(close(ro));
    I(close(wo));
    I(close(rw));
    I(close(dir));
    I(close(path));
    I(close(fifo));
}

int main(int argc, char **argv)
{
    setup(argc, argv);
    struct sigaction sa = {0};
    sa.sa_handler = bus;
    sigaction(SIGBUS, &sa, NULL);
    shared_between_processes();
    private_copy_on_write();
    sparse();
    errors();
    return done();
}
