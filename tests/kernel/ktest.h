/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The kernel tier's testbed, in C (tests/kernel/test_*.c): TAP output, a private cgroup with
 * shunt loaded onto it by its own loader and pinned in a private directory, the test process
 * joined to it as a pod, the proxy's identity (uid 1337) and back, sockets, a veth pair
 * between two network namespaces over rtnetlink. No shell, no ip(8): static-linkable.
 * Header-only: each test is one program.
 */
#ifndef SHUNT_KTEST_H
#define SHUNT_KTEST_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include "apply.h"
#include "cgroup.h"
#include "config.h"
#include "loader.h"
#include "log.h"
#include "maps.h"
#include "pins.h"
#include "shunt/abi.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif
#define PROXY_UID 1337

static int n_tests, n_failed;

static inline void tap(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void tap(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", ok ? "" : "not ", ++n_tests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	n_failed += !ok;
}

static inline double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* As the proxy: real uid 1337 (what the programs read), root kept as the saved uid. */
static inline void as_proxy(int on)
{
	if (setresuid(on ? PROXY_UID : 0, on ? PROXY_UID : 0, 0))
		perror("setresuid");
}

/* addr:port of family into ss; its length */
static inline socklen_t sockaddr_of(int family, const char *addr, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		inet_pton(AF_INET, addr, &s->sin_addr);
		return sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons(port);
		inet_pton(AF_INET6, addr, &s->sin6_addr);
		return sizeof(*s);
	}
}

static inline int listen_on(int family, const char *addr, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = sockaddr_of(family, addr, port, &ss);
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 16)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* connect() to addr:port; 0 or -errno. *fd is the socket either way (closed on error). */
static inline int connect_to(int family, const char *addr, int port, int *fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sockaddr_of(family, addr, port, &ss);

	*fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(*fd, (struct sockaddr *)&ss, len)) {
		int err = -errno;

		close(*fd);
		*fd = -1;
		return err;
	}
	return 0;
}

/* "ADDR:PORT" / "[ADDR]:PORT" of a sockaddr */
static inline const char *str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(s->sin_port));
	} else {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, ntohs(s->sin6_port));
	}
	return buf;
}

static inline long entries(const struct shunt_maps *m, enum shunt_map_id id)
{
	return maps_count_entries(m->fd[id], shunt_maps_desc[id].key_size);
}

static inline __u64 counter(const struct shunt_maps *m, unsigned idx)
{
	__u64 c[SHUNT_COUNTERS] = { 0 };

	return maps_read_counters(m, c) ? 0 : c[idx];
}

static inline __u64 netns_cookie(void)
{
	socklen_t len = sizeof(__u64);
	__u64 cookie = 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len);
	close(fd);
	return cookie;
}

static inline int link_up(const char *name)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	err = ioctl(fd, SIOCGIFFLAGS, &ifr);
	ifr.ifr_flags |= IFF_UP;
	err = err ? err : ioctl(fd, SIOCSIFFLAGS, &ifr);
	close(fd);
	return err;
}

/* ---- rtnetlink: what `ip link add type veth` and `ip addr add` send --------------------- */

struct nl_req {
	struct nlmsghdr n;
	char buf[1024];
};

static inline struct rtattr *nl_attr(struct nl_req *r, int type, const void *data, size_t len)
{
	struct rtattr *a = (struct rtattr *)((char *)&r->n + NLMSG_ALIGN(r->n.nlmsg_len));

	a->rta_type = (unsigned short)type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(a), data, len);
	r->n.nlmsg_len = NLMSG_ALIGN(r->n.nlmsg_len) + RTA_ALIGN(a->rta_len);
	return a;
}

static inline void nl_nest_end(struct nl_req *r, struct rtattr *a)
{
	a->rta_len = (unsigned short)((char *)&r->n + r->n.nlmsg_len - (char *)a);
}

/* Send one request, read its ack: 0 or -errno. */
static inline int nl_talk(struct nl_req *r)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	char buf[4096];
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), err = -EIO;
	ssize_t n;

	if (fd < 0)
		return -errno;
	r->n.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	if (sendto(fd, &r->n, r->n.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
	} else if ((n = recv(fd, buf, sizeof(buf), 0)) >= (ssize_t)NLMSG_LENGTH(sizeof(int))) {
		struct nlmsghdr *h = (struct nlmsghdr *)buf;

		if (h->nlmsg_type == NLMSG_ERROR)
			err = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
	}
	close(fd);
	return err;
}

/* A veth pair: name here, peer moved into the netns of peer_nsfd. */
static inline int veth_pair(const char *name, const char *peer, int peer_nsfd)
{
	struct nl_req r = { 0 };
	struct rtattr *info, *data, *pa;

	r.n.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	r.n.nlmsg_type = RTM_NEWLINK;
	r.n.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	nl_attr(&r, IFLA_IFNAME, name, strlen(name) + 1);
	info = nl_attr(&r, IFLA_LINKINFO, NULL, 0);
	nl_attr(&r, IFLA_INFO_KIND, "veth", 4);
	data = nl_attr(&r, IFLA_INFO_DATA, NULL, 0);
	pa = nl_attr(&r, VETH_INFO_PEER, NULL, 0);
	r.n.nlmsg_len += sizeof(struct ifinfomsg);  /* the peer's own header, zeroed */
	nl_attr(&r, IFLA_IFNAME, peer, strlen(peer) + 1);
	nl_attr(&r, IFLA_NET_NS_FD, &peer_nsfd, sizeof(peer_nsfd));
	nl_nest_end(&r, pa);
	nl_nest_end(&r, data);
	nl_nest_end(&r, info);
	return nl_talk(&r);
}

