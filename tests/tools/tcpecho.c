// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Test server: listens on ADDR:PORT, echoes every byte back, and appends one line per
 * accepted connection to LOG: "peer=IP:PORT local=IP:PORT origdst=IP:PORT|-", where origdst
 * is what SO_ORIGINAL_DST (or IP6T_SO_ORIGINAL_DST) answers, as a proxy would ask.
 * Usage: tcpecho ADDR:PORT LOG     ([v6addr]:port for IPv6)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char buf[128];
	const char *colon = strrchr(s, ':');

	if (!colon || (size_t)(colon - s) >= sizeof(buf))
		return -1;
	memcpy(buf, s, (size_t)(colon - s));
	buf[colon - s] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (buf[0] == '[') {
		struct sockaddr_in6 *a = (void *)ss;

		buf[strlen(buf) - 1] = '\0';
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((unsigned short)atoi(colon + 1));
		*len = sizeof(*a);
		return inet_pton(AF_INET6, buf + 1, &a->sin6_addr) == 1 ? 0 : -1;
	}
	struct sockaddr_in *a = (void *)ss;

	a->sin_family = AF_INET;
	a->sin_port = htons((unsigned short)atoi(colon + 1));
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

static void serve(int c, FILE *log)
{
	struct sockaddr_storage peer, local, od;
	socklen_t pl = sizeof(peer), ll = sizeof(local), ol = sizeof(od);
	char p[80], l[80], o[80] = "-", buf[65536];
	ssize_t n;

	getpeername(c, (void *)&peer, &pl);
	getsockname(c, (void *)&local, &ll);
	if (!getsockopt(c, local.ss_family == AF_INET ? SOL_IP : SOL_IPV6, 80, &od, &ol))
		fmt(&od, o, sizeof(o));
	fprintf(log, "peer=%s local=%s origdst=%s\n", fmt(&peer, p, sizeof(p)),
		fmt(&local, l, sizeof(l)), o);
	fflush(log);
	while ((n = read(c, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(c, buf + off, (size_t)(n - off));

			if (w <= 0)
				return;
			off += w;
		}
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	FILE *log;
	int s, one = 1;

	if (argc != 3 || parse_addr(argv[1], &ss, &len)) {
		fprintf(stderr, "usage: tcpecho ADDR:PORT LOGFILE\n");
		return 2;
	}
	log = fopen(argv[2], "a");
	if (!log) {
		perror(argv[2]);
		return 1;
	}
	signal(SIGCHLD, SIG_IGN); /* children reaped by the kernel */
	s = socket(ss.ss_family, SOCK_STREAM, 0);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (s < 0 || bind(s, (void *)&ss, len) || listen(s, 128)) {
		perror("tcpecho: listen");
		return 1;
	}
	for (;;) {
		int c = accept(s, NULL, NULL);

		if (c < 0) {
			if (errno == EINTR)
				continue;
			perror("accept");
			return 1;
		}
		if (fork() == 0) {
			close(s);
			serve(c, log);
			_exit(0);
		}
		close(c);
	}
}
