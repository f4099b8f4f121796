// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A kernel fact behind the fast path's known hazards: an app that sends, half-closes
 * (shutdown(SHUT_WR)) and then waits in a *blocking* read() for the answer, on a socket whose
 * bytes sk_msg redirects. Each round: a fresh loopback connection, the client writes 4 KiB
 * and half-closes, a server thread reads to EOF, works 2 ms (a proxy dialing its upstream) and
 * echoes the bytes back, the client reads
 * them with a blocking recv() (SO_RCVTIMEO 5 s). Three ways:
 *   plain     no sockmap: plain TCP
 *   redirect  both sockets in a sockmap whose sk_msg program moves each send into the peer's
 *             receive queue (halfclose.bpf.o), as shunt's does between an app and its proxy
 *   noshut    the same without the half-close (the server reads exactly 4 KiB)
 * Prints one line a way: "WAY ok=N eagain=N other=N" (eagain: recv() failed with EAGAIN
 * well before the timeout; other: anything else wrong: short or different bytes, another
 * error, or the 5 s timeout, i.e. a hang).
 * Usage: halfclose OBJ ROUNDS   (root: loads a BPF program)
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define N 4096

struct round {
	int srv;
	int until_eof;   /* the client half-closes: read to EOF */
};

static void *echo_back(void *arg)
{
	struct round *r = arg;
	unsigned char b[N];
	size_t got = 0;
	ssize_t n;

	while (got < N && (n = recv(r->srv, b + got, N - got, 0)) > 0)
		got += (size_t)n;
	if (r->until_eof)
		while (recv(r->srv, b, 1, 0) > 0)
			;
	usleep(2000);
	if (send(r->srv, b, got, 0) != (ssize_t)got)
		perror("halfclose: echo");
	shutdown(r->srv, SHUT_WR);
	return NULL;
}

/* One round on a fresh connection: 0 ok, 1 EAGAIN before the timeout, 2 anything else. */
static int one_round(int lst, const struct sockaddr_in *a, int map, int half_close)
{
	unsigned char out[N], in[N];
	struct timeval tv = { 5, 0 };
	struct round r = { .until_eof = half_close };
	struct timespec t0, t1;
	size_t got = 0;
	ssize_t n = 0;
	pthread_t t;
	int c, e = 0;

	c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0)
		return 2;
	if (connect(c, (const void *)a, sizeof(*a)) || (r.srv = accept(lst, NULL, NULL)) < 0) {
		close(c);
		return 2;
	}
	if (map >= 0) {
		__u32 k0 = 0, k1 = 1;
		__u64 f0 = (__u64)c, f1 = (__u64)r.srv;

		if (bpf_map_update_elem(map, &k0, &f0, BPF_ANY) ||
		    bpf_map_update_elem(map, &k1, &f1, BPF_ANY)) {
			perror("halfclose: sockmap update");
			exit(2);
		}
	}
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (size_t i = 0; i < N; i++)
		out[i] = (unsigned char)rand();
	pthread_create(&t, NULL, echo_back, &r);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (send(c, out, N, 0) != N)
		e = -1;
	if (half_close)
		shutdown(c, SHUT_WR);
	while (!e && got < N) {
		n = recv(c, in + got, N - got, 0);
		if (n <= 0) {
			e = n < 0 ? errno : -1;
			break;
		}
		got += (size_t)n;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (e) {
		/* unblock the echo thread whatever state the exchange is in */
		shutdown(c, SHUT_RDWR);
	}
	pthread_join(t, NULL);
	close(c);
	close(r.srv);
	if (!e && !memcmp(in, out, N))
		return 0;
	/* EAGAIN at the receive timeout would be a hang: "other" */
	return e == EAGAIN && t1.tv_sec - t0.tv_sec < tv.tv_sec - 1 ? 1 : 2;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	static const char *const ways[] = { "plain", "redirect", "noshut" };
	socklen_t al = sizeof(a);
	struct bpf_object *obj;
	struct bpf_map *m;
	int lst, map, prog, rounds;

	if (argc != 3 || (rounds = atoi(argv[2])) <= 0) {
		fprintf(stderr, "usage: halfclose OBJ ROUNDS\n");
		return 2;
	}
	srand((unsigned)getpid());
	lst = socket(AF_INET, SOCK_STREAM, 0);
	if (lst < 0 || bind(lst, (void *)&a, al) || listen(lst, 8) || getsockname(lst, (void *)&a, &al)) {
		perror("halfclose: listen");
		return 2;
	}
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		perror("halfclose: open");
		return 2;
	}
	bpf_object__for_each_map(m, obj) {   /* server_port, the one read-only variable */
		__u32 port = ntohs(a.sin_port);

		if (bpf_map__is_internal(m) && strstr(bpf_map__name(m), ".rodata"))
			bpf_map__set_initial_value(m, &port, sizeof(port));
	}
	if (bpf_object__load(obj)) {
		fprintf(stderr, "halfclose: the kernel refused the program\n");
		return 2;
	}
	map = bpf_object__find_map_fd_by_name(obj, "halfclose_socks");
	prog = bpf_program__fd(bpf_object__find_program_by_name(obj, "halfclose_redirect"));
	if (bpf_prog_attach(prog, map, BPF_SK_MSG_VERDICT, 0)) {
		perror("halfclose: attach sk_msg");
		return 2;
	}
	for (int w = 0; w < 3; w++) {
		int count[3] = { 0 };

		for (int i = 0; i < rounds; i++)
			count[one_round(lst, &a, w ? map : -1, w != 2)]++;
		printf("%s ok=%d eagain=%d other=%d\n", ways[w], count[0], count[1], count[2]);
	}
	bpf_object__close(obj);
	return 0;
}
