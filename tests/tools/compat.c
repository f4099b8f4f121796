// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The app-compatibility matrix's programs: the ways real apps read and write a TCP socket,
 * each bounded (nothing waits more than 5 s), each checked byte for byte.
 *
 *   compat server ADDR:PORT -r READER [-d MS]
 *       one process per connection: reads with READER until EOF, answering every chunk
 *       it read after MS (default 20) ms, then half-closes. Prints nothing.
 *   compat client ADDR:PORT [-r READER] [-w WRITER] [-n BYTES] [-i IDLE_MS] [--rst]
 *       connects, idles IDLE_MS, writes BYTES (default 65536) of a pattern with WRITER,
 *       half-closes, reads the echo back with READER until EOF and compares. --rst: an
 *       abortive close (SO_LINGER 0) halfway through the echo instead, then a second,
 *       plain exchange on a new connection must work.
 *   READER: plain (poll + recv until EAGAIN), block (blocking recv), et (EPOLLET, one recv
 *       per edge, a short read taken for "drained": tokio's, HAProxy's, nginx's rule),
 *       fionread (read what FIONREAD says), peek (MSG_PEEK 16 bytes first, Envoy's listener
 *       filters), rcvlowat (SO_RCVLOWAT 16 KiB), splice (through a pipe)
 *   WRITER: plain, sendfile (from a file), msgmore (1 KiB pieces with MSG_MORE), cork
 *       (TCP_CORK around the writes)
 * Prints "ok bytes=N" and exits 0, or "fail WHAT: got N of M" and exits 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "sockaddr.h"

#define DEADLINE_MS 5000
#define CHUNK 65536

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static int left(long long deadline)
{
	long long l = deadline - now_ms();

	return l < 0 ? 0 : (int)l;
}

/* Read until EOF (or max bytes) with the reader's rule; -1 on an error, -2 on the deadline
 * (a stall: the reader waited for data it was not told about). */
static ssize_t read_all(int fd, const char *reader, unsigned char *buf, size_t max)
{
	long long deadline = now_ms() + DEADLINE_MS;
	size_t got = 0;
	int pipefd[2] = { -1, -1 }, ep = -1;
	bool et = !strcmp(reader, "et"), block = !strcmp(reader, "block");
	bool peeked = false, closed = false;

	if (!strcmp(reader, "splice") && pipe(pipefd))
		return -1;
	if (!strcmp(reader, "rcvlowat")) {
		int lowat = 16384;

		setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat));
	}
	if (block) {
		struct timeval tv = { DEADLINE_MS / 1000, 0 };

		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	} else {
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	}
	if (et) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.fd = fd };

		ep = epoll_create1(0);
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	}
	for (;;) {
		ssize_t n;

		if (got == max)
			return (ssize_t)got;
		if (et) {
			struct epoll_event ev;

			/* wait for an edge, then one read: short means drained (until the next edge).
			 * The peer's close is not an edge to wait for again: once seen, it stays
			 * (tokio never clears READ_CLOSED; HAProxy takes short + HUP for EOF), or
			 * data and FIN that arrive together would look like a stall. */
			if (!closed) {
				if (epoll_wait(ep, &ev, 1, left(deadline)) <= 0) {
					close(ep);
					return -2;
				}
				closed = ev.events & (EPOLLRDHUP | EPOLLHUP);
			}
			do {
				n = recv(fd, buf + got, max - got < CHUNK ? max - got : CHUNK, 0);
				if (n > 0)
					got += (size_t)n;
			} while (n == CHUNK && got < max);
			if (n == 0) {
				close(ep);
				return (ssize_t)got;
			}
			if (n < 0 && errno != EAGAIN) {
				close(ep);
				return -1;
			}
			if (n < 0)
				closed = false;  /* closed, yet nothing to read: wait for an edge */
			continue;
		}
		if (!block) {
			struct pollfd p = { .fd = fd, .events = POLLIN };

			if (poll(&p, 1, left(deadline)) <= 0)
				return -2;
		}
		if (!strcmp(reader, "fionread")) {
			int avail = 0;
			char probe;

			if (ioctl(fd, FIONREAD, &avail))
				return -1;
			if (avail == 0) {
				/* readable but "nothing to read": EOF, or bytes FIONREAD does not see */
				n = recv(fd, &probe, 1, MSG_PEEK);
				if (n == 0)
					return (ssize_t)got;
				if (now_ms() > deadline)
					return -2;
				usleep(1000);   /* an app trusting FIONREAD asks again */
				continue;
			}
			n = recv(fd, buf + got, (size_t)avail < max - got ? (size_t)avail : max - got, 0);
		} else if (!strcmp(reader, "peek") && !peeked) {
			char hdr[16];

			n = recv(fd, hdr, sizeof(hdr), MSG_PEEK);
			if (n < 0 && errno == EAGAIN)
				continue;
			peeked = n > 0;
			if (n == 0)
				return (ssize_t)got;
			continue;
		} else if (pipefd[0] >= 0) {
			n = splice(fd, NULL, pipefd[1], NULL, CHUNK, SPLICE_F_NONBLOCK);
			if (n > 0 && read(pipefd[0], buf + got, (size_t)n) != n)
				return -1;
		} else {
			n = recv(fd, buf + got, max - got < CHUNK ? max - got : CHUNK, 0);
		}
		if (n == 0)
			return (ssize_t)got;
		if (n < 0) {
			if (errno == EAGAIN && !block)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? -2 : -1;
		}
		got += (size_t)n;
	}
}

