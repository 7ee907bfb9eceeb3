/* site.c: two inline sites (16-byte aligned), a getppid (never the
 * kernel's) and a read of fd -1 (a call that may be the kernel's), each
 * run three times; prints whether each answer matched the host's, then
 * the first byte of the read site before any call, and of both sites
 * afterwards (b8: the original `mov`, e9: the `jmp` to a stub of the
 * library). */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

extern const unsigned char site[], read_site[];

__attribute__((noinline)) static long site_getppid(void)
{
    long r;
    __asm__ volatile(".p2align 4\n.globl site\nsite: mov $110, %%eax\n\tsyscall" : "=a"(r) : : "rcx", "r11", "memory");
    return r;
}

__attribute__((noinline)) static long site_read(void)
{
    long r;
    __asm__ volatile(".p2align 4\n.globl read_site\nread_site: mov $0, %%eax\n\tsyscall"
                     : "=a"(r)
                     : "D"(-1L), "S"(0L), "d"(0L)
                     : "rcx", "r11", "memory");
    return r;
}

int main(void)
{
    unsigned char before = *(const volatile unsigned char *)read_site;
    for (int i = 0; i < 3; i++)
        printf("%s %s ", site_getppid() == getppid() ? "same" : "differs", site_read() == -EBADF ? "same" : "differs");
    printf("before=%02x getppid=%02x read=%02x\n", before, site[0], read_site[0]);
    return 0;
}
