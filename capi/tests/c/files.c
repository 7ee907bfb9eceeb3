/* In-process boot, files on the kernel's tmpfs with NetBSD's flags,
 * errnos and struct stat layout. */
#include <rump/rump.h>
#include <rump/rump_syscalls.h>
#include "check.h"

int main(void)
{
	char buf[64];
	struct rump_stat sb;

	CHECK(rump_init() == 0);
	CHECK(rump_init() == 0);
	CHECK(rump_sys_mkdir("/d", 0755) == 0);
	ERR(rump_sys_mkdir("/d", 0755), RUMP_EEXIST);
	ERR(rump_sys_open("/d/none", RUMP_O_RDONLY), RUMP_ENOENT);
	int fd = rump_sys_open("/d/f", RUMP_O_CREAT | RUMP_O_EXCL | RUMP_O_RDWR, 0640);
	CHECK(fd >= 0);
	ERR(rump_sys_open("/d/f", RUMP_O_CREAT | RUMP_O_EXCL | RUMP_O_RDWR, 0640), RUMP_EEXIST);
	CHECK(rump_sys_write(fd, "hello, rump", 11) == 11);
	CHECK(rump_sys_lseek(fd, 7, RUMP_SEEK_SET) == 7);
	CHECK(rump_sys_read(fd, buf, sizeof buf) == 4 && memcmp(buf, "rump", 4) == 0);
	CHECK(rump_sys_fstat(fd, &sb) == 0);
	CHECK(sb.st_size == 11 && (sb.st_mode & RUMP_S_IFMT) == RUMP_S_IFREG && (sb.st_mode & 0777) == 0640);
	ERR(rump_sys_rmdir("/d"), RUMP_ENOTEMPTY);
	ERR(rump_sys_read(99, buf, 1), RUMP_EBADF);
	ERR(rump_sys_open("/d/f", RUMP_O_RDONLY | RUMP_O_DIRECTORY), RUMP_ENOTDIR);
	ERR(rump_sys_write(fd, NULL, 1), RUMP_EFAULT);
	CHECK(rump_sys_close(fd) == 0);
	CHECK(rump_sys_rename("/d/f", "/d/g") == 0);
	CHECK(rump_sys_stat("/d/g", &sb) == 0 && sb.st_size == 11);
	CHECK(rump_sys_unlink("/d/g") == 0 && rump_sys_rmdir("/d") == 0);
	CHECK(rump_sys_getpid() == 1);
	printf("files ok\n");
	return 0;
}