static int write_all(int fd, const char *writer, const unsigned char *buf, size_t n)
{
	int one = 1, zero = 0;
	size_t off = 0;

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	if (!strcmp(writer, "sendfile")) {
		int f = memfd_create("compat", 0);
		off_t o = 0;

		if (f < 0 || write(f, buf, n) != (ssize_t)n)
			return -1;
		while ((size_t)o < n)
			if (sendfile(fd, f, &o, n - (size_t)o) <= 0)
				return -1;
		close(f);
		return 0;
	}
	if (!strcmp(writer, "cork"))
		setsockopt(fd, IPPROTO_TCP, TCP_CORK, &one, sizeof(one));
	while (off < n) {
		size_t piece = !strcmp(writer, "plain") ? n - off : (n - off < 1024 ? n - off : 1024);
		int flags = !strcmp(writer, "msgmore") && off + piece < n ? MSG_MORE : 0;
		ssize_t w = send(fd, buf + off, piece, flags);

		if (w < 0)
			return -1;
		off += (size_t)w;
	}
	if (!strcmp(writer, "cork"))
		setsockopt(fd, IPPROTO_TCP, TCP_CORK, &zero, sizeof(zero));
	return 0;
}

static void serve(int c, const char *reader, int delay_ms)
{
	static unsigned char buf[1 << 20];
	ssize_t n;

	/* chunk by chunk: the answer to each comes after delay_ms, as from a remote service */
	for (;;) {
		struct pollfd p = { .fd = c, .events = POLLIN };

		if (poll(&p, 1, DEADLINE_MS) <= 0)
			break;
		if (!strcmp(reader, "splice") || !strcmp(reader, "peek") || !strcmp(reader, "fionread") ||
		    !strcmp(reader, "rcvlowat")) {
			/* the whole request with that reader, then the answer */
			n = read_all(c, reader, buf, sizeof(buf));
			usleep((useconds_t)delay_ms * 1000);
			if (n > 0)
				write_all(c, "plain", buf, (size_t)n);
			break;
		}
		n = recv(c, buf, CHUNK, 0);
		if (n <= 0)
			break;
		usleep((useconds_t)delay_ms * 1000);
		if (write_all(c, "plain", buf, (size_t)n))
			break;
	}
	shutdown(c, SHUT_WR);
	/* until the client is done: a close now could reset what it has not read */
	while (recv(c, buf, sizeof(buf), 0) > 0)
		;
	close(c);
}

static int connect_to(const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	if (addr_parse(addr, &ss, &len))
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (void *)&ss, len))
		return -1;
	return fd;
}

static int exchange(const char *addr, const char *reader, const char *writer, size_t n,
		    int idle_ms, bool rst)
{
	unsigned char *out = malloc(n), *in = malloc(n + 1);
	long long t0;
	ssize_t got;
	int fd = connect_to(addr);

	if (fd < 0 || !out || !in) {
		printf("fail connect: %s\n", strerror(errno));
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		out[i] = (unsigned char)(i * 7 + i / 251);
	if (idle_ms)
		usleep((useconds_t)idle_ms * 1000);
	if (write_all(fd, writer, out, n)) {
		printf("fail write (%s): %s\n", writer, strerror(errno));
		return 1;
	}
	if (rst) {
		struct linger lg = { 1, 0 };

		read_all(fd, "plain", in, n / 2);
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
		return exchange(addr, "plain", "plain", 4096, 0, false);
	}
	shutdown(fd, SHUT_WR);
	t0 = now_ms();
	got = read_all(fd, reader, in, n + 1);
	close(fd);
	if (got == -2 && now_ms() - t0 < DEADLINE_MS - 500) {
		printf("fail EAGAIN after %lld ms (a blocking read that did not block)\n", now_ms() - t0);
		return 1;
	}
	if (got == -2) {
		printf("fail stalled (%s reader waited %d ms)\n", reader, DEADLINE_MS);
		return 1;
	}
	if (got < 0) {
		printf("fail read (%s): %s\n", reader, strerror(errno));
		return 1;
	}
	if ((size_t)got != n || memcmp(in, out, n)) {
		printf("fail bytes: got %zd of %zu%s\n", got, n, (size_t)got == n ? ", different" : "");
		return 1;
	}
	printf("ok bytes=%zu\n", n);
	free(out);
	free(in);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = { { "rst", no_argument, NULL, 'R' }, { 0 } };
	const char *reader = "plain", *writer = "plain";
	size_t n = 65536;
	int opt, delay = 20, idle = 0;
	bool rst = false;

	signal(SIGPIPE, SIG_IGN);
	if (argc < 3)
		goto usage;
	optind = 3;
	while ((opt = getopt_long(argc, argv, "r:w:n:i:d:", lo, NULL)) != -1) {
		switch (opt) {
		case 'r': reader = optarg; break;
		case 'w': writer = optarg; break;
		case 'n': n = strtoul(optarg, NULL, 10); break;
		case 'i': idle = atoi(optarg); break;
		case 'd': delay = atoi(optarg); break;
		case 'R': rst = true; break;
		default: goto usage;
		}
	}
	if (!strcmp(argv[1], "client"))
		return exchange(argv[2], reader, writer, n, idle, rst);
	if (!strcmp(argv[1], "server")) {
		struct sockaddr_storage ss;
		socklen_t len;
		int one = 1, l;

		signal(SIGCHLD, SIG_IGN);
		if (addr_parse(argv[2], &ss, &len))
			goto usage;
		l = socket(ss.ss_family, SOCK_STREAM, 0);
		if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
		    bind(l, (void *)&ss, len) || listen(l, 64)) {
			perror("compat: listen");
			return 1;
		}
		for (;;) {
			int c = accept(l, NULL, NULL);

			if (c < 0)
				continue;
			if (!fork()) {
				close(l);
				serve(c, reader, delay);
				_exit(0);
			}
			close(c);
		}
	}
usage:
	fprintf(stderr, "usage: compat server|client ADDR:PORT [options] (see the source)\n");
	return 2;
}
