// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Network namespace discovery. To learn a netns' cookie, listeners and addresses, shunt
 * enters it (setns) on its only thread, asks, and comes back; nothing is left behind.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/nsfs.h>
#include <linux/sock_diag.h>
#include "cgroup.h"
#include "log.h"
#include "workload.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

/* The listening TCP sockets of the current netns, through sock_diag: with the state filter
 * at LISTEN only, the kernel walks the listening hash alone. /proc/net/tcp walks the node's
 * whole established hash for every read (half the time of an apply went there). Notes
 * whether a proxy-uid socket listens on the outbound port and which socket (inode) listens
 * on the inbound port. */
static void scan_listeners(int family, const struct shunt_config *conf, struct netns_seen *ns)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg = {
		.nlh = { .nlmsg_len = sizeof(msg), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.req = { .sdiag_family = (__u8)family, .sdiag_protocol = IPPROTO_TCP,
			 .idiag_states = 1u << 10 /* TCP_LISTEN */ },
	};
	char buf[16384];
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	bool done = false;

	if (fd < 0)
		return;
	if (send(fd, &msg, sizeof(msg), 0) < 0) {
		close(fd);
		return;
	}
	while (!done) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h;

		if (n <= 0)
			break;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
			const struct inet_diag_msg *d = NLMSG_DATA(h);
			unsigned port;

			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
				done = true;
				break;
			}
			if (d->idiag_uid != conf->proxy_uid)
				continue;
			port = ntohs(d->id.idiag_sport);
			if (port == conf->outbound_port)
				ns->proxy_listening = true;
			else if (port == conf->inbound_port && !ns->inbound_sock_ino)
				ns->inbound_sock_ino = d->idiag_inode;
		}
	}
	close(fd);
}

static int collect_addrs(struct netns_seen *ns)
{
	struct ifaddrs *ifa, *i;
	size_t cap = 0;

	if (getifaddrs(&ifa))
		return -errno;
	for (i = ifa; i; i = i->ifa_next) {
		struct shunt_ip ip = { 0 };

		/* lo holds 127.0.0.6 / ::6 (Istio's passthrough source) in every pod: never
		 * a pod's own address, and not unique on the node. */
		if (!i->ifa_addr || (i->ifa_flags & IFF_LOOPBACK))
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			const struct sockaddr_in *s = (const void *)i->ifa_addr;

			if ((ntohl(s->sin_addr.s_addr) >> 24) == 127)
				continue; /* the whole range is handled as loopback already */
			ip.family = SHUNT_AF_INET;
			memcpy(ip.addr, &s->sin_addr, 4);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			const struct sockaddr_in6 *s = (const void *)i->ifa_addr;

			if (IN6_IS_ADDR_LOOPBACK(&s->sin6_addr) || IN6_IS_ADDR_V4MAPPED(&s->sin6_addr))
				continue;
			ip.family = SHUNT_AF_INET6;
			memcpy(ip.addr, &s->sin6_addr, 16);
		} else {
			continue;
		}
		if (ns->n_addrs == cap) {
			struct shunt_ip *g = realloc(ns->addrs, (cap = cap ? cap * 2 : 4) * sizeof(*g));

			if (!g)
				break;
			ns->addrs = g;
		}
		ns->addrs[ns->n_addrs++] = ip;
	}
	freeifaddrs(ifa);
	return 0;
}

/* The cookie of the netns this thread is in. */
static int cookie_here(__u64 *cookie)
{
	socklen_t len = sizeof(*cookie);
	int sock, err = 0;

	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0 || getsockopt(sock, SOL_SOCKET, SO_NETNS_COOKIE, cookie, &len))
		err = -errno;
	if (sock >= 0)
		close(sock);
	return err;
}

static void return_home(int home_fd)
{
	if (setns(home_fd, CLONE_NEWNET)) {
		/* Continuing in a foreign netns would be worse than stopping. */
		log_err("cannot return to shunt's own network namespace: %s", strerror(errno));
		abort();
	}
}

