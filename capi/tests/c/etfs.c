/* A host file at a kernel path (etfs), read and written through; a host
 * directory (RUMP_ETFS_DIR_SUBDIRS). argv[1]: a host file holding
 * "host data\n"; argv[2]: a host directory holding sub/x. */
#include <rump/rump.h>
#include <rump/rump_syscalls.h>
#include "check.h"

int main(int argc, char **argv)
{
	char buf[64];

	CHECK(argc == 3);
	CHECK(rump_init() == 0);
	CHECK(rump_pub_etfs_register("/etfs/hostfile", argv[1], RUMP_ETFS_REG) == 0);
	CHECK(rump_pub_etfs_register("/etfs/hostfile", argv[1], RUMP_ETFS_REG) == RUMP_EEXIST);
	CHECK(rump_pub_etfs_register("/etfs/missing", "/nonexistent/file", RUMP_ETFS_REG) == RUMP_ENOENT);
	int fd = rump_sys_open("/etfs/hostfile", RUMP_O_RDWR);
	CHECK(fd >= 0);
	CHECK(rump_sys_read(fd, buf, sizeof buf) == 10 && memcmp(buf, "host data\n", 10) == 0);
	CHECK(rump_sys_pwrite(fd, "HOST", 4, 0) == 4);
	CHECK(rump_sys_close(fd) == 0);
	CHECK(rump_pub_etfs_register_withsize("/part", argv[1], RUMP_ETFS_REG, 5, 4) == 0);
	fd = rump_sys_open("/part", RUMP_O_RDONLY);
	CHECK(rump_sys_read(fd, buf, sizeof buf) == 4 && memcmp(buf, "data", 4) == 0);
	/* Removal: the key goes, an fd open on it keeps working. */
	CHECK(rump_pub_etfs_remove("/part") == 0);
	ERR(rump_sys_open("/part", RUMP_O_RDONLY), RUMP_ENOENT);
	CHECK(rump_sys_pread(fd, buf, sizeof buf, 0) == 4);
	CHECK(rump_pub_etfs_remove("/part") == RUMP_ENOENT);
	CHECK(rump_pub_etfs_remove("/etfs") == RUMP_EINVAL);
	CHECK(rump_pub_etfs_register("/part", argv[1], RUMP_ETFS_REG) == 0);
	CHECK(rump_pub_etfs_register("/mnt/h", argv[2], RUMP_ETFS_DIR_SUBDIRS) == 0);
	fd = rump_sys_open("/mnt/h/sub/x", RUMP_O_RDONLY);
	CHECK(fd >= 0 && rump_sys_read(fd, buf, sizeof buf) == 2 && memcmp(buf, "x\n", 2) == 0);
	CHECK(rump_pub_etfs_remove("/mnt/h") == 0);
	ERR(rump_sys_open("/mnt/h/sub/x", RUMP_O_RDONLY), RUMP_ENOENT);
	printf("etfs ok\n");
	return 0;
}
