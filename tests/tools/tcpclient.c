// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Test client: connects to ADDR:PORT (optionally from a bound source address), sends N
 * random bytes, half-closes, reads the echo back and compares. Prints one line:
 * "ok local=IP:PORT peer=IP:PORT" (peer as getpeername() tells the app), exit 0; or
 * "fail <what>: <why>", exit 1.
 * Usage: tcpclient [-b SRCADDR] [-n BYTES] [-t SECONDS] ADDR:PORT
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include "sockaddr.h"

static int fail(const char *what)
{
	printf("fail %s: %s\n", what, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage dst, src, local, peer;
	socklen_t dlen, slen, ll = sizeof(local), pl = sizeof(peer);
	const char *bind_addr = NULL;
	size_t n = 4096, sent = 0, got = 0;
	int opt, s, timeout = 5;
	unsigned char *out, *in;
	char l[80], p[80];

	signal(SIGPIPE, SIG_IGN);
	while ((opt = getopt(argc, argv, "b:n:t:")) != -1) {
		if (opt == 'b')
			bind_addr = optarg;
		else if (opt == 'n')
			n = strtoull(optarg, NULL, 0);
		else if (opt == 't')
			timeout = atoi(optarg);
		else
			return 2;
	}
	if (optind + 1 != argc || addr_parse(argv[optind], &dst, &dlen)) {
		fprintf(stderr, "usage: tcpclient [-b SRCADDR] [-n BYTES] [-t SECONDS] ADDR:PORT\n");
		return 2;
	}
	out = malloc(n ? n : 1);
	in = malloc(n ? n : 1);
	srand((unsigned)getpid());
	for (size_t i = 0; i < n; i++)
		out[i] = (unsigned char)rand();
	s = socket(dst.ss_family, SOCK_STREAM, 0);
	struct timeval tv = { timeout, 0 };
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (bind_addr) {
		if (addr_parse(bind_addr, &src, &slen) || bind(s, (void *)&src, slen))
			return fail("bind");
	}
	if (connect(s, (void *)&dst, dlen))
		return fail("connect");
	getsockname(s, (void *)&local, &ll);
	getpeername(s, (void *)&peer, &pl);
	while (sent < n || got < n) {
		struct pollfd pfd = { s, (short)(POLLIN | (sent < n ? POLLOUT : 0)), 0 };

		if (poll(&pfd, 1, timeout * 1000) <= 0) {
			errno = ETIMEDOUT;
			return fail("echo");
		}
		if ((pfd.revents & POLLOUT) && sent < n) {
			ssize_t w = write(s, out + sent, n - sent > 65536 ? 65536 : n - sent);

			if (w < 0)
				return fail("write");
			sent += (size_t)w;
			if (sent == n)
				shutdown(s, SHUT_WR);
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = read(s, in + got, n - got);

			if (r < 0)
				return fail("read");
			if (r == 0 && got < n) {
				errno = EPIPE;
				return fail("echo short");
			}
			got += (size_t)r;
		}
	}
	if (n && memcmp(in, out, n)) {
		errno = EILSEQ;
		return fail("echo corrupted");
	}
	if (n == 0)
		shutdown(s, SHUT_WR);
	printf("ok local=%s peer=%s\n", addr_fmt(&local, l, sizeof(l)), addr_fmt(&peer, p, sizeof(p)));
	close(s);
	return 0;
}
