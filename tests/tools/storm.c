// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Many connections at once, every one checked: where it landed and every byte it carried.
 *
 *   storm serve NAME ADDR:PORT...
 *       one epoll loop over every listener: each accepted connection gets the line
 *       "NAME PORT\n" (PORT: the listener's), then every byte it sends comes back; closes
 *       after the peer's half-close. Forever.
 *   storm client -n COUNT [-c CONCURRENT] [-l BYTES] [-t SECONDS] [--hold] DST=NAME...
 *       COUNT connections, at most CONCURRENT open at a time (default: all), round-robin
 *       over the destinations. Each writes BYTES of a pattern seeded by its number,
 *       half-closes, and expects "NAME PORT\n" from the destination it asked for, then its
 *       bytes back. --hold keeps every finished connection open until all COUNT are, so
 *       COUNT connections are established at the same time (it implies -c COUNT).
 *       Prints "ok=N failed=N wrong=N peak=N" (wrong: answered by another destination than
 *       the one asked, or bytes changed) and, per failure kind, "  KIND: N". Exit 0 only
 *       when every connection was ok.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include "sockaddr.h"

#define MAX_DST 64
#define BANNER_MAX 64

static void raise_nofile(void)
{
	struct rlimit r;

	if (!getrlimit(RLIMIT_NOFILE, &r)) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
}

static uint8_t pattern(uint32_t id, uint64_t pos)
{
	uint64_t x = ((uint64_t)id << 32 ^ pos) * 0x9e3779b97f4a7c15ull;

	return (uint8_t)(x >> 56);
}

/* ---- server ----------------------------------------------------------------------------- */

struct srv_conn {
	int fd;
	char out[BANNER_MAX + 4096];
	size_t out_len, out_off;
	int rd_done;
};

static int serve(int argc, char **argv)
{
	const char *name = argv[0];
	int ep = epoll_create1(EPOLL_CLOEXEC), nl = argc - 1;
	int lfd[MAX_DST];
	uint16_t lport[MAX_DST];
	struct epoll_event ev, evs[256];

	if (nl < 1 || nl > MAX_DST) {
		fprintf(stderr, "storm serve: NAME and 1..%d ADDR:PORT\n", MAX_DST);
		return 2;
	}
	raise_nofile();
	for (int i = 0; i < nl; i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		int one = 1;

		if (addr_parse(argv[i + 1], &ss, &len)) {
			fprintf(stderr, "storm: bad address %s\n", argv[i + 1]);
			return 2;
		}
		lfd[i] = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		setsockopt(lfd[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ss.ss_family == AF_INET6)
			setsockopt(lfd[i], IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (bind(lfd[i], (void *)&ss, len) || listen(lfd[i], 4096)) {
			perror("storm: bind/listen");
			return 1;
		}
		lport[i] = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		ev.events = EPOLLIN;
		ev.data.u64 = (uint64_t)i;     /* listeners: small numbers; connections: pointers */
		epoll_ctl(ep, EPOLL_CTL_ADD, lfd[i], &ev);
	}
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);

		for (int k = 0; k < n; k++) {
			uint64_t tag = evs[k].data.u64;

			if (tag < MAX_DST) {
				int c;

				while ((c = accept4(lfd[tag], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					struct srv_conn *sc = calloc(1, sizeof(*sc));

					sc->fd = c;
					sc->out_len = (size_t)snprintf(sc->out, BANNER_MAX, "%s %u\n", name,
								       lport[tag]);
					ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
					ev.data.ptr = sc;
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
				continue;
			}
			struct srv_conn *sc = evs[k].data.ptr;
			int dead = 0;

			for (;;) {
				/* flush, then read what fits; echo is bounded by the buffer */
				while (sc->out_off < sc->out_len) {
					ssize_t w = write(sc->fd, sc->out + sc->out_off,
							  sc->out_len - sc->out_off);
					if (w < 0) {
						dead = errno != EAGAIN;
						break;
					}
					sc->out_off += (size_t)w;
				}
				if (dead || sc->out_off < sc->out_len)
					break;
				sc->out_off = sc->out_len = 0;
				if (sc->rd_done)
					break;
				ssize_t r = read(sc->fd, sc->out, sizeof(sc->out));

				if (r > 0) {
					sc->out_len = (size_t)r;
					continue;
				}
				if (r == 0)
					sc->rd_done = 1;
				else if (errno != EAGAIN)
					dead = 1;
				break;
			}
			if (dead || (sc->rd_done && sc->out_off == sc->out_len)) {
				close(sc->fd);
				free(sc);
			}
		}
	}
}

/* ---- client ----------------------------------------------------------------------------- */

enum cstate { C_IDLE, C_CONNECTING, C_RUNNING, C_DONE };
enum fail { F_CONNECT, F_RESET, F_EOF, F_TIMEOUT, F_KINDS };
static const char *const fail_name[F_KINDS] = { "connect refused or failed", "reset",
						"closed early", "timed out" };

struct dst {
	struct sockaddr_storage ss;
	socklen_t len;
	char banner[BANNER_MAX];
	size_t banner_len;
};

struct cli_conn {
	int fd;
	uint32_t id;
	enum cstate st;
	const struct dst *d;
	uint64_t sent, got;          /* payload bytes written / read back (after the banner) */
	char banner[BANNER_MAX];
	size_t blen;
	int shut;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* 1 done and right, -1 wrong, 0 not yet; *fail set on an error */
static int cli_step(struct cli_conn *c, uint64_t len, int *fail)
{
	uint8_t buf[16384];

	if (c->st == C_CONNECTING) {
		int e = 0;
		socklen_t el = sizeof(e);

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &el);
		if (e == EINPROGRESS || e == EALREADY)
			return 0;
		if (e) {
			*fail = F_CONNECT;
			return 0;
		}
		c->st = C_RUNNING;
	}
	while (c->sent < len) {
		size_t n = len - c->sent < sizeof(buf) ? (size_t)(len - c->sent) : sizeof(buf);
		ssize_t w;

		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(c->id, c->sent + i);
		w = write(c->fd, buf, n);
		if (w < 0) {
			if (errno == EAGAIN)
				break;
			*fail = errno == ENOTCONN || errno == ECONNREFUSED ? F_CONNECT : F_RESET;
			return 0;
		}
		c->sent += (uint64_t)w;
	}
	if (c->sent == len && !c->shut) {
		shutdown(c->fd, SHUT_WR);
		c->shut = 1;
	}
	for (;;) {
		ssize_t r = read(c->fd, buf, sizeof(buf));
		size_t off = 0;

		if (r < 0) {
			if (errno == EAGAIN)
				return 0;
			*fail = errno == ECONNREFUSED ? F_CONNECT : F_RESET;
			return 0;
		}
		if (r == 0) {
			if (c->blen && c->banner[c->blen - 1] == '\n' && c->got == len && c->sent == len)
				return 1;
			*fail = F_EOF;
			return 0;
		}
		while (off < (size_t)r && (!c->blen || c->banner[c->blen - 1] != '\n')) {
			if (c->blen == BANNER_MAX - 1)
				return -1;
			c->banner[c->blen++] = (char)buf[off++];
			if (c->banner[c->blen - 1] == '\n' &&
			    (c->blen != c->d->banner_len || memcmp(c->banner, c->d->banner, c->blen)))
				return -1;      /* another destination answered */
		}
		for (; off < (size_t)r; off++, c->got++)
			if (c->got >= len || buf[off] != pattern(c->id, c->got))
				return -1;      /* bytes changed or from another connection */
	}
}

static int client(int argc, char **argv)
{
	uint64_t count = 0, conc = 0, len = 1024, timeout_s = 60, ok = 0, wrong = 0, nfail = 0;
	uint64_t started = 0, finished = 0, open_now = 0, peak = 0, fails[F_KINDS] = { 0 };
	struct dst dsts[MAX_DST];
	int nd = 0, hold = 0, ep;
	struct cli_conn *cs;
	struct epoll_event ev, evs[512];
	uint64_t deadline;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "-n") && i + 1 < argc)
			count = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "-c") && i + 1 < argc)
			conc = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "-l") && i + 1 < argc)
			len = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "-t") && i + 1 < argc)
			timeout_s = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--hold"))
			hold = 1;
		else {
			char *eq = strchr(argv[i], '='), a[128];
			unsigned port;

			if (!eq || nd == MAX_DST || (size_t)(eq - argv[i]) >= sizeof(a)) {
				fprintf(stderr, "storm client: bad argument %s\n", argv[i]);
				return 2;
			}
			memcpy(a, argv[i], (size_t)(eq - argv[i]));
			a[eq - argv[i]] = '\0';
			if (addr_parse(a, &dsts[nd].ss, &dsts[nd].len)) {
				fprintf(stderr, "storm client: bad address %s\n", a);
				return 2;
			}
			port = ntohs(((struct sockaddr_in *)&dsts[nd].ss)->sin_port);
			dsts[nd].banner_len = (size_t)snprintf(dsts[nd].banner, BANNER_MAX, "%s %u\n",
							       eq + 1, port);
			nd++;
		}
	}
	if (!count || !nd) {
		fprintf(stderr, "storm client: -n COUNT and at least one DST=NAME\n");
		return 2;
	}
	if (!conc || conc > count || hold)
		conc = count;
	raise_nofile();
	cs = calloc(count, sizeof(*cs));
	ep = epoll_create1(EPOLL_CLOEXEC);
	deadline = now_ms() + timeout_s * 1000;
	while (finished < count && now_ms() < deadline) {
		while (started < count && open_now < conc) {
			struct cli_conn *c = &cs[started];

			c->id = (uint32_t)started;
			c->d = &dsts[started % (uint64_t)nd];
			c->fd = socket(c->d->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			started++;
			open_now++;
			if (c->fd < 0 || (connect(c->fd, (void *)&c->d->ss, c->d->len) &&
					  errno != EINPROGRESS)) {
				c->st = C_DONE;
				fails[F_CONNECT]++;
				nfail++;
				finished++;
				open_now--;
				if (c->fd >= 0)
					close(c->fd);
				continue;
			}
			c->st = C_CONNECTING;
			ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
			ev.data.ptr = c;
			epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
		}
		if (open_now > peak)
			peak = open_now;
		int n = epoll_wait(ep, evs, 512, 200);

		for (int k = 0; k < n; k++) {
			struct cli_conn *c = evs[k].data.ptr;
			int fail = -1, r;

			if (c->st == C_DONE)
				continue;
			r = cli_step(c, len, &fail);
			if (!r && fail < 0)
				continue;
			c->st = C_DONE;
			finished++;
			if (r == 1)
				ok++;
			else if (r < 0)
				wrong++;
			else {
				fails[fail]++;
				nfail++;
			}
			epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			if (!hold || r != 1) {
				close(c->fd);
				open_now--;
			}
		}
	}
	for (uint64_t i = 0; i < started; i++)
		if (cs[i].st != C_DONE) {
			fails[F_TIMEOUT]++;
			nfail++;
		}
	nfail += count - started;
	fails[F_TIMEOUT] += count - started;
	printf("ok=%llu failed=%llu wrong=%llu peak=%llu\n", (unsigned long long)ok,
	       (unsigned long long)nfail, (unsigned long long)wrong, (unsigned long long)peak);
	for (int f = 0; f < F_KINDS; f++)
		if (fails[f])
			printf("  %s: %llu\n", fail_name[f], (unsigned long long)fails[f]);
	return ok == count ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "serve"))
		return serve(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "client"))
		return client(argc - 2, argv + 2);
	fprintf(stderr, "usage: storm serve NAME ADDR:PORT... | storm client -n COUNT [-c N] "
			"[-l BYTES] [-t SECONDS] [--hold] DST=NAME...\n");
	return 2;
}
