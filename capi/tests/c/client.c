/* A librumpclient program against the rump_server in RUMP_SERVER: files,
 * errnos, rumpclient_syscall, and fork with rumpclient_fork (the child is
 * a process of its own in the kernel, with the parent's fds). */
#include <sys/wait.h>
#include <unistd.h>
#include <rump/rumpclient.h>
#include <rump/rump_syscalls.h>
#include "check.h"

int main(void)
{
	char buf[64];
	register_t rv[2];

	CHECK(rumpclient_init() == 0);
	pid_t me = rump_sys_getpid();
	int fd = rump_sys_open("/cf", RUMP_O_CREAT | RUMP_O_TRUNC | RUMP_O_RDWR, 0644);
	CHECK(fd >= 0 && rump_sys_write(fd, "parent\n", 7) == 7);
	ERR(rump_sys_open("/none/x", RUMP_O_RDONLY), RUMP_ENOENT);
	CHECK(rumpclient_syscall(20 /* getpid */, NULL, 0, rv) == 0 && rv[0] == me);

	pid_t child = rumpclient_fork();
	CHECK(child >= 0);
	if (child == 0) {
		CHECK(rump_sys_getpid() != me && rump_sys_getppid() == me);
		CHECK(rump_sys_write(fd, "child\n", 6) == 6); /* the shared open file */
		_exit(0);
	}
	int st;
	CHECK(waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(rump_sys_pread(fd, buf, sizeof buf, 0) == 13 && memcmp(buf, "parent\nchild\n", 13) == 0);
	CHECK(rump_sys_getpid() == me);
	printf("client ok\n");
	return 0;
}