/* An IPv4 address on a link of the current netns. */
static inline int addr_add4(const char *dev, const char *addr, int prefixlen)
{
	struct nl_req r = { 0 };
	struct ifaddrmsg *ifa = NLMSG_DATA(&r.n);
	struct in_addr a;

	if (inet_pton(AF_INET, addr, &a) != 1 || !if_nametoindex(dev))
		return -EINVAL;
	r.n.nlmsg_len = NLMSG_LENGTH(sizeof(*ifa));
	r.n.nlmsg_type = RTM_NEWADDR;
	r.n.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (unsigned char)prefixlen;
	ifa->ifa_index = if_nametoindex(dev);
	nl_attr(&r, IFA_LOCAL, &a, sizeof(a));
	nl_attr(&r, IFA_ADDRESS, &a, sizeof(a));
	return nl_talk(&r);
}

/* ---- shunt on a private cgroup --------------------------------------------------------- */

struct ktest {
	char root[PATH_MAX], cg[PATH_MAX + 32], pin[64];
	struct loader_opts o;
	struct shunt_config conf;
	struct config_errors errs;
	struct timespec t0;
	bool loaded;
};

static inline int write_pid(const char *cgroup_dir)
{
	char procs[PATH_MAX + 64];
	FILE *f;
	int err;

	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cgroup_dir);
	f = fopen(procs, "w");
	err = !f || fprintf(f, "%d\n", (int)getpid()) < 0;
	if (f)
		err |= fclose(f) != 0;
	return err ? -1 : 0;
}

/* Root, cgroup2, a cgroup of its own (shunt-ktest-NAME-PID) with shunt loaded (the embedded
 * Istio defaults) and pinned beside it, the test process in it and in a network namespace of
 * its own with lo up. 0: ready; 1: skipped or bailed out, exit 0/1 now; -1: a stage failed,
 * ktest_finish cleans up. */
static inline int ktest_start(struct ktest *k, const char *name)
{
	int err;

	memset(k, 0, sizeof(*k));
	setvbuf(stdout, NULL, _IOLBF, 0);
	clock_gettime(CLOCK_MONOTONIC, &k->t0);
	if (geteuid()) {
		printf("1..0 # SKIP needs root (loads and attaches BPF programs)\n");
		return 1;
	}
	log_verbosity = LOG_ERR;
	if (cgroup2_root(k->root, sizeof(k->root))) {
		printf("1..0 # SKIP no cgroup2 mount\n");
		return 1;
	}
	snprintf(k->cg, sizeof(k->cg), "%s/shunt-ktest-%s-%d", k->root, name, (int)getpid());
	snprintf(k->pin, sizeof(k->pin), "/sys/fs/bpf/shunt-ktest-%s-%d", name, (int)getpid());
	if (mkdir(k->cg, 0755)) {
		printf("Bail out! mkdir %s: %s\n", k->cg, strerror(errno));
		n_failed++;
		return 1;
	}
	k->o = (struct loader_opts){ .pin_dir = k->pin, .cgroup = k->cg };
	config_load_default(&k->conf, &k->errs);
	err = loader_load(&k->conf, &k->o, &k->errs);
	tap(!err, "shunt loads onto a private cgroup, pinned at %s", k->pin);
	if (err)
		return -1;
	k->loaded = true;
	err = write_pid(k->cg) || unshare(CLONE_NEWNET) || link_up("lo");
	tap(!err, "the test is a pod: the cgroup, a network namespace of its own");
	return err ? -1 : 0;
}

/* Unload (checked), leave and remove the cgroup, print the plan: the exit code. */
static inline int ktest_finish(struct ktest *k)
{
	if (k->loaded) {
		int err = loader_unload(&k->o);

		tap(!err && access(k->pin, F_OK), "unload: nothing pinned");
	}
	write_pid(k->root);   /* back to the root cgroup so ours can go */
	rmdir(k->cg);
	config_free(&k->conf);
	config_errors_free(&k->errs);
	printf("# %.0f ms\n1..%d\n", ms_since(&k->t0), n_tests);
	return n_failed ? 1 : 0;
}

/* The node policy from a YAML text, applied to the loaded shunt as `shunt apply` does (the
 * census of its cgroup's pods included: links, addresses). 0 or -errno. */
static inline int ktest_apply(struct ktest *k, const char *yaml, __u32 *gen)
{
	struct shunt_config c;
	int err = config_parse("ktest.yaml", yaml, strlen(yaml), &c, &k->errs);

	err = err ? err : apply_pinned(k->pin, &c, &k->errs, gen);
	config_errors_print(&k->errs);
	config_free(&c);
	return err;
}

#endif
