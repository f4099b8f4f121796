// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Stream integrity over real sockets. A stream is a 16-byte header (magic, seed, length)
 * and then LENGTH bytes whose value at position i is derived from (seed, i), so a reader
 * checks every byte where it stands and also hashes the whole stream with SHA-256.
 *
 *   streamcheck server ADDR:PORT LOG [--echo] [--stall] [--hold MS] [--splice]
 *       one process per connection; --echo sends every byte back, otherwise the stream is
 *       verified here, "ok bytes=N sha256=H" or "fail ..." is appended to LOG and one
 *       byte ('K' or 'F') goes back before close. --stall alternates fast reads and
 *       pauses; --hold waits MS before the first read; --splice reads through a pipe.
 *   streamcheck client ADDR:PORT -n BYTES -s SEED [-w MAXWRITE] [--echo] [--stall]
 *       [--blocked] [-b SRCADDR[:PORT]]
 *       writes in random sizes 1..MAXWRITE (non-blocking, so partial writes happen),
 *       half-closes, then verifies the echo (--echo) or the server's verdict. --stall
 *       pauses writing (and reading the echo) now and then, so a reader can catch up and
 *       a redirect path that fell back to TCP comes back. --blocked
 *       prints how many bytes were accepted before the writer first stayed blocked 300 ms.
 *   streamcheck churn-server ADDR:PORT        accept, 1 byte in, 1 byte out, close; forever
 *   streamcheck churn ADDR:PORT -n COUNT      COUNT sequential connections of that shape
 * Prints "ok ..." and exits 0, or "fail ..." and exits 1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "sockaddr.h"

#define MAGIC 0x5348554eu /* "SHUN" */

/* ---- SHA-256 (FIPS 180-4) -------------------------------------------------------------- */
struct sha256 {
	uint32_t h[8];
	uint8_t buf[64];
	uint64_t len;
	size_t n;
};

static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha_block(struct sha256 *s, const uint8_t *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, h;

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);

		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3];
	e = s->h[4]; f = s->h[5]; g = s->h[6]; h = s->h[7];
	for (int i = 0; i < 64; i++) {
		uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
		uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));

		h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
	}
	s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d;
	s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

static void sha_init(struct sha256 *s)
{
	static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
					0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
	memcpy(s->h, iv, sizeof(iv));
	s->len = 0;
	s->n = 0;
}

static void sha_update(struct sha256 *s, const uint8_t *p, size_t len)
{
	s->len += len;
	while (len) {
		size_t take = 64 - s->n < len ? 64 - s->n : len;

		memcpy(s->buf + s->n, p, take);
		s->n += take;
		p += take;
		len -= take;
		if (s->n == 64) {
			sha_block(s, s->buf);
			s->n = 0;
		}
	}
}

static void sha_hex(struct sha256 *s, char out[65])
{
	uint64_t bits = s->len * 8;
	uint8_t pad = 0x80, zero = 0, lenb[8];

	sha_update(s, &pad, 1);
	while (s->n != 56)
		sha_update(s, &zero, 1);
	for (int i = 0; i < 8; i++)
		lenb[i] = (uint8_t)(bits >> (56 - 8 * i));
	sha_update(s, lenb, 8);
	for (int i = 0; i < 8; i++)
		sprintf(out + 8 * i, "%08x", s->h[i]);
}

/* ---- the stream ------------------------------------------------------------------------ */
static inline uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void stream_fill(uint32_t seed, uint64_t pos, uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uint64_t p = pos + i;

		out[i] = (uint8_t)(splitmix(((uint64_t)seed << 40) ^ (p >> 3)) >> (8 * (p & 7)));
	}
}

/* First mismatch in buf against the stream at pos, or -1. */
static long stream_check(uint32_t seed, uint64_t pos, const uint8_t *buf, size_t len)
{
	uint8_t exp[4096];

	for (size_t off = 0; off < len; off += sizeof(exp)) {
		size_t n = len - off < sizeof(exp) ? len - off : sizeof(exp);

		stream_fill(seed, pos + off, exp, n);
		if (memcmp(exp, buf + off, n))
			for (size_t i = 0; i < n; i++)
				if (exp[i] != buf[off + i])
					return (long)(off + i);
	}
	return -1;
}

