/* setlk.c PATH N: N uncontended fcntl(F_SETLK) write-lock + unlock pairs
 * on bytes 0-99 of PATH (created), after an untimed warm-up; prints the
 * nanoseconds one pair takes. Fails (exit 1) if a call does. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int pair(int fd)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 100};
    if (fcntl(fd, F_SETLK, &fl) != 0)
        return -1;
    fl.l_type = F_UNLCK;
    return fcntl(fd, F_SETLK, &fl);
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    long n = atol(argv[2]);
    int fd = open(argv[1], O_RDWR | O_CREAT, 0600);
    if (fd < 0) {
        perror("open");
        return 1;
    }
    for (long i = 0; i < n / 10; i++)
        if (pair(fd)) {
            perror("fcntl");
            return 1;
        }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++)
        if (pair(fd)) {
            perror("fcntl");
            return 1;
        }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
    return 0;
}
