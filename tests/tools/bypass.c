// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A meshed app trying to reach ADDR:PORT without its proxy, one way per mode. Sends N random
 * bytes, half-closes, reads the echo back and compares, like tcpclient. Prints one line:
 * "ok local=IP:PORT peer=IP:PORT" (peer as getpeername() tells the app), exit 0, or
 * "fail <what>: <why>", exit 1.
 *
 * Usage: bypass MODE [ARG] ADDR:PORT
 *   tfo              sendto(MSG_FASTOPEN): the SYN carries the first bytes, no connect()
 *   uring            connect through io_uring (IORING_OP_CONNECT)
 *   mapped           an AF_INET6 socket to ::ffff:a.b.c.d (give an IPv4 ADDR)
 *   bind SRC         bind SRC (127.0.0.6, the pod IP, ...) first, then connect
 *   device DEV       SO_BINDTODEVICE DEV, then connect
 *   unspec           connect, connect(AF_UNSPEC) to disconnect, connect again
 *   nonblock         O_NONBLOCK connect, poll for completion
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include "sockaddr.h"

#define N 4096

static int fail(const char *what)
{
	printf("fail %s: %s\n", what, strerror(errno));
	return 1;
}

static int uring_connect(int s, const struct sockaddr *sa, socklen_t len)
{
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int r;

	r = io_uring_queue_init(4, &ring, 0);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_connect(sqe, s, sa, len);
	io_uring_submit(&ring);
	r = io_uring_wait_cqe(&ring, &cqe);
	if (!r)
		r = cqe->res;
	io_uring_queue_exit(&ring);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage dst, src, local, peer;
	socklen_t dlen, slen, ll = sizeof(local), pl = sizeof(peer);
	unsigned char out[N], in[N];
	size_t sent = 0, got = 0;
	const char *mode, *arg = NULL, *addr;
	int s, family;
	char l[80], p[80];
	struct timeval tv = { 5, 0 };

	signal(SIGPIPE, SIG_IGN);
	if (argc < 3)
		goto usage;
	mode = argv[1];
	if (!strcmp(mode, "bind") || !strcmp(mode, "device")) {
		if (argc != 4)
			goto usage;
		arg = argv[2];
	} else if (argc != 3) {
		goto usage;
	}
	addr = argv[argc - 1];
	if (addr_parse(addr, &dst, &dlen))
		goto usage;
	if (!strcmp(mode, "mapped")) {
		struct sockaddr_in v4 = *(struct sockaddr_in *)&dst;
		struct sockaddr_in6 *a6 = (void *)&dst;

		if (v4.sin_family != AF_INET)
			goto usage;
		memset(&dst, 0, sizeof(dst));
		a6->sin6_family = AF_INET6;
		a6->sin6_port = v4.sin_port;
		a6->sin6_addr.s6_addr[10] = 0xff;
		a6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&a6->sin6_addr.s6_addr[12], &v4.sin_addr, 4);
		dlen = sizeof(*a6);
	}
	family = dst.ss_family;
	srand((unsigned)getpid());
	for (size_t i = 0; i < N; i++)
		out[i] = (unsigned char)rand();
	s = socket(family, SOCK_STREAM, 0);
	if (s < 0)
		return fail("socket");
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

	if (!strcmp(mode, "tfo")) {
		ssize_t w = sendto(s, out, N, MSG_FASTOPEN, (struct sockaddr *)&dst, dlen);

		if (w < 0)
			return fail("sendto MSG_FASTOPEN");
		sent = (size_t)w;
	} else if (!strcmp(mode, "uring")) {
		if (uring_connect(s, (struct sockaddr *)&dst, dlen))
			return fail("io_uring connect");
	} else if (!strcmp(mode, "bind")) {
		if (addr_parse(arg, &src, &slen) || bind(s, (struct sockaddr *)&src, slen))
			return fail("bind");
		if (connect(s, (struct sockaddr *)&dst, dlen))
			return fail("connect");
	} else if (!strcmp(mode, "device")) {
		if (setsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, arg, (socklen_t)strlen(arg)))
			return fail("SO_BINDTODEVICE");
		if (connect(s, (struct sockaddr *)&dst, dlen))
			return fail("connect");
	} else if (!strcmp(mode, "unspec")) {
		struct sockaddr unspec = { .sa_family = AF_UNSPEC };

		if (connect(s, (struct sockaddr *)&dst, dlen))
			return fail("first connect");
		if (connect(s, &unspec, sizeof(unspec)))
			return fail("connect AF_UNSPEC");
		if (connect(s, (struct sockaddr *)&dst, dlen))
			return fail("connect again");
	} else if (!strcmp(mode, "nonblock")) {
		struct pollfd pf = { .fd = s, .events = POLLOUT };
		int e = 0;
		socklen_t el = sizeof(e);

		fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
		if (connect(s, (struct sockaddr *)&dst, dlen) && errno != EINPROGRESS)
			return fail("connect");
		if (poll(&pf, 1, 5000) != 1 || getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &el) || e) {
			errno = e ? e : ETIMEDOUT;
			return fail("connect completion");
		}
		fcntl(s, F_SETFL, fcntl(s, F_GETFL) & ~O_NONBLOCK);
	} else if (!strcmp(mode, "mapped")) {
		if (connect(s, (struct sockaddr *)&dst, dlen))
			return fail("connect");
	} else {
		goto usage;
	}

	while (sent < N) {
		ssize_t w = write(s, out + sent, N - sent);

		if (w < 0 && errno == EINTR)
			continue;   /* io_uring's task work can interrupt a blocking call (6.1) */
		if (w <= 0)
			return fail("write");
		sent += (size_t)w;
	}
	shutdown(s, SHUT_WR);
	while (got < N) {
		ssize_t r = read(s, in + got, N - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return fail("read");
		if (r == 0)
			break;
		got += (size_t)r;
	}
	if (got != N || memcmp(in, out, N)) {
		printf("fail echo: got %zu of %d bytes%s\n", got, N, got == N ? ", different" : "");
		return 1;
	}
	getsockname(s, (struct sockaddr *)&local, &ll);
	getpeername(s, (struct sockaddr *)&peer, &pl);
	printf("ok local=%s peer=%s\n", addr_fmt(&local, l, sizeof(l)), addr_fmt(&peer, p, sizeof(p)));
	close(s);
	return 0;
usage:
	fprintf(stderr, "usage: bypass tfo|uring|mapped|unspec|nonblock ADDR:PORT\n"
			"       bypass bind SRC ADDR:PORT | bypass device DEV ADDR:PORT\n");
	return 2;
}
