/* sigstorm.c FILE: writes and reads FILE and a loopback TCP stream at
 * 127.0.0.1:7002 (rump ones under rumpctl run) in 512-byte pieces while
 * an interval timer sends SIGALRM every 200 us to a handler with
 * SA_RESTART (as glibc's signal() and Go's runtime install theirs), so
 * an interrupted call is made again, never ended with EINTR. Prints
 * whether each holds exactly what was written (each call done once).
 * Built static for tools/tests/run.rs. */
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

enum { PIECE = 512, PIECES = 2000 };

static volatile sig_atomic_t alarms;

static void on_alarm(int s)
{
	(void)s;
	alarms++;
}

static void fill(char *b, int i)
{
	for (int k = 0; k < PIECE; k++)
		b[k] = (char)('a' + (i + k) % 26);
}

/* All of `n` bytes, going on after short counts. */
static int put(int fd, const char *b, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int get(int fd, char *b, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, b, n);
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Writes PIECES pieces to `out`, each read back from `in` (the same
 * file after a seek, or the stream's other end); whether all match. */
static const char *check(int out, int in, int seek)
{
	char want[PIECE], got[PIECE];
	for (int i = 0; i < PIECES; i++) {
		fill(want, i);
		if (put(out, want, PIECE))
			return "write failed";
		if (!seek && (get(in, got, PIECE) || memcmp(got, want, PIECE)))
			return "stream differs";
	}
	if (!seek)
		return "intact";
	if (lseek(in, 0, SEEK_SET) != 0)
		return "seek failed";
	for (int i = 0; i < PIECES; i++) {
		fill(want, i);
		if (get(in, got, PIECE) || memcmp(got, want, PIECE))
			return "file differs";
	}
	char extra;
	return read(in, &extra, 1) == 0 ? "intact" : "file too long";
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, 0);
	struct itimerval it = { { 0, 200 }, { 0, 200 } };
	setitimer(ITIMER_REAL, &it, 0);

	int f = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (f < 0) {
		perror(argv[1]);
		return 1;
	}
	const char *file = check(f, f, 1);

	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(7002), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1)) {
		perror("bind/listen");
		return 1;
	}
	int c = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(c, (struct sockaddr *)&a, sizeof a)) {
		perror("connect");
		return 1;
	}
	int s = accept(l, 0, 0);
	const char *stream = s < 0 ? "accept failed" : check(c, s, 0);

	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, 0);
	printf("file: %s\nstream: %s\nsignals came: %s\n", file, stream, alarms > 0 ? "yes" : "no");
	return 0;
}
