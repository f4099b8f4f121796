/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Where did a connection land? The differential test's two halves.
 *
 *   landing serve NAME [-o] PORT...
 *       Listens on 0.0.0.0:PORT and [::]:PORT (v6-only) for every PORT. Each accepted
 *       connection gets one line and is closed:
 *         NAME:PORT orig=ADDR      with -o (a proxy): what SO_ORIGINAL_DST answers
 *                                  (IP6T_SO_ORIGINAL_DST on IPv6), "-" when it fails or
 *                                  names the listener itself
 *         NAME:PORT local=ADDR     without -o: the address that was reached
 *
 *   landing probe [-t MS]
 *       Reads cases from stdin, one a line: "ID DST PORT [SRC]" (SRC: bind it first), and
 *       prints "ID RESULT" for each: the server's line, "refused", "error:ERRNO-NAME",
 *       "timeout" or "closed" (connected, no line).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include "sockaddr.h"

/* linux/netfilter_ipv4.h and ip6_tables.h clash with glibc's netinet/in.h */
#define SO_ORIGINAL_DST 80
#define IP6T_SO_ORIGINAL_DST 80

#define MAX_LISTEN 64

static int listen_on(int family, int port)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int fd, one = 1;

	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (void *)&ss;

		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((unsigned short)port);
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (void *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((unsigned short)port);
		len = sizeof(*a);
	}
	if (bind(fd, (void *)&ss, len) || listen(fd, 128)) {
		close(fd);
		return -1;
	}
	return fd;
}

static void set_port(struct sockaddr_storage *ss, int port)
{
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons((unsigned short)port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons((unsigned short)port);
}

/* With -o, orig is what the proxy would forward to: SO_ORIGINAL_DST, unless it only names
 * the listener itself (conntrack answers for a connection it did not translate; a proxy
 * would not forward that one anywhere) -- then "-", as when it fails. */
static void answer(int c, const char *name, int port, int family, int orig)
{
	struct sockaddr_storage local = { 0 }, od = { 0 };
	socklen_t len = sizeof(local), olen = sizeof(od);
	char line[256], a[128], b[128];
	const char *shown = "-";
	int n;

	if (getsockname(c, (void *)&local, &len))
		local.ss_family = AF_UNSPEC;
	if (orig) {
		int r = family == AF_INET6 ?
			getsockopt(c, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &od, &olen) :
			getsockopt(c, SOL_IP, SO_ORIGINAL_DST, &od, &olen);

		set_port(&local, port);
		if (!r && local.ss_family != AF_UNSPEC &&
		    strcmp(addr_fmt(&od, a, sizeof(a)), addr_fmt(&local, b, sizeof(b))))
			shown = a;
		n = snprintf(line, sizeof(line), "%s:%d orig=%s\n", name, port, shown);
	} else {
		n = snprintf(line, sizeof(line), "%s:%d local=%s\n", name, port,
			     local.ss_family == AF_UNSPEC ? "-" : addr_fmt(&local, a, sizeof(a)));
	}
	if (write(c, line, (size_t)n) != n) {
		/* the prober went away; nothing to tell */
	}
	close(c);
}

static int serve(int argc, char **argv)
{
	struct pollfd pfd[MAX_LISTEN];
	int port[MAX_LISTEN], fam[MAX_LISTEN], n = 0, orig = 0;
	const char *name;

	if (argc < 3)
		return 2;
	name = argv[2];
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "-o")) {
			orig = 1;
			continue;
		}
		for (int f = 0; f < 2; f++) {
			int family = f ? AF_INET6 : AF_INET, fd;

			if (n == MAX_LISTEN)
				return 2;
			fd = listen_on(family, atoi(argv[i]));
			if (fd < 0) {
				fprintf(stderr, "landing: listen %s port %s: %s\n",
					f ? "IPv6" : "IPv4", argv[i], strerror(errno));
				return 1;
			}
			pfd[n] = (struct pollfd){ .fd = fd, .events = POLLIN };
			port[n] = atoi(argv[i]);
			fam[n++] = family;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		if (poll(pfd, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		for (int i = 0; i < n; i++) {
			int c;

			if (!(pfd[i].revents & POLLIN))
				continue;
			c = accept4(pfd[i].fd, NULL, NULL, SOCK_CLOEXEC);
			if (c >= 0)
				answer(c, name, port[i], fam[i], orig);
		}
	}
}

/* connect with a deadline; 0, or an errno */
static int connect_within(int fd, const struct sockaddr_storage *ss, socklen_t len, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	socklen_t elen = sizeof(int);
	int err = 0;

	fcntl(fd, F_SETFL, O_NONBLOCK);
	if (!connect(fd, (const void *)ss, len))
		return 0;
	if (errno != EINPROGRESS)
		return errno;
	if (poll(&p, 1, ms) != 1)
		return ETIMEDOUT;
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
	return err;
}

static void probe_one(const char *id, const char *dst, const char *port, const char *src, int ms)
{
	struct sockaddr_storage d, s;
	socklen_t dlen, slen;
	char target[160], buf[256];
	struct pollfd p;
	ssize_t got = 0, r;
	int fd, err;

	snprintf(target, sizeof(target), strchr(dst, ':') ? "[%s]:%s" : "%s:%s", dst, port);
	if (addr_parse(target, &d, &dlen) || (src && addr_parse(src, &s, &slen))) {
		printf("%s error:bad-case\n", id);
		return;
	}
	fd = socket(d.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		printf("%s error:%s\n", id, strerrorname_np(errno));
		return;
	}
	if (src && bind(fd, (void *)&s, slen)) {
		printf("%s error:bind-%s\n", id, strerrorname_np(errno));
		close(fd);
		return;
	}
	err = connect_within(fd, &d, dlen, ms);
	if (err) {
		printf("%s %s\n", id, err == ECONNREFUSED ? "refused" :
		       err == ETIMEDOUT ? "timeout" : strerrorname_np(err));
		close(fd);
		return;
	}
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	while (got < (ssize_t)sizeof(buf) - 1 && poll(&p, 1, ms) == 1) {
		r = read(fd, buf + got, sizeof(buf) - 1 - (size_t)got);
		if (r <= 0)
			break;
		got += r;
		if (memchr(buf, '\n', (size_t)got))
			break;
	}
	close(fd);
	buf[got] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	printf("%s %s\n", id, got ? buf : "closed");
}

static int probe(int argc, char **argv)
{
	char line[512];
	int ms = 2000;

	if (argc == 4 && !strcmp(argv[2], "-t"))
		ms = atoi(argv[3]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin)) {
		char *f[4] = { 0 }, *save = NULL;
		int n = 0;

		for (char *t = strtok_r(line, " \t\n", &save); t && n < 4; t = strtok_r(NULL, " \t\n", &save))
			f[n++] = t;
		if (n < 3)
			continue;
		probe_one(f[0], f[1], f[2], f[3], ms);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "serve"))
		return serve(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "probe"))
		return probe(argc, argv);
	fprintf(stderr, "usage: landing serve NAME [-o] PORT... | landing probe [-t MS] < cases\n");
	return 2;
}
