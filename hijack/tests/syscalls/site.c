/* site.c: one inline getppid site (16-byte aligned, so it can be
 * rewritten) run three times; prints whether each answer matched libc's
 * getppid and the site's first byte afterwards (b8: the original `mov`,
 * e9: the `jmp` to a stub of the library). */
#include <stdio.h>
#include <unistd.h>

extern const unsigned char site[];

__attribute__((noinline)) static long site_getppid(void)
{
    long r;
    __asm__ volatile(".p2align 4\n.globl site\nsite: mov $110, %%eax\n\tsyscall" : "=a"(r) : : "rcx", "r11", "memory");
    return r;
}

int main(void)
{
    for (int i = 0; i < 3; i++)
        printf("%s ", site_getppid() == getppid() ? "same" : "differs");
    printf("%02x\n", site[0]);
    return 0;
}
