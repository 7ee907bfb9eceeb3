/* A librumpclient program against the rump_server in RUMP_SERVER: files,
 * errnos, rumpclient_syscall, fork with rumpclient_fork (the child is a
 * process of its own in the kernel, with the parent's fds), and exec with
 * rumpclient_exec (the new image is the same kernel process: its fds stay
 * but close-on-exec ones). */
#include <sys/wait.h>
#include <unistd.h>
#include <rump/rumpclient.h>
#include <rump/rump_syscalls.h>
#include "check.h"

/* After rumpclient_exec: argv is {prog, "exec", pid, fd, cloexec fd}. */
static int after_exec(char **argv)
{
	char buf[64];

	CHECK(rumpclient_init() == 0);
	CHECK(rump_sys_getpid() == atoi(argv[2]));
	CHECK(rump_sys_pread(atoi(argv[3]), buf, sizeof buf, 0) == 13);
	ERR(rump_sys_close(atoi(argv[4])), RUMP_EBADF);
	printf("exec ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	char buf[64], a[3][16];
	register_t rv[2];

	if (argc == 5 && strcmp(argv[1], "exec") == 0)
		return after_exec(argv);
	CHECK(rumpclient_init() == 0);
	ERR(rumpclient_setconnretry(0), RUMP_EINVAL);
	CHECK(rumpclient_setconnretry(RUMPCLIENT_RETRYCONN_ONCE) == 0);
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
	fflush(stdout);

	int cfd = rump_sys_open("/cf", RUMP_O_RDONLY | RUMP_O_CLOEXEC);
	CHECK(cfd >= 0);
	snprintf(a[0], sizeof a[0], "%d", (int)me);
	snprintf(a[1], sizeof a[1], "%d", fd);
	snprintf(a[2], sizeof a[2], "%d", cfd);
	char *args[] = { argv[0], "exec", a[0], a[1], a[2], NULL };
	extern char **environ;
	rumpclient_exec(argv[0], args, environ);
	CHECK(!"rumpclient_exec returned");
	return 1;
}
