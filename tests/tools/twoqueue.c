// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The kernel fact behind the fast path's stall with edge-triggered readers (HAProxy, nginx,
 * tokio: a read shorter than the buffer means "drained, wait for the next edge"). A receiving
 * socket with a psock has two queues: the psock's ingress queue (bytes sk_msg redirected) and
 * TCP's receive queue. When the sender's bytes switch from the redirect to TCP (shunt's
 * queue-limit fallback), the reader holds older bytes in the first and newer in the second.
 * Each way below, on a fresh loopback connection, the reader's socket registered with
 * EPOLLIN | EPOLLET from the start, the sender writes 1000 bytes, then 1000 more, and the
 * reader (after both arrived and their edges were taken) does what an edge-triggered reader
 * does: recv() 64 KiB once, and if that was short, epoll_wait() for the next edge (1 s).
 *   plain      no sockmap: plain TCP both times
 *   redirect   both writes redirected
 *   split      the first write redirected, the second over TCP (the fallback)
 * Prints one line a way: "WAY first=N edge=0|1 second=N fionread=N" (first: what the one
 * recv() returned; edge: did a new edge come after a short read; second: a second recv()
 * anyway, MSG_DONTWAIT; fionread: FIONREAD after the first recv()).
 * Usage: twoqueue OBJ   (root: loads a BPF program)
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static void set_mode(int mode_map, __u32 v)
{
	__u32 zero = 0;

	if (mode_map >= 0 && bpf_map_update_elem(mode_map, &zero, &v, BPF_ANY)) {
		perror("twoqueue: mode");
		exit(2);
	}
}

static void one_way(const char *name, int lst, const struct sockaddr_in *a, int socks, int mode,
		    const __u32 modes[2])
{
	char out[1000], in[65536];
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET }, got;
	ssize_t first, second;
	int c, s, ep, edge = 0, fionread = -1;

	memset(out, 'x', sizeof(out));
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (const void *)a, sizeof(*a)) || (s = accept(lst, NULL, NULL)) < 0) {
		perror("twoqueue: connect");
		exit(2);
	}
	if (socks >= 0) {
		__u32 k0 = 0, k1 = 1;
		__u64 f0 = (__u64)c, f1 = (__u64)s;

		if (bpf_map_update_elem(socks, &k0, &f0, BPF_ANY) ||
		    bpf_map_update_elem(socks, &k1, &f1, BPF_ANY)) {
			perror("twoqueue: sockmap");
			exit(2);
		}
	}
	ep = epoll_create1(0);
	ev.data.fd = s;
	epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
	for (int i = 0; i < 2; i++) {
		set_mode(mode, modes[i]);
		if (send(c, out, sizeof(out), 0) != (ssize_t)sizeof(out)) {
			perror("twoqueue: send");
			exit(2);
		}
		usleep(20000);   /* delivered (loopback) */
	}
	while (epoll_wait(ep, &got, 1, 0) > 0)   /* the edges of both arrivals, taken */
		;
	first = recv(s, in, sizeof(in), MSG_DONTWAIT);
	ioctl(s, FIONREAD, &fionread);
	if (first >= 0 && first < (ssize_t)sizeof(in))
		edge = epoll_wait(ep, &got, 1, 1000) > 0;
	second = recv(s, in, sizeof(in), MSG_DONTWAIT);
	if (second < 0 && errno == EAGAIN)
		second = 0;
	printf("%s first=%zd edge=%d second=%zd fionread=%d\n", name, first, edge, second, fionread);
	close(ep);
	close(c);
	close(s);
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	static const __u32 plain[2] = { 0, 0 }, redirect[2] = { 1, 1 }, split[2] = { 1, 0 };
	socklen_t al = sizeof(a);
	struct bpf_object *obj;
	struct bpf_map *m;
	int lst, socks, mode, prog;

	if (argc != 2) {
		fprintf(stderr, "usage: twoqueue OBJ\n");
		return 2;
	}
	lst = socket(AF_INET, SOCK_STREAM, 0);
	if (lst < 0 || bind(lst, (void *)&a, al) || listen(lst, 8) || getsockname(lst, (void *)&a, &al)) {
		perror("twoqueue: listen");
		return 2;
	}
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		perror("twoqueue: open");
		return 2;
	}
	bpf_object__for_each_map(m, obj) {
		__u32 port = ntohs(a.sin_port);

		if (bpf_map__is_internal(m) && strstr(bpf_map__name(m), ".rodata"))
			bpf_map__set_initial_value(m, &port, sizeof(port));
	}
	if (bpf_object__load(obj)) {
		fprintf(stderr, "twoqueue: the kernel refused the program\n");
		return 2;
	}
	socks = bpf_object__find_map_fd_by_name(obj, "twoqueue_socks");
	mode = bpf_object__find_map_fd_by_name(obj, "twoqueue_mode");
	prog = bpf_program__fd(bpf_object__find_program_by_name(obj, "twoqueue_redirect"));
	if (bpf_prog_attach(prog, socks, BPF_SK_MSG_VERDICT, 0)) {
		perror("twoqueue: attach sk_msg");
		return 2;
	}
	one_way("plain", lst, &a, -1, -1, plain);
	one_way("redirect", lst, &a, socks, mode, redirect);
	one_way("split", lst, &a, socks, mode, split);
	bpf_object__close(obj);
	return 0;
}
