/* inline_lib.c: a shared object making its own system calls in glibc's
 * inline form (`mov $nr,%eax; syscall`), as a program's dlopen finds it. */
#include <fcntl.h>

long lib_append(const char *path, const char *text, long n)
{
    long fd, r, c;
    register long r10 __asm__("r10") = 0644;
    __asm__ volatile("mov $257, %%eax\n\tsyscall"
                     : "=a"(fd)
                     : "D"(-100L), "S"(path), "d"((long)(O_CREAT | O_WRONLY | O_APPEND)), "r"(r10)
                     : "rcx", "r11", "memory");
    if (fd < 0)
        return fd;
    __asm__ volatile("mov $1, %%eax\n\tsyscall" : "=a"(r) : "D"(fd), "S"(text), "d"(n) : "rcx", "r11", "memory");
    __asm__ volatile("mov $3, %%eax\n\tsyscall" : "=a"(c) : "D"(fd) : "rcx", "r11", "memory");
    return r;
}
