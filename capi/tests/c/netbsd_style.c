/*
 * A program written for NetBSD's rump API, in the style of NetBSD's
 * share/examples/rump: it includes only NetBSD's headers, boots a kernel,
 * gives itself a process, makes a tree, copies a host file in through
 * etfs and reports with err(3). Built with NetBSD's link line:
 *   cc netbsd_style.c -I$PREFIX/include -L$PREFIX/lib -lrump -lrumpvfs -lrumpuser
 */
#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rump/rump.h>
#include <rump/rump_syscalls.h>

int
main(int argc, char *argv[])
{
	char buf[8192];
	ssize_t n;
	int in, out;

	if (argc != 2)
		errx(1, "usage: %s hostfile", argv[0]);

	if (rump_init() != 0)
		errx(1, "rump_init failed");
	if (rump_pub_lwproc_rfork(RUMP_RFCFDG) != 0)
		errx(1, "rfork failed");

	if (rump_pub_etfs_register("/hostfile", argv[1], RUMP_ETFS_REG) != 0)
		errx(1, "etfs_register failed");
	if (rump_sys_mkdir("/data", 0777) == -1)
		err(1, "mkdir");
	if (rump_sys_chdir("/data") == -1)
		err(1, "chdir");

	if ((in = rump_sys_open("/hostfile", RUMP_O_RDONLY)) == -1)
		err(1, "open hostfile");
	if ((out = rump_sys_open("copy", RUMP_O_WRONLY | RUMP_O_CREAT, 0644)) == -1)
		err(1, "open copy");
	while ((n = rump_sys_read(in, buf, sizeof(buf))) > 0)
		if (rump_sys_write(out, buf, n) != n)
			err(1, "write");
	if (n == -1)
		err(1, "read");
	rump_sys_close(in);
	rump_sys_close(out);

	if ((in = rump_sys_open("/data/copy", RUMP_O_RDONLY)) == -1)
		err(1, "reopen");
	while ((n = rump_sys_read(in, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, n, stdout);
	rump_sys_close(in);

	if (rump_sys_rmdir("/data") == -1 && errno == RUMP_ENOTEMPTY)
		printf("rmdir: directory not empty, as it should be\n");
	rump_pub_lwproc_releaselwp();
	return 0;
}