/* Enter the netns behind nsfd, learn what we need, come back to home_fd. */
static int visit(int nsfd, int home_fd, const struct shunt_config *conf, struct netns_seen *ns)
{
	int err;

	if (setns(nsfd, CLONE_NEWNET))
		return -errno;
	err = cookie_here(&ns->cookie);
	if (!err) {
		scan_listeners(AF_INET, conf, ns);
		scan_listeners(AF_INET6, conf, ns);
		collect_addrs(ns);
	}
	return_home(home_fd);
	return err;
}

static int open_home(void)
{
	return open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
}

int workload_netns_cookie(int nsfd, __u64 *cookie)
{
	int home = open_home(), err;

	if (home < 0)
		return -errno;
	if (setns(nsfd, CLONE_NEWNET)) {
		err = -errno;
	} else {
		err = cookie_here(cookie);
		return_home(home);
	}
	close(home);
	return err;
}

/* Open path as a netns; -ENOTTY/-EINVAL when it is some other file. */
static int open_netns(const char *path, int *fd_out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), type;

	if (fd < 0)
		return -errno;
	type = ioctl(fd, NS_GET_NSTYPE);
	if (type != CLONE_NEWNET) {
		close(fd);
		return -ENOTTY;
	}
	*fd_out = fd;
	return 0;
}

/* Is the cgroup v2 directory `rel` (a path under the cgroup2 mount, as /proc/PID/cgroup
 * gives it) the scope cgroup or below it? Walks up, comparing inodes (a cgroup's id). */
static bool cgroup_within(const struct census_scope *sc, const char *rel)
{
	char path[PATH_MAX], *slash;
	size_t root_len = strlen(sc->root);
	struct stat st;

	if (snprintf(path, sizeof(path), "%s%s", sc->root, rel) >= (int)sizeof(path))
		return false;
	for (;;) {
		if (!stat(path, &st) && (__u64)st.st_ino == sc->cgroup_id)
			return true;
		slash = strrchr(path, '/');
		if (!slash || (size_t)(slash - path) < root_len)
			return false;
		*slash = '\0';
	}
}

/* Does process `pid` live in the scope cgroup? Its cgroup v2 line is "0::/path". */
static bool pid_in_scope(const struct census_scope *sc, const char *pid)
{
	char path[300], line[PATH_MAX + 8];
	bool in = false;
	FILE *f;

	if (sc->whole_node)
		return true;
	if (!sc->cgroup_id)
		return false;
	snprintf(path, sizeof(path), "/proc/%s/cgroup", pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!in && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, "0::", 3))
			in = cgroup_within(sc, line + 3);
	}
	fclose(f);
	return in;
}

static void census_add(struct netns_census *c, size_t *cap, int fd, int home,
		       const struct shunt_config *conf, const char *path, bool in_scope)
{
	struct netns_seen ns = { 0 };
	struct stat st;

	if (fstat(fd, &st))
		return;
	for (size_t i = 0; i < c->n; i++) {
		if (c->v[i].dev == st.st_dev && c->v[i].ino == st.st_ino) {
			c->v[i].in_scope |= in_scope;
			return;
		}
	}
	ns.dev = st.st_dev;
	ns.ino = st.st_ino;
	ns.in_scope = in_scope;
	snprintf(ns.path, sizeof(ns.path), "%s", path);
	if (visit(fd, home, conf, &ns)) {
		free(ns.addrs);
		return;
	}
	if (c->n == *cap) {
		struct netns_seen *g = realloc(c->v, (*cap = *cap ? *cap * 2 : 32) * sizeof(*g));

		if (!g) {
			free(ns.addrs);
			return;
		}
		c->v = g;
	}
	c->v[c->n++] = ns;
}

static void census_dir(struct netns_census *c, size_t *cap, int home,
		       const struct shunt_config *conf, const struct census_scope *sc,
		       const char *dir, bool proc)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		int fd;

		if (de->d_name[0] == '.' || (proc && (de->d_name[0] < '0' || de->d_name[0] > '9')))
			continue;
		snprintf(path, sizeof(path), proc ? "%s/%s/ns/net" : "%s/%s", dir, de->d_name);
		if (open_netns(path, &fd))
			continue; /* process gone, or not a netns */
		/* A named netns counts by the processes in it, which /proc shows next. */
		census_add(c, cap, fd, home, conf, path, proc && pid_in_scope(sc, de->d_name));
		close(fd);
	}
	closedir(d);
}

