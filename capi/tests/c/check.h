/* Shared by the C tests of the installed libraries: CHECK(cond) prints the
 * failing line and exits 1; ERR(call, e) wants -1 with errno == e. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: failed: %s (errno %d)\n", \
	__FILE__, __LINE__, #c, errno); exit(1); } } while (0)
#define ERR(call, e) do { errno = 0; long r_ = (long)(call); if (r_ != -1 || errno != (e)) { \
	fprintf(stderr, "%s:%d: %s: got %ld errno %d, wanted -1 errno %d\n", __FILE__, __LINE__, \
	#call, r_, errno, (e)); exit(1); } } while (0)
