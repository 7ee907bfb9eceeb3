/* siglatency.c: how long a signal takes to reach a program waiting in
 * poll on a listening inet socket (a rump socket under rumpctl run, where
 * the wait is served by the seccomp supervisor). The parent sends
 * SIGUSR1 to a child once it is in poll; the child's handler notes the
 * time. Prints the median and the worst of ROUNDS, in microseconds.
 * Built static by tools/benches/supervise.rs. */
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { ROUNDS = 40 };

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

/* Shared with the parent: when it sent, when the handler ran. */
static volatile double *times;

static void on_usr1(int s)
{
    (void)s;
    times[1] = now_us();
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void)
{
    times = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int ready[2];
    if (times == MAP_FAILED || pipe(ready))
        return 1;
    pid_t child = fork();
    if (child == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_usr1;
        sigaction(SIGUSR1, &sa, 0);
        int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(7003), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 1))
            _exit(1);
        for (int i = 0; i < ROUNDS; i++) {
            struct pollfd p = { .fd = s, .events = POLLIN };
            write(ready[1], "r", 1);
            poll(&p, 1, -1);
        }
        _exit(0);
    }
    double lat[ROUNDS];
    char c;
    for (int i = 0; i < ROUNDS; i++) {
        if (read(ready[0], &c, 1) != 1)
            return 1;
        /* Well inside poll by then. */
        usleep(20000);
        times[1] = 0;
        times[0] = now_us();
        kill(child, SIGUSR1);
        while (times[1] == 0)
            usleep(50);
        lat[i] = times[1] - times[0];
    }
    waitpid(child, 0, 0);
    qsort(lat, ROUNDS, sizeof lat[0], cmp);
    printf("%.1f %.1f\n", lat[ROUNDS / 2], lat[ROUNDS - 1]);
    return 0;
}