int workload_census(const struct shunt_config *conf, const struct census_scope *sc,
		    struct netns_census *out)
{
	size_t cap = 0;
	int home = open_home();

	memset(out, 0, sizeof(*out));
	if (home < 0)
		return -errno;
	census_dir(out, &cap, home, conf, sc, "/run/netns", false);
	census_dir(out, &cap, home, conf, sc, "/proc", true);
	close(home);
	return 0;
}

int workload_scope(__u64 cgroup_id, struct census_scope *sc)
{
	struct stat st;
	int err;

	memset(sc, 0, sizeof(*sc));
	sc->cgroup_id = cgroup_id;
	err = cgroup2_root(sc->root, sizeof(sc->root));
	if (err)
		return err;
	sc->whole_node = !stat(sc->root, &st) && (__u64)st.st_ino == cgroup_id;
	return 0;
}

int workload_visit(int nsfd, const struct shunt_config *conf, struct netns_seen *ns)
{
	int home = open_home(), err;
	struct stat st;

	if (home < 0)
		return -errno;
	err = visit(nsfd, home, conf, ns);
	close(home);
	if (!err && !fstat(nsfd, &st)) {
		ns->dev = st.st_dev;
		ns->ino = st.st_ino;
	}
	return err;
}

bool workload_pid_in_scope(const struct census_scope *sc, pid_t pid)
{
	char p[32];

	snprintf(p, sizeof(p), "%d", (int)pid);
	return pid_in_scope(sc, p);
}

void workload_census_free(struct netns_census *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].addrs);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

/* The census entry of the netns behind fd, if the census saw it. */
static const struct netns_seen *census_find(const struct netns_census *c, int fd)
{
	struct stat st;

	if (fstat(fd, &st))
		return NULL;
	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].dev == st.st_dev && c->v[i].ino == st.st_ino)
			return &c->v[i];
	return NULL;
}

static struct shunt_ip *addrs_dup(const struct netns_seen *ns)
{
	struct shunt_ip *a = calloc(ns->n_addrs ? ns->n_addrs : 1, sizeof(*a));

	if (a && ns->n_addrs)
		memcpy(a, ns->addrs, ns->n_addrs * sizeof(*a));
	return a;
}

int workload_resolve(const struct shunt_config *conf, const struct netns_census *census,
		     __u32 slot, bool strict, struct config_errors *errs,
		     struct resolved_workload **out, size_t *n_out, __u64 **live, size_t *n_live)
{
	size_t cap = conf->n_workloads + census->n + 1, n = 0, nl = 0;
	struct resolved_workload *wl = calloc(cap, sizeof(*wl));
	__u64 *lv = calloc(cap, sizeof(*lv));
	size_t errs_before = errs->n;
	int home = open_home();

