// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* See podreg.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>
#include "cni.h"
#include "log.h"
#include "pins.h"
#include "podinit.h"
#include "podreg.h"
#include "workload.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77   /* Linux 6.5 */
#endif
#define CAP_NET_ADMIN_BIT 12
#define REQUEST_TIMEOUT_S 2

static int mkdir_parents(const char *path)
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

int podreg_listen(const char *path, ino_t *ino)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	err = mkdir_parents(path);
	if (err)
		return err;
	if (!lstat(path, &st)) {
		int probe;

		if (!S_ISSOCK(st.st_mode)) {
			log_err("%s exists and is not a socket: not replacing it", path);
			return -EEXIST;
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && !connect(probe, (struct sockaddr *)&sa, sizeof(sa))) {
			close(probe);
			log_err("another shunt answers on %s: give this one its own --socket", path);
			return -EADDRINUSE;
		}
		if (probe >= 0)
			close(probe);
		unlink(path);    /* left by a shunt that is gone */
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* root only: the init containers that call it run as root with NET_ADMIN */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || chmod(path, 0600) ||
	    lstat(path, &st) || listen(fd, 64)) {
		err = -errno;
		close(fd);
		return err;
	}
	*ino = st.st_ino;
	return fd;
}

void podreg_close(int fd, const char *path, ino_t ino)
{
	struct stat st;

	/* only the file this socket was bound to: a newer shunt may have replaced it */
	if (!lstat(path, &st) && S_ISSOCK(st.st_mode) && st.st_ino == ino)
		unlink(path);
	close(fd);
}

int podreg_vanswer(int fd, const char *fmt, va_list ap)
{
	char buf[1024];
	int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);

	if (n < 0)
		return -EINVAL;
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	/* MSG_NOSIGNAL: a caller that left before its answer is an error here, not a SIGPIPE
	 * that ends shunt run */
	return send(fd, buf, (size_t)n, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

static void reply(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply(int fd, const char *fmt, ...)
{
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = podreg_vanswer(fd, fmt, ap);
	va_end(ap);
	if (err)
		log_warn("pod-init: cannot answer: %s", strerror(-err));
}

/* The request: magic line, then the policy YAML (or a CNI request: *cni), up to EOF. NULL
 * with *why set. */
static char *read_request(int fd, size_t *len, bool *cni, const char **why)
{
	size_t cap = 4096, n = 0, ml = strlen(PODINIT_MAGIC);
	char *buf = malloc(cap + 1);

	if (!buf) {
		*why = "out of memory";
		return NULL;
	}
	for (;;) {
		ssize_t r;

		if (n == cap) {
			char *g;

			if (cap >= PODINIT_MAX_REQUEST) {
				*why = "request too large";
				goto fail;
			}
			g = realloc(buf, (cap *= 2) + 1);
			if (!g) {
				*why = "out of memory";
				goto fail;
			}
			buf = g;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*why = errno == EAGAIN ? "request not finished in time" : "cannot read the request";
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	if (n >= strlen(CNI_MAGIC) && !memcmp(buf, CNI_MAGIC, strlen(CNI_MAGIC)) &&
	    !memchr(buf, '\0', n)) {
		*cni = true;
		memmove(buf, buf + strlen(CNI_MAGIC), n - strlen(CNI_MAGIC) + 1);
		*len = n - strlen(CNI_MAGIC);
		return buf;
	}
	if (n < ml || memcmp(buf, PODINIT_MAGIC, ml)) {
		*why = "not a shunt pod-init request (or another version of it)";
		goto fail;
	}
	if (memchr(buf, '\0', n)) {
		*why = "the request is not text";
		goto fail;
	}
	memmove(buf, buf + ml, n - ml + 1);
	*len = n - ml;
	return buf;
fail:
	free(buf);
	return NULL;
}

/* Effective capabilities of pid include CAP_NET_ADMIN (as istio-init has). */
static bool pid_has_net_admin(pid_t pid)
{
	char path[64], line[256];
	unsigned long long caps = 0;
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &caps) == 1)
			found = true;
	fclose(f);
	return found && (caps >> CAP_NET_ADMIN_BIT) & 1;
}

static bool same_file(int fd, const char *path)
{
	struct stat a, b;

	return !fstat(fd, &a) && !stat(path, &b) && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* The caller's network namespace, from the kernel's record of who connected. The pid
 * could be reused only once the caller is gone: the pidfd (SO_PEERPIDFD where the kernel
 * has it, else pidfd_open) must still be alive and the connection still open after the
 * namespace is opened. */
static int peer_netns(int conn, pid_t *pid_out, const char **why)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	char path[64];
	int pidfd = -1, nsfd = -1;
	struct pollfd p = { .fd = conn, .events = POLLOUT };

	if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cr, &len) || cr.pid <= 0) {
		*why = "cannot tell who is calling (no peer credentials)";
		return -EPERM;
	}
	len = sizeof(pidfd);
	if (getsockopt(conn, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len))
		pidfd = (int)syscall(SYS_pidfd_open, cr.pid, 0);
	if (pidfd < 0) {
		*why = "the calling process is gone";
		return -ESRCH;
	}
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)cr.pid);
	nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0 || syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) ||
	    poll(&p, 1, 0) < 0 || (p.revents & (POLLHUP | POLLERR))) {
		*why = "the calling process is gone";
		if (nsfd >= 0)
			close(nsfd);
		close(pidfd);
		return -ESRCH;
	}
	close(pidfd);
	*pid_out = cr.pid;
	return nsfd;
}

