/* straddle.c: an inline read site (of fd -1) whose `mov` lies across two
 * aligned 16-byte blocks, run by four threads at once, 20000 times each:
 * rewritten while they run (under dispatch, by the first caught call),
 * every answer must still be the host's EBADF. Prints the failures and
 * the site's first byte afterwards (e9: rewritten). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

extern const unsigned char straddle_site[];

__attribute__((noinline)) static long site_read(void)
{
    long r;
    __asm__ volatile(".p2align 4\n\t.fill 13, 1, 0x90\n.globl straddle_site\nstraddle_site: mov $0, %%eax\n\tsyscall"
                     : "=a"(r)
                     : "D"(-1L), "S"(0L), "d"(0L)
                     : "rcx", "r11", "memory");
    return r;
}

static void *run(void *arg)
{
    long bad = 0;
    (void)arg;
    for (int i = 0; i < 20000; i++)
        bad += site_read() != -EBADF;
    return (void *)bad;
}

int main(void)
{
    pthread_t t[4];
    long bad = 0;
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, run, NULL);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad += (long)r;
    }
    printf("failures=%ld site=%02x offset=%ld\n", bad, straddle_site[0], (long)straddle_site % 16);
    return 0;
}