struct hdr {
	uint32_t magic, seed;
	uint64_t len;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static int failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int failf(const char *fmt, ...)
{
	va_list ap;

	printf("fail ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return 1;
}

/* ---- server ---------------------------------------------------------------------------- */
struct srv_opts {
	int echo, stall, splice;
	unsigned hold_ms;
	FILE *log;
};

static ssize_t srv_read(int c, int *pipefd, uint8_t *buf, size_t len, int splice_mode)
{
	if (!splice_mode)
		return read(c, buf, len);
	/* splice() socket -> pipe -> read(): the path that never sees sk_msg ingress bytes. */
	ssize_t n = splice(c, NULL, pipefd[1], NULL, len > 65536 ? 65536 : len, SPLICE_F_MOVE);

	if (n <= 0)
		return n;
	for (ssize_t got = 0; got < n;) {
		ssize_t r = read(pipefd[0], buf + got, (size_t)(n - got));

		if (r <= 0)
			return -1;
		got += r;
	}
	return n;
}

static void serve(int c, const struct srv_opts *o)
{
	static uint8_t buf[1 << 20];
	struct sha256 sha;
	struct hdr h;
	uint64_t got = 0, hdr_got = 0;
	int pipefd[2] = { -1, -1 };
	char hex[65];
	unsigned rnd = (unsigned)getpid();
	const char *verdict = NULL;
	char why[200] = "";

	if (o->splice && pipe(pipefd))
		_exit(1);
	sha_init(&sha);
	if (o->hold_ms)
		sleep_ms(o->hold_ms);
	for (;;) {
		size_t want = sizeof(buf);
		ssize_t n;

		if (o->stall) {
			/* alternate: a burst of small reads, then a pause */
			want = 1 + (size_t)(rand_r(&rnd) % (256 * 1024));
			if (rand_r(&rnd) % 8 == 0)
				sleep_ms(1 + (unsigned)(rand_r(&rnd) % 40));
		}
		n = srv_read(c, pipefd, buf, want, o->splice);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (o->echo) {
			for (ssize_t off = 0; off < n;) {
				ssize_t w = write(c, buf + off, (size_t)(n - off));

				if (w <= 0)
					_exit(1);
				off += w;
			}
			continue;
		}
		size_t off = 0;

		while (hdr_got < sizeof(h) && off < (size_t)n)
			((uint8_t *)&h)[hdr_got++] = buf[off++];
		if (hdr_got < sizeof(h))
			continue;
		if (h.magic != MAGIC) {
			snprintf(why, sizeof(why), "bad header magic %08x", h.magic);
			verdict = "fail";
			break;
		}
		if (off < (size_t)n) {
			long bad = stream_check(h.seed, got, buf + off, (size_t)n - off);

			if (bad >= 0) {
				snprintf(why, sizeof(why), "byte %llu differs", (unsigned long long)(got + (uint64_t)bad));
				verdict = "fail";
				break;
			}
			sha_update(&sha, buf + off, (size_t)n - off);
			got += (size_t)n - off;
		}
	}
	if (o->echo)
		return;
	if (!verdict && (hdr_got < sizeof(h) || got != h.len)) {
		snprintf(why, sizeof(why), "got %llu of %llu bytes", (unsigned long long)got,
			 (unsigned long long)(hdr_got == sizeof(h) ? h.len : 0));
		verdict = "fail";
	}
	sha_hex(&sha, hex);
	if (verdict)
		fprintf(o->log, "fail %s\n", why);
	else
		fprintf(o->log, "ok bytes=%llu sha256=%s\n", (unsigned long long)got, hex);
	fflush(o->log);
	if (write(c, verdict ? "F" : "K", 1) < 0)
		_exit(1);
}

static int listen_on(const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int s, one = 1;

	if (addr_parse(addr, &ss, &len))
		return -1;
	s = socket(ss.ss_family, SOCK_STREAM, 0);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (s < 0 || bind(s, (void *)&ss, len) || listen(s, 1024))
		return -1;
	return s;
}

static int cmd_server(int argc, char **argv)
{
	static const struct option lo[] = { { "echo", 0, NULL, 'e' }, { "stall", 0, NULL, 's' },
					    { "hold", 1, NULL, 'H' }, { "splice", 0, NULL, 'p' }, { 0 } };
	struct srv_opts o = { 0 };
	int opt, s;

	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (opt == 'e') o.echo = 1;
		else if (opt == 's') o.stall = 1;
		else if (opt == 'H') o.hold_ms = (unsigned)atoi(optarg);
		else if (opt == 'p') o.splice = 1;
		else return 2;
	}
	if (optind + 2 != argc)
		return 2;
	o.log = fopen(argv[optind + 1], "a");
	s = listen_on(argv[optind]);
	if (!o.log || s < 0) {
		perror("streamcheck server");
		return 1;
	}
	signal(SIGCHLD, SIG_IGN);
	for (;;) {
		int c = accept(s, NULL, NULL);

		if (c < 0)
			continue;
		if (fork() == 0) {
			close(s);
			serve(c, &o);
			close(c);
			_exit(0);
		}
		close(c);
	}
}

/* ---- client ---------------------------------------------------------------------------- */
static int cmd_client(int argc, char **argv)
{
	static const struct option lo[] = { { "echo", 0, NULL, 'e' }, { "stall", 0, NULL, 'S' },
					    { "blocked", 0, NULL, 'B' }, { 0 } };
	uint64_t n = 1 << 20, sent = 0, got = 0, blocked_since = 0, blocked_at = 0;
	unsigned maxw = 65536, rnd, seed = 1;
	uint64_t stall_until = 0, pause_until = 0;
	int opt, echo = 0, stall = 0, report_blocked = 0, s;
	const char *bind_addr = NULL;
	struct sockaddr_storage dst, src;
	socklen_t dlen, slen;
	struct sha256 sha_out, sha_in;
	static uint8_t wbuf[1 << 20], rbuf[1 << 20];
	struct hdr h;
	char hex_out[65], hex_in[65];
	int hdr_sent = 0, wr_closed = 0;
	uint64_t deadline;

	while ((opt = getopt_long(argc, argv, "n:s:w:b:", lo, NULL)) != -1) {
		if (opt == 'n') n = strtoull(optarg, NULL, 0);
		else if (opt == 's') seed = (unsigned)strtoul(optarg, NULL, 0);
		else if (opt == 'w') maxw = (unsigned)strtoul(optarg, NULL, 0);
		else if (opt == 'b') bind_addr = optarg;
		else if (opt == 'e') echo = 1;
		else if (opt == 'S') stall = 1;
		else if (opt == 'B') report_blocked = 1;
		else return 2;
	}
	if (optind + 1 != argc || addr_parse(argv[optind], &dst, &dlen) || maxw < 1 || maxw > sizeof(wbuf))
		return 2;
	rnd = seed * 2654435761u;
	s = socket(dst.ss_family, SOCK_STREAM, 0);
	if (bind_addr) {
		int one = 1;

		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (addr_parse(bind_addr, &src, &slen) || bind(s, (void *)&src, slen))
			return failf("bind %s: %s", bind_addr, strerror(errno));
	}
	if (connect(s, (void *)&dst, dlen))
		return failf("connect: %s", strerror(errno));
	fcntl(s, F_SETFL, O_NONBLOCK);
	h = (struct hdr){ MAGIC, seed, n };
	sha_init(&sha_out);
	sha_init(&sha_in);
	deadline = now_ms() + 600000;
	/* Echo: the reply is header + stream. Verdict mode: one byte. */
	uint64_t expect_in = echo ? n + sizeof(h) : 1;
	uint8_t verdict = 0;

	while (got < expect_in || !wr_closed) {
		struct pollfd p = { s, POLLIN, 0 };
		int reading = !(stall && now_ms() < stall_until);

		if (!wr_closed && !(stall && now_ms() < pause_until))
			p.events |= POLLOUT;
		if (!reading)
			p.events &= (short)~POLLIN;
		if (now_ms() > deadline)
			return failf("timeout: sent %llu, received %llu", (unsigned long long)sent,
				     (unsigned long long)got);
		if (poll(&p, 1, 100) < 0)
			continue;
		if (p.revents & POLLOUT) {
			size_t len;
			ssize_t w;

			if (!hdr_sent) {
				memcpy(wbuf, &h, sizeof(h));
				len = sizeof(h);
			} else {
				len = 1 + (size_t)(rand_r(&rnd) % maxw);
				if (len > n - sent)
					len = (size_t)(n - sent);
				stream_fill(seed, sent, wbuf, len);
			}
			w = len ? write(s, wbuf, len) : 0;
			if (w < 0 && errno != EAGAIN)
				return failf("write: %s", strerror(errno));
			if (w > 0) {
				if (!hdr_sent) {
					if ((size_t)w != sizeof(h))
						return failf("short header write");
					hdr_sent = 1;
				} else {
					sha_update(&sha_out, wbuf, (size_t)w);
					sent += (uint64_t)w;
				}
				blocked_since = 0;
				if (stall && rand_r(&rnd) % 64 == 0)
					pause_until = now_ms() + 1 + rand_r(&rnd) % 20;
			}
			if (hdr_sent && sent == n && !wr_closed) {
				shutdown(s, SHUT_WR);  /* half-close: the reader sees EOF */
				wr_closed = 1;
			}
		} else if (!wr_closed && report_blocked && !blocked_at) {
			if (!blocked_since)
				blocked_since = now_ms();
			else if (now_ms() - blocked_since >= 300)
				blocked_at = sent + sizeof(h);
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = read(s, rbuf, sizeof(rbuf));

			if (r < 0 && errno != EAGAIN)
				return failf("read: %s", strerror(errno));
			if (r == 0 && got < expect_in)
				return failf("peer closed after %llu of %llu bytes", (unsigned long long)got,
					     (unsigned long long)expect_in);
			if (r > 0 && echo) {
				size_t off = 0;

				for (; got < sizeof(h) && off < (size_t)r; off++, got++)
					if (rbuf[off] != ((uint8_t *)&h)[got])
						return failf("echoed header differs at %llu", (unsigned long long)got);
				if (off < (size_t)r) {
					long bad = stream_check(seed, got - sizeof(h), rbuf + off, (size_t)r - off);

					if (bad >= 0)
						return failf("echoed byte %llu differs",
							     (unsigned long long)(got - sizeof(h) + (uint64_t)bad));
					sha_update(&sha_in, rbuf + off, (size_t)r - off);
					got += (size_t)r - off;
				}
				if (stall && rand_r(&rnd) % 8 == 0)
					stall_until = now_ms() + 1 + rand_r(&rnd) % 40;
			} else if (r > 0) {
				verdict = rbuf[0];
				got += (uint64_t)r;
			}
		}
	}
	sha_hex(&sha_out, hex_out);
	if (echo) {
		sha_hex(&sha_in, hex_in);
		if (strcmp(hex_in, hex_out))
			return failf("sha256 sent %s, echoed %s", hex_out, hex_in);
	} else if (verdict != 'K') {
		return failf("server rejected the stream (%c)", verdict ? verdict : '-');
	}
	printf("ok bytes=%llu sha256=%s", (unsigned long long)n, hex_out);
	if (report_blocked)
		printf(" blocked_after=%llu", (unsigned long long)blocked_at);
	printf("\n");
	close(s);
	return 0;
}

/* ---- churn ----------------------------------------------------------------------------- */
static int cmd_churn_server(int argc, char **argv)
{
	int s = argc == 2 ? listen_on(argv[1]) : -1;
	char b;

	if (s < 0) {
		perror("churn-server");
		return 1;
	}
	for (;;) {
		int c = accept(s, NULL, NULL);

		if (c < 0)
			continue;
		if (read(c, &b, 1) == 1 && write(c, &b, 1) != 1)
			perror("write");
		close(c);
	}
}

static int cmd_churn(int argc, char **argv)
{
	struct sockaddr_storage dst;
	socklen_t dlen;
	long count = argc == 4 && !strcmp(argv[2], "-n") ? atol(argv[3]) : -1;
	uint64_t t0 = now_ms();
	char b = 'x';

	if (count < 0 || addr_parse(argv[1], &dst, &dlen))
		return 2;
	for (long i = 0; i < count; i++) {
		int s = socket(dst.ss_family, SOCK_STREAM, 0);
		struct linger lg = { 1, 0 };

		if (connect(s, (void *)&dst, dlen))
			return failf("connection %ld: connect: %s", i, strerror(errno));
		if (write(s, &b, 1) != 1 || read(s, &b, 1) != 1)
			return failf("connection %ld: exchange: %s", i, strerror(errno));
		/* RST instead of TIME_WAIT: 100k connections would run out of ports */
		setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(s);
	}
	printf("ok connections=%ld ms=%llu\n", count, (unsigned long long)(now_ms() - t0));
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN); /* a reset peer is a failure to report, not to die of */
	if (argc >= 2 && !strcmp(argv[1], "server"))
		return cmd_server(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "client"))
		return cmd_client(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "churn-server"))
		return cmd_churn_server(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "churn"))
		return cmd_churn(argc - 1, argv + 1);
	fprintf(stderr, "usage: streamcheck server|client|churn-server|churn ... (see the source)\n");
	return 2;
}
