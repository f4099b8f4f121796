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

static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len, int port_opt)
{
	char buf[128];
	const char *colon = port_opt ? NULL : strrchr(s, ':');
	size_t alen = colon ? (size_t)(colon - s) : strlen(s);

	if (alen >= sizeof(buf))
		return -1;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (buf[0] == '[' || strchr(buf, ':')) {
		struct sockaddr_in6 *a = (void *)ss;
		char *b = buf[0] == '[' ? buf + 1 : buf;

		if (buf[0] == '[')
			buf[strlen(buf) - 1] = '\0';
		a->sin6_family = AF_INET6;
		a->sin6_port = colon ? htons((unsigned short)atoi(colon + 1)) : 0;
		*len = sizeof(*a);
		return inet_pton(AF_INET6, b, &a->sin6_addr) == 1 ? 0 : -1;
	}
	struct sockaddr_in *a = (void *)ss;

	a->sin_family = AF_INET;
	a->sin_port = colon ? htons((unsigned short)atoi(colon + 1)) : 0;
	*len = sizeof(*a);
	return inet_pton(AF_INET, buf, &a->sin_addr) == 1 ? 0 : -1;
}

static const char *fmt(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)ss;

		inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(s->sin_port));
	} else {
		const struct sockaddr_in6 *s = (const void *)ss;

		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, ntohs(s->sin6_port));
	}
	return buf;
}

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
	if (optind + 1 != argc || parse_addr(argv[optind], &dst, &dlen, 0)) {
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
		if (parse_addr(bind_addr, &src, &slen, 1) || bind(s, (void *)&src, slen))
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
	printf("ok local=%s peer=%s\n", fmt(&local, l, sizeof(l)), fmt(&peer, p, sizeof(p)));
	close(s);
	return 0;
}
