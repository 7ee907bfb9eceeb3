/* dlopen_main.c: a program without system calls of its own that starts a
 * thread, then dlopens inline_lib.so (argv[1]) and appends to DIR/f
 * (argv[2]) through it from both threads: under syscalls=auto the dlopen
 * must arm the process, the already running thread included. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static long (*append)(const char *, const char *, long);
static int ready[2], go[2];
static char path[4096];

static void *waiter(void *arg)
{
    char c = 'r';
    (void)arg;
    if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
        return (void *)-1L;
    return (void *)append(path, "from the thread\n", 16);
}

int main(int argc, char **argv)
{
    char c, buf[256];
    pthread_t t;
    void *r;
    if (argc != 3 || pipe(ready) || pipe(go))
        return 2;
    mkdir(argv[2], 0755);
    snprintf(path, sizeof path, "%s/f", argv[2]);
    pthread_create(&t, NULL, waiter, NULL);
    if (read(ready[0], &c, 1) != 1)
        return 2;
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h)
        return fprintf(stderr, "%s\n", dlerror()), 1;
    append = (long (*)(const char *, const char *, long))dlsym(h, "lib_append");
    printf("main: %ld\n", append(path, "from main\n", 10));
    if (write(go[1], &c, 1) != 1 || pthread_join(t, &r))
        return 2;
    printf("thread: %ld\n", (long)r);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = 0;
    printf("%s", buf);
    return 0;
}