	if (!wl || !lv || home < 0) {
		free(wl);
		free(lv);
		if (home >= 0)
			close(home);
		return -ENOMEM;
	}
	for (size_t i = 0; i < conf->n_workloads; i++) {
		const struct config_workload *cw = &conf->workloads[i];
		struct netns_seen ns = { 0 };
		int fd, err = open_netns(cw->netns, &fd);

		if (err == -ENOTTY || err == -EINVAL) {
			config_error(errs, conf->source, cw->netns_pos,
				     "workload '%s': '%s' is not a network namespace", cw->name,
				     cw->netns);
			continue;
		}
		if (err) {
			config_error(errs, conf->source, cw->netns_pos, "workload '%s': netns '%s': %s",
				     cw->name, cw->netns, strerror(-err));
			continue;
		}
		/* The census has usually been in this netns already: use what it learned. */
		{
			const struct netns_seen *seen = census_find(census, fd);

			if (seen) {
				ns = *seen;
				ns.addrs = addrs_dup(seen);
				ns.n_addrs = ns.addrs ? seen->n_addrs : 0;
			} else {
				err = visit(fd, home, conf, &ns);
			}
		}
		close(fd);
		if (err) {
			config_error(errs, conf->source, cw->netns_pos,
				     "workload '%s': cannot enter netns '%s': %s", cw->name,
				     cw->netns, strerror(-err));
			free(ns.addrs);
			continue;
		}
		for (size_t j = 0; j < n; j++) {
			if (wl[j].cookie == ns.cookie) {
				config_error(errs, conf->source, cw->netns_pos,
					     "workload '%s': netns '%s' is the same namespace as workload '%s'",
					     cw->name, cw->netns, conf->workloads[wl[j].workload_id - 1].name);
				goto next;
			}
		}
		wl[n].cookie = ns.cookie;
		wl[n].flags = SHUNT_WL_EXPLICIT_SLOT(slot) | (cw->acceleration == CONFIG_ACCEL_OFF ? SHUNT_WL_NO_ACCEL : 0);
		wl[n].workload_id = (__u32)i + 1;
		wl[n].policy = cw->policy;
		wl[n].addrs = ns.addrs;
		wl[n].n_addrs = ns.n_addrs;
		ns.addrs = NULL;
		lv[nl++] = ns.cookie;
		n++;
next:
		free(ns.addrs);
	}
	close(home);
	for (size_t i = 0; i < census->n; i++) {
		const struct netns_seen *ns = &census->v[i];
		bool known = false;

		lv[nl++] = ns->cookie;
		for (size_t j = 0; j < n; j++)
			known |= wl[j].cookie == ns->cookie;
		/* Only pods whose processes live in our cgroup: another shunt (another
		 * cgroup) may own the rest. */
		if (known || !conf->auto_detect || !ns->proxy_listening || !ns->in_scope)
			continue;
		wl[n].cookie = ns->cookie;
		wl[n].flags = SHUNT_WL_SCANNED;
		wl[n].addrs = addrs_dup(ns);
		wl[n].n_addrs = wl[n].addrs ? ns->n_addrs : 0;
		n++;
	}
	if (strict && errs->n != errs_before) {
		workload_resolved_free(wl, n);
		free(lv);
		return -EINVAL;
	}
	*out = wl;
	*n_out = n;
	*live = lv;
	*n_live = nl;
	return 0;
}

void workload_resolved_free(struct resolved_workload *wl, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(wl[i].addrs);
	free(wl);
}

/* Does /proc/PID hold a socket with inode ino? Returns the fd number or -1. */
static int find_socket_fd(const char *pid, __u64 ino)
{
	char dir[300], link[PATH_MAX], want[64], target[64];
	struct dirent *de;
	DIR *d;
	int found = -1;

	snprintf(dir, sizeof(dir), "/proc/%s/fd", pid);
	snprintf(want, sizeof(want), "socket:[%llu]", (unsigned long long)ino);
	d = opendir(dir);
	if (!d)
		return -1;
	while (found < 0 && (de = readdir(d))) {
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%s", dir, de->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (!strcmp(target, want))
			found = atoi(de->d_name);
	}
	closedir(d);
	return found;
}

int workload_take_listener(const struct netns_seen *ns)
{
	struct dirent *de;
	DIR *d;
	int fd = -ENOENT;

	if (!ns->inbound_sock_ino)
		return -ENOENT;
	d = opendir("/proc");
	if (!d)
		return -errno;
	while (fd < 0 && (de = readdir(d))) {
		char nspath[300];
		struct stat st;
		int target, pidfd;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		/* only processes of that netns can hold its listener */
		snprintf(nspath, sizeof(nspath), "/proc/%s/ns/net", de->d_name);
		if (stat(nspath, &st) || st.st_ino != ns->ino || st.st_dev != ns->dev)
			continue;
		target = find_socket_fd(de->d_name, ns->inbound_sock_ino);
		if (target < 0)
			continue;
		pidfd = (int)syscall(SYS_pidfd_open, atoi(de->d_name), 0);
		if (pidfd < 0)
			continue;
		fd = (int)syscall(SYS_pidfd_getfd, pidfd, target, 0);
		if (fd < 0)
			fd = -errno;
		close(pidfd);
	}
	closedir(d);
	return fd;
}
