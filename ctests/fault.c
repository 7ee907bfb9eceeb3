/* fault.c: bad pointers handed to path and struct calls come back as
 * EFAULT, as the host kernel says, and never crash the program: NULL, an
 * address in the first page, one in an unmapped page, one in the kernel's
 * half of the address space; a path that starts readable and runs into an
 * unmapped page; and struct and buffer pointers into unmapped memory for
 * a real file. */
#include "check.h"
#include <sys/mman.h>

/* Bad pointers on purpose: the compiler may not see them coming. */
#pragma GCC diagnostic ignored "-Wnonnull"

int main(int argc, char **argv)
{
    struct stat st;
    char buf[64];
    setup(argc, argv);

    /* A page that was mapped and is not any more. */
    char *gone = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(gone, 4096);
    const char *bad[] = { NULL, (char *)1, gone, (char *)0xffff800000001000ULL };
    for (unsigned i = 0; i < sizeof bad / sizeof *bad; i++) {
        say("pointer %u\n", i);
        I(stat(bad[i], &st));
        I(lstat(bad[i], &st));
        I(open(bad[i], O_RDONLY));
        I(openat(AT_FDCWD, bad[i], O_RDONLY));
        I(readlink(bad[i], buf, sizeof buf));
        I(access(bad[i], F_OK));
        I(mkdir(bad[i], 0755));
        I(unlink(bad[i]));
        I(chdir(bad[i]));
    }

    /* The base path written at the very end of a page whose next page is
     * unmapped: the string is readable only because it ends in time. */
    char *two = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(two + 4096, 4096);
    size_t len = strlen(base) + 1;
    char *edge = two + 4096 - len;
    memcpy(edge, base, len);
    I(stat(edge, &st));
    /* The same path without its NUL: it runs into the unmapped page. */
    memmove(edge + 1, edge, len - 1);
    I(stat(edge + 1, &st));

    /* Struct and buffer pointers into the unmapped page, for a real file. */
    put("f", "data");
    I(stat(F("f"), (struct stat *)gone));
    I(fstatat(AT_FDCWD, F("f"), (struct stat *)gone, 0));
    int fd = FD(open(F("f"), O_RDONLY));
    I(read(fd, gone, 4));
    I(fstat(fd, (struct stat *)gone));
    I(close(fd));
    I(readlink(F("f"), gone, 16));
    return done();
}
