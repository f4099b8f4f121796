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
#include "sockaddr.h"

static void serve(int c, FILE *log)
{
	struct sockaddr_storage peer, local, od;
	socklen_t pl = sizeof(peer), ll = sizeof(local), ol = sizeof(od);
	char p[80], l[80], o[80] = "-", buf[65536];
	ssize_t n;

	getpeername(c, (void *)&peer, &pl);
	getsockname(c, (void *)&local, &ll);
	if (!getsockopt(c, local.ss_family == AF_INET ? SOL_IP : SOL_IPV6, 80, &od, &ol))
		addr_fmt(&od, o, sizeof(o));
	fprintf(log, "peer=%s local=%s origdst=%s\n", addr_fmt(&peer, p, sizeof(p)),
		addr_fmt(&local, l, sizeof(l)), o);
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

	if (argc != 3 || addr_parse(argv[1], &ss, &len)) {
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
