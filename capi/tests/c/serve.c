/* An in-process kernel served to clients with rump_init_server(argv[1]):
 * says "serving", serves until its stdin closes, then looks at what the
 * client wrote (client.c's /cf) in its own kernel. */
#include <unistd.h>
#include <rump/rump.h>
#include <rump/rump_syscalls.h>
#include "check.h"

int main(int argc, char **argv)
{
	char c;
	struct rump_stat sb;

	CHECK(argc == 2);
	CHECK(rump_init_server(argv[1]) == RUMP_ENXIO); /* not booted yet */
	CHECK(rump_init() == 0);
	CHECK(rump_init_server("gopher://nowhere") == RUMP_EINVAL);
	CHECK(rump_init_server(argv[1]) == 0);
	printf("serving\n");
	fflush(stdout);
	while (read(0, &c, 1) > 0)
		;
	CHECK(rump_sys_stat("/cf", &sb) == 0 && sb.st_size == 13);
	printf("the client's file is here\n");
	return 0;
}
