// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A transparent sidecar with Envoy's read discipline, for the cases HAProxy cannot show:
 * edge-triggered epoll, and every readable socket read until recv() says EAGAIN or 0 (or
 * the buffer toward the peer is full, and then read again once it drained, without waiting
 * for a new edge: Envoy's RawBufferSocket::doRead and setTransportSocketIsReadable). A short
 * read is never taken for "drained", a close never for the end of the bytes.
 *
 *   drainproxy OUTBOUND_PORT INBOUND_PORT
 * Outbound: 127.0.0.1:OUTBOUND_PORT, each connection forwarded to its SO_ORIGINAL_DST.
 * Inbound: 0.0.0.0:INBOUND_PORT, forwarded from 127.0.0.6 to the address it was accepted
 * on (sk_lookup keeps it). Prints one line per connection at its end:
 *   fe=outbound|inbound origdst=IP:PORT up=BYTES down=BYTES
 * A half-close is passed on as a half-close, a reset as a reset. IPv4, single thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include "sockaddr.h"

#define BUF (64 * 1024)
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif

struct pair;

struct side {
	struct pair *p;
	int i;                  /* 0: the accepted socket, 1: the upstream one */
};

struct pair {
	int fd[2];
	struct side s[2];
	unsigned char buf[2][BUF];   /* buf[i]: read from fd[i], to be written to fd[!i] */
	size_t len[2], off[2];
	bool readable[2], eof[2], shut[2], dead;
	struct pair *next_dead;
	unsigned long long moved[2];
	const char *fe;
	char dst[64];
};

static int ep;
static struct pair *dead;   /* finished in this batch of events: freed after it */

static void nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static int listen_on(const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	if (addr_parse(addr, &ss, &len))
		return -1;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 1024))
		return -1;
	nonblock(fd);
	return fd;
}

static void finish(struct pair *p, bool reset)
{
	struct linger lg = { 1, 0 };

	printf("fe=%s origdst=%s up=%llu down=%llu%s\n", p->fe, p->dst, p->moved[0], p->moved[1],
	       reset ? " reset" : "");
	fflush(stdout);
	for (int i = 0; i < 2; i++) {
		if (reset)
			setsockopt(p->fd[i], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(p->fd[i]);    /* also leaves the epoll set */
	}
	p->dead = true;
	p->next_dead = dead;
	dead = p;
}

/* Move what can move in direction i: read fd[i] until EAGAIN/EOF/full, write to fd[!i].
 * Returns -1 when the connection must be reset, 1 when something moved, else 0. */
static int pump(struct pair *p, int i)
{
	int o = !i, moved = 0;
	ssize_t n;

	for (;;) {
		while (p->readable[i] && !p->eof[i] && p->len[i] < BUF) {
			n = recv(p->fd[i], p->buf[i] + p->len[i], BUF - p->len[i], 0);
			if (n > 0) {
				p->len[i] += (size_t)n;
				moved = 1;
			} else if (n == 0) {
				p->eof[i] = true;
			} else if (errno == EAGAIN) {
				p->readable[i] = false;   /* the next edge says when */
			} else {
				return -1;
			}
		}
		while (p->off[i] < p->len[i]) {
			n = send(p->fd[o], p->buf[i] + p->off[i], p->len[i] - p->off[i], MSG_NOSIGNAL);
			if (n > 0) {
				p->off[i] += (size_t)n;
				p->moved[i] += (unsigned long long)n;
				moved = 1;
			} else if (errno == EAGAIN) {
				return moved;           /* EPOLLOUT on fd[o] brings us back */
			} else {
				return -1;
			}
		}
		p->off[i] = p->len[i] = 0;
		if (p->eof[i] && !p->shut[i]) {
			shutdown(p->fd[o], SHUT_WR);
			p->shut[i] = true;
		}
		/* drained toward the peer: read on if the socket may hold more */
		if (!p->readable[i] || p->eof[i])
			return moved;
	}
}

static void serve(struct pair *p)
{
	int r;

	do {
		r = 0;
		for (int i = 0; i < 2; i++) {
			int m = pump(p, i);

			if (m < 0) {
				finish(p, true);
				return;
			}
			r |= m;
		}
	} while (r);
	if (p->shut[0] && p->shut[1])
		finish(p, false);
}

static void accept_one(int l, bool outbound)
{
	struct sockaddr_storage dst = { 0 };
	struct sockaddr_in src = { .sin_family = AF_INET };
	socklen_t dl = sizeof(struct sockaddr_in);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET };
	struct pair *p;
	int c, u;

	c = accept4(l, NULL, NULL, SOCK_NONBLOCK);
	if (c < 0)
		return;
	if (outbound ? getsockopt(c, SOL_IP, SO_ORIGINAL_DST, &dst, &dl)
		     : getsockname(c, (struct sockaddr *)&dst, &dl)) {
		close(c);
		return;
	}
	u = socket(AF_INET, SOCK_STREAM, 0);
	if (!outbound) {
		inet_pton(AF_INET, "127.0.0.6", &src.sin_addr);
		bind(u, (struct sockaddr *)&src, sizeof(src));
	}
	/* local peers answer at once: a blocking connect keeps this small */
	if (u < 0 || connect(u, (struct sockaddr *)&dst, sizeof(struct sockaddr_in))) {
		struct linger lg = { 1, 0 };

		setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(c);
		if (u >= 0)
			close(u);
		return;
	}
	nonblock(u);
	p = calloc(1, sizeof(*p));
	if (!p)
		exit(1);
	p->fd[0] = c;
	p->fd[1] = u;
	p->fe = outbound ? "outbound" : "inbound";
	addr_fmt(&dst, p->dst, sizeof(p->dst));
	for (int i = 0; i < 2; i++) {
		p->s[i] = (struct side){ p, i };
		p->readable[i] = true;   /* read once before the first edge */
		ev.data.ptr = &p->s[i];
		epoll_ctl(ep, EPOLL_CTL_ADD, p->fd[i], &ev);
	}
	serve(p);
}

int main(int argc, char **argv)
{
	struct epoll_event evs[64], ev = { .events = EPOLLIN };
	char a[64];
	int lo, li;

	if (argc != 3) {
		fprintf(stderr, "usage: drainproxy OUTBOUND_PORT INBOUND_PORT\n");
		return 2;
	}
	snprintf(a, sizeof(a), "127.0.0.1:%s", argv[1]);
	lo = listen_on(a);
	snprintf(a, sizeof(a), "0.0.0.0:%s", argv[2]);
	li = listen_on(a);
	if (lo < 0 || li < 0) {
		perror("drainproxy: listen");
		return 1;
	}
	ep = epoll_create1(0);
	ev.data.ptr = &lo;
	epoll_ctl(ep, EPOLL_CTL_ADD, lo, &ev);
	ev.data.ptr = &li;
	epoll_ctl(ep, EPOLL_CTL_ADD, li, &ev);
	for (;;) {
		int n = epoll_wait(ep, evs, 64, -1);

		for (int k = 0; k < n; k++) {
			struct side *s = evs[k].data.ptr;

			if (evs[k].data.ptr == &lo || evs[k].data.ptr == &li) {
				accept_one(evs[k].data.ptr == &lo ? lo : li, evs[k].data.ptr == &lo);
				continue;
			}
			if (s->p->dead)
				continue;
			if (evs[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
				s->p->readable[s->i] = true;
			serve(s->p);
		}
		while (dead) {
			struct pair *p = dead;

			dead = p->next_dead;
			free(p);
		}
	}
}