/* 0 when the pod was meshed, -1 when refused, 1 when a CNI request took conn over. */
static int handle(int conn, const struct apply_target *t, const struct shunt_config *node,
		  const char *pin_dir, const struct cni_service *cni_svc)
{
	struct timeval tv = { .tv_sec = REQUEST_TIMEOUT_S };
	struct config_errors errs = { 0 };
	struct shunt_config pol = { 0 };
	struct netns_seen ns = { 0 };
	struct census_scope scope;
	const char *why = NULL;
	char *req = NULL;
	size_t len = 0;
	char cookie[24], genstr[12];
	pid_t pid = 0;
	__u32 gen = 0;
	int nsfd = -1, err, lock, ret = -1;
	bool cni = false;

	setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	req = read_request(conn, &len, &cni, &why);
	if (!req)
		goto refuse;
	if (cni) {
		cni_serve(cni_svc, conn, req);   /* answers from its own thread */
		return 1;
	}
	nsfd = peer_netns(conn, &pid, &why);
	if (nsfd < 0)
		goto refuse;
	if (same_file(nsfd, "/proc/self/ns/net") || same_file(nsfd, "/proc/1/ns/net")) {
		why = "the caller runs in the node's own network namespace, not a pod's: refusing to "
		      "mesh the host";
		goto refuse;
	}
	if (!pid_has_net_admin(pid)) {
		why = "the caller lacks CAP_NET_ADMIN (run pod-init as the init container, as "
		      "istio-init runs)";
		goto refuse;
	}
	if (workload_scope(t->cgroup_id, &scope) || !workload_pid_in_scope(&scope, pid)) {
		why = "the caller is outside the cgroup shunt is attached to: its connections would "
		      "not be captured";
		goto refuse;
	}
	err = config_parse_overlay("pod-init request", req, len, node, &pol, &errs);
	if (err) {
		reply(conn, "error: %s", errs.n ? errs.msgs[0] : strerror(-err));
		log_warn("pod-init from pid %d refused: %s", (int)pid, errs.n ? errs.msgs[0] : "?");
		goto out;
	}
	err = workload_visit(nsfd, node, &ns);
	if (err) {
		why = "cannot enter the caller's network namespace";
		goto refuse;
	}
	lock = pins_lock(pin_dir, false);
	if (lock < 0) {
		why = "shunt is not loaded";
		goto refuse;
	}
	err = apply_register_pod(t, nsfd, &ns, &pol, &gen);
	/* its name, if pod-init sent one ($POD_NAMESPACE/$POD_NAME): --pod NAMESPACE/NAME. The
	 * pod's own word for it, for operators; it decides nothing. */
	if (!err && !strncmp(req, PODINIT_POD_LINE, strlen(PODINIT_POD_LINE))) {
		char pns[64], pname[256];

		if (sscanf(req + strlen(PODINIT_POD_LINE), "%63[a-z0-9.-]/%255[a-z0-9.-]", pns,
			   pname) == 2)
			maps_set_podname(t->m, ns.cookie, pns, pname);
	}
	pins_unlock(lock);
	if (err) {
		reply(conn, "error: cannot mesh netns %" PRIu64 ": %s", (uint64_t)ns.cookie,
		      err == -ENOENT ? "the inbound capture program is not loaded" : strerror(-err));
		log_err("pod-init from pid %d: cannot mesh netns cookie %" PRIu64 ": %s", (int)pid,
			(uint64_t)ns.cookie, strerror(-err));
		goto out;
	}
	snprintf(cookie, sizeof(cookie), "%" PRIu64, (uint64_t)ns.cookie);
	snprintf(genstr, sizeof(genstr), "%u", gen);
	log_fields(LOG_INFO, LOG_F({ "event", "meshed" }, { "netns_cookie", cookie },
				   { "generation", genstr }, { "reason", "pod-init" }),
		   "pod-init: pid %d meshed netns cookie %s (inode %" PRIu64 ") with its own "
		   "policy, generation %u: outbound port %u, inbound port %u", (int)pid, cookie,
		   (uint64_t)ns.ino, gen, pol.outbound_port, pol.inbound_port);
	reply(conn, "ok netns %" PRIu64 " (inode %" PRIu64 ") meshed fail-closed by its own policy "
	      "(generation %u): outbound to port %u, inbound to port %u", (uint64_t)ns.cookie,
	      (uint64_t)ns.ino, gen, pol.outbound_port, pol.inbound_port);
	ret = 0;
	goto out;
refuse:
	reply(conn, "error: %s", why);
	log_fields(LOG_WARN, LOG_F({ "event", "refused" }, { "reason", why }),
		   "pod-init%s refused: %s", pid ? "" : " (unknown caller)", why);
out:
	free(ns.addrs);
	config_free(&pol);
	config_errors_free(&errs);
	free(req);
	if (nsfd >= 0)
		close(nsfd);
	return ret;
}

void podreg_serve(int lfd, const struct apply_target *t, const struct shunt_config *node,
		  const char *pin_dir, uint64_t *meshed, uint64_t *refused,
		  const struct cni_service *cni)
{
	for (;;) {
		int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), r;

		if (conn < 0)
			return;   /* EAGAIN: nothing more pending */
		r = handle(conn, t, node, pin_dir, cni);
		if (r == 1)
			continue;  /* the CNI request's thread counts and closes it */
		__atomic_add_fetch(r ? refused : meshed, 1, __ATOMIC_RELAXED);
		close(conn);
	}
}
