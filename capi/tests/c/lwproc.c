/* Two lwprocs with separate fd tables, switching between them, a copied
 * table (RUMP_RFFDG), a second lwp of a process, and exit by release. */
#include <pthread.h>
#include <rump/rump.h>
#include <rump/rump_syscalls.h>
#include "check.h"

/* A host thread has its own current lwp: none at first, then one it
 * forks, while the main thread's stays as it was. */
static void *thread(void *arg)
{
	pid_t main_pid = *(pid_t *)arg;

	CHECK(rump_pub_lwproc_curlwp() == NULL && rump_sys_getpid() == 1);
	CHECK(rump_pub_lwproc_rfork(RUMP_RFCFDG) == 0);
	CHECK(rump_sys_getpid() != main_pid && rump_sys_getpid() != 1);
	rump_pub_lwproc_releaselwp();
	return NULL;
}

int main(void)
{
	CHECK(rump_init() == 0);
	CHECK(rump_pub_lwproc_curlwp() == NULL);
	CHECK(rump_pub_lwproc_rfork(RUMP_RFCFDG) == 0);
	struct lwp *a = rump_pub_lwproc_curlwp();
	pid_t pa = rump_sys_getpid();
	int fa = rump_sys_open("/a", RUMP_O_CREAT | RUMP_O_RDWR, 0644);
	CHECK(a != NULL && pa > 1 && fa == 0);

	CHECK(rump_pub_lwproc_rfork(RUMP_RFCFDG) == 0);
	struct lwp *b = rump_pub_lwproc_curlwp();
	pid_t pb = rump_sys_getpid();
	CHECK(b != a && pb != pa);
	ERR(rump_sys_write(fa, "x", 1), RUMP_EBADF); /* not b's fd */
	CHECK(rump_sys_open("/b", RUMP_O_CREAT | RUMP_O_RDWR, 0644) == 0);

	rump_pub_lwproc_switch(a);
	CHECK(rump_sys_getpid() == pa && rump_sys_write(fa, "a", 1) == 1);
	CHECK(rump_pub_lwproc_rfork(RUMP_RFFDG) == 0); /* a copy of a's table */
	CHECK(rump_sys_getppid() == pa && rump_sys_write(fa, "c", 1) == 1);
	rump_pub_lwproc_releaselwp();

	CHECK(rump_pub_lwproc_newlwp(pb) == 0); /* another lwp of b */
	CHECK(rump_sys_getpid() == pb && rump_sys_write(0, "b", 1) == 1);
	CHECK(rump_pub_lwproc_newlwp(424242) == RUMP_ESRCH);
	CHECK(rump_pub_lwproc_rfork(0x40) == RUMP_EINVAL);
	rump_pub_lwproc_switch((struct lwp *)&pb); /* not an lwp: ignored */
	CHECK(rump_sys_getpid() == pb);

	pthread_t t;
	CHECK(pthread_create(&t, NULL, thread, &pb) == 0 && pthread_join(t, NULL) == 0);
	CHECK(rump_sys_getpid() == pb);

	rump_pub_lwproc_switch(NULL);
	CHECK(rump_sys_getpid() == 1);
	struct rump_stat sb;
	CHECK(rump_sys_stat("/a", &sb) == 0 && sb.st_size == 2);
	printf("lwproc ok\n");
	return 0;
}
