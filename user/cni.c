// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* See cni.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/nsfs.h>
#include <pthread.h>
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
#include <bpf/bpf.h>
#include <json-c/json.h>
#include "cni.h"
#include "cni_decide.h"
#include "kube.h"
#include "log.h"
#include "pins.h"
#include "podinit.h"
#include "podreg.h"
#include "workload.h"

#define CNI_MAX_THREADS 64
#define CNI_FIELD_MAX 256

static int threads;   /* running requests (atomic) */

struct cni_req {
	const struct cni_service *svc;
	int conn;
	struct timespec start;       /* the request read */
	double api_ms;               /* spent waiting for the API server */
	char command[16], netns[CNI_FIELD_MAX], container[CNI_FIELD_MAX];
	char ns[CNI_FIELD_MAX], name[CNI_FIELD_MAX], uid[CNI_FIELD_MAX];
	char label[2 * CNI_FIELD_MAX + 2];   /* ns/name, for logs */
};

static void answer(struct cni_req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void answer(struct cni_req *r, const char *fmt, ...)
{
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = podreg_vanswer(r->conn, fmt, ap);
	va_end(ap);
	if (err)
		log_warn("cni %s %s: cannot answer the plugin: %s", r->command, r->label,
			 strerror(-err));
}

static bool k8s_name(const char *s)
{
	if (!*s || strlen(s) > 253)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '.'))
			return false;
	return true;
}

/* key=value lines into r; false with *why on anything unexpected. */
static bool parse_fields(char *req, struct cni_req *r, const char **why)
{
	static const struct {
		const char *key;
		size_t off, len;
	} keys[] = {
#define K(k, f) { k, offsetof(struct cni_req, f), sizeof(((struct cni_req *)0)->f) }
		K("command", command), K("netns", netns), K("container", container),
		K("namespace", ns), K("name", name), K("uid", uid),
#undef K
	};
	char *save = NULL;

	for (char *line = strtok_r(req, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		size_t i;

		if (!eq) {
			*why = "a request line without '='";
			return false;
		}
		*eq = '\0';
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			if (strcmp(line, keys[i].key))
				continue;
			if (strlen(eq + 1) >= keys[i].len) {
				*why = "a request field is too long";
				return false;
			}
			strcpy((char *)r + keys[i].off, eq + 1);
			break;
		}
		if (i == sizeof(keys) / sizeof(keys[0])) {
			*why = "an unknown request field";
			return false;
		}
	}
	/* they go into an API path: Kubernetes names only (DNS-1123: a-z, 0-9, '-', '.') */
	if (!k8s_name(r->ns) || !k8s_name(r->name)) {
		*why = "the pod's namespace or name is not a Kubernetes name";
		return false;
	}
	if (strcmp(r->command, "ADD") && strcmp(r->command, "DEL") && strcmp(r->command, "CHECK")) {
		*why = "the command is not ADD, DEL or CHECK";
		return false;
	}
	snprintf(r->label, sizeof(r->label), "%s/%s", r->ns[0] ? r->ns : "-",
		 r->name[0] ? r->name : "-");
	return true;
}

int cni_service_init(struct cni_service *svc)
{
	struct stat st;

	if (stat("/proc/thread-self/ns/net", &st))
		return -errno;
	svc->host_dev = st.st_dev;
	svc->host_ino = st.st_ino;
	return 0;
}

/* fd is the node's own network namespace. Not /proc/self/ns/net: that is the main thread's,
 * which visits pods' namespaces (setns) while requests are served on other threads. */
static bool host_ns(const struct cni_service *svc, int fd)
{
	struct stat st;

	return !fstat(fd, &st) && st.st_dev == svc->host_dev && st.st_ino == svc->host_ino;
}

/* The caller is root in the node's own network namespace: the container runtime running
 * the plugin. A pod's process (its own netns) is refused whatever its uid. */
static const char *caller_refused(const struct cni_service *svc, int conn)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	char path[64];
	int fd;
	bool host;

	if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cr, &len) || cr.pid <= 0)
		return "cannot tell who is calling (no peer credentials)";
	if (cr.uid != 0)
		return "a CNI request must come from root (the container runtime)";
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)cr.pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return "the calling process is gone";
	host = host_ns(svc, fd);
	close(fd);
	return host ? NULL : "a CNI request must come from the node's network namespace, not a pod's";
}

/* CNI_NETNS as an open network namespace that is not the node's own; -errno. */
static int open_pod_netns(const struct cni_service *svc, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET) {
		close(fd);
		return -ENOTTY;
	}
	if (host_ns(svc, fd)) {
		close(fd);
		return -EPERM;
	}
	return fd;
}

/* The pin directory's lock for a CNI request: pins_lock's 10 s, tried again for up to 40 s
 * (the plugin waits 60): a burst of config reloads may hold it back to back, and a pod's
 * sandbox should wait for it rather than fail. */
static int lock_pins(const char *pin_dir)
{
	int lock = -EBUSY;

	for (int i = 0; i < 4 && lock == -EBUSY; i++)
		lock = pins_lock(pin_dir, false);
	return lock;
}

/* Mesh the netns behind nsfd with policy under the pin lock, as pod-init's registration
 * does; on any failure nothing of the pod stays. 0, or -errno (-EBUSY: the lock stayed
 * taken; -ENOENT: shunt or its inbound program is not loaded). */
static int mesh_pod(const struct cni_service *svc, int nsfd, const struct netns_seen *seen,
		    const struct shunt_config *policy, const char *ns, const char *name, __u32 *gen)
{
	int lock = lock_pins(svc->pin_dir), err;

	if (lock < 0)
		return lock == -EBUSY ? lock : -ENOENT;
	err = apply_register_pod(svc->t, nsfd, seen, policy, gen);
	if (!err)   /* its name, for --pod NAMESPACE/NAME and status (best effort) */
		maps_set_podname(svc->t->m, seen->cookie, ns, name);
	if (err)
		apply_unregister_pod(svc->t, seen->cookie);
	pins_unlock(lock);
	if (!err)   /* the daemon's loop need not rescan the node for it */
		__atomic_add_fetch((uint64_t *)&svc->changes, 1, __ATOMIC_RELAXED);
	return err;
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static bool final_status(int err, long status)
{
	/* not there, not JSON, too big, not allowed: asking again will not help */
	return err == -ENOENT || err == -EBADMSG || err == -EFBIG || status == 401 || status == 403;
}

/* GET with istio-cni's bounded retry (1 s apart) until the deadline. */
static int get_retry(const struct cni_service *svc, const char *path, struct json_object **obj,
		     char *err, size_t errlen)
{
	struct timespec start, now;
	long status = 0;
	int r, tries = 0;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		r = kube_get(svc->kube, path, obj, &status, err, errlen);
		tries++;
		if (!r || final_status(r, status))
			return r;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec + 1 > (time_t)svc->kube_timeout_s) {
			size_t l = strlen(err);

			snprintf(err + l, errlen - l, " (%d tries in %u s)", tries, svc->kube_timeout_s);
			return r;
		}
		sleep(1);
	}
}

/* The pod's decision and, for a meshed pod, its policy in o. 0 mesh, 1 skip (why), or
 * -1 error (why). */
static int decide(struct cni_req *r, struct podinit_opts *o, char *why, size_t len)
{
	const struct cni_service *svc = r->svc;
	struct json_object *pod = NULL, *nsobj = NULL;
	struct cni_decision *d = calloc(1, sizeof(*d));
	char path[1024], err[512] = "";
	struct timespec t0;
	int ret = -1;

	if (!d) {
		snprintf(why, len, "out of memory");
		return -1;
	}
	if (!svc->kube) {
		snprintf(why, len, "no Kubernetes API server configured (shunt run --kubeconfig, "
			 "or run in a cluster)");
		goto out;
	}
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", r->ns, r->name);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	get_retry(svc, path, &pod, err, sizeof(err));
	r->api_ms += ms_since(&t0);
	if (!pod) {
		snprintf(why, len, "cannot get pod %s: %s", r->label, err);
		goto out;
	}
	cni_decide(pod, NULL, d);
	if (d->verdict == CNI_MESH && d->linkerd) {
		/* linkerd-cni reads the namespace's config.linkerd.io annotations too */
		snprintf(path, sizeof(path), "/api/v1/namespaces/%s", r->ns);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		get_retry(svc, path, &nsobj, err, sizeof(err));
		r->api_ms += ms_since(&t0);
		if (!nsobj) {
			snprintf(why, len, "cannot get namespace %s: %s", r->ns, err);
			goto out;
		}
		cni_decide(pod, nsobj, d);
	}
	if (d->verdict == CNI_SKIP) {
		snprintf(why, len, "%s", d->why);
		ret = 1;
		goto out;
	}
	if (d->verdict == CNI_REFUSE) {
		snprintf(why, len, "pod %s: %s", r->label, d->why);
		goto out;
	}
	if (podinit_parse(d->argc, d->argv, NULL, o, err, sizeof(err))) {
		snprintf(why, len, "pod %s: its annotations: %s", r->label, err);
		goto out;
	}
	free(o->policy.source);
	o->policy.source = strdup("cni");
	snprintf(why, len, "%s", d->why);
	ret = 0;
out:
	json_object_put(pod);
	json_object_put(nsobj);
	free(d);
	return ret;
}

static int netns_cookie_of(const struct cni_service *svc, const char *path, __u64 *cookie)
{
	int fd = open_pod_netns(svc, path), err;

	if (fd < 0)
		return fd;
	err = workload_netns_cookie(fd, cookie);
	close(fd);
	return err;
}

static bool meshed(const struct cni_service *svc, __u64 cookie)
{
	struct shunt_workload v;

	return !bpf_map_lookup_elem(svc->t->m->fd[MAP_NETNS], &cookie, &v) &&
	       (v.flags & SHUNT_WL_OWN_POLICY);
}

static int do_add(struct cni_req *r)
{
	const struct cni_service *svc = r->svc;
	struct podinit_opts o;
	struct netns_seen seen = { 0 };
	char why[2048], cookie[24], genstr[12];
	__u32 gen = 0;
	int nsfd = -1, err, d;

	memset(&o, 0, sizeof(o));
	d = decide(r, &o, why, sizeof(why));
	if (d == 1) {
		answer(r, "skip %s", why);
		log_fields(LOG_INFO, LOG_F({ "event", "skipped" }, { "pod", r->label },
					   { "reason", why }),
			   "cni ADD %s: not meshed: %s", r->label, why);
		return 0;
	}
	if (d < 0)
		goto refuse;
	nsfd = open_pod_netns(svc, r->netns);
	if (nsfd < 0) {
		snprintf(why, sizeof(why), "pod %s: netns %s: %s", r->label, r->netns,
			 nsfd == -EPERM ? "the node's own network namespace: refusing to mesh the host"
					: strerror(-nsfd));
		goto refuse;
	}
	err = workload_visit(nsfd, &o.policy, &seen);
	if (err) {
		snprintf(why, sizeof(why), "pod %s: cannot enter netns %s: %s", r->label, r->netns,
			 strerror(-err));
		goto refuse;
	}
	err = mesh_pod(svc, nsfd, &seen, &o.policy, r->ns, r->name, &gen);
	if (err) {
		snprintf(why, sizeof(why), "pod %s: cannot mesh netns %s: %s", r->label, r->netns,
			 err == -EBUSY ? "the pin directory stayed locked for 40 s" :
			 err == -ENOENT ? "shunt or its inbound capture program is not loaded" :
			 strerror(-err));
		goto refuse;
	}
	snprintf(cookie, sizeof(cookie), "%" PRIu64, (uint64_t)seen.cookie);
	snprintf(genstr, sizeof(genstr), "%u", gen);
	log_fields(LOG_INFO, LOG_F({ "event", "meshed" }, { "pod", r->label },
				   { "netns", r->netns }, { "netns_cookie", cookie },
				   { "generation", genstr }, { "reason", why }),
		   "cni ADD %s: meshed netns cookie %s (%s, container %.12s): outbound port %u, "
		   "inbound port %u, generation %u; %.1f ms, %.1f of them the API server",
		   r->label, cookie, why, r->container, o.policy.outbound_port,
		   o.policy.inbound_port, gen, ms_since(&r->start), r->api_ms);
	answer(r, "ok pod %s meshed fail-closed (%s): netns cookie %" PRIu64 ", outbound to port "
	       "%u, inbound to port %u", r->label, why, (uint64_t)seen.cookie,
	       o.policy.outbound_port, o.policy.inbound_port);
	free(seen.addrs);
	close(nsfd);
	config_free(&o.policy);
	return 0;
refuse:
	answer(r, "error: %s", why);
	log_fields(LOG_WARN, LOG_F({ "event", "refused" }, { "pod", r->label },
				   { "netns", r->netns[0] ? r->netns : NULL }, { "reason", why }),
		   "cni ADD %s refused: %s", r->label, why);
	free(seen.addrs);
	if (nsfd >= 0)
		close(nsfd);
	config_free(&o.policy);
	return -1;
}

static int do_del(struct cni_req *r)
{
	__u64 cookie;
	int lock, err;

	/* No netns (already gone) or none of ours: nothing to do. The daemon's check of the
	 * pods' links removes what a gone netns leaves behind. */
	if (!r->netns[0] || netns_cookie_of(r->svc, r->netns, &cookie)) {
		answer(r, "ok nothing to remove for %s", r->label);
		return 0;
	}
	lock = lock_pins(r->svc->pin_dir);
	if (lock == -EBUSY) {
		answer(r, "error: the pin directory %s stayed locked for 40 s", r->svc->pin_dir);
		return -1;
	}
	if (lock < 0) {
		answer(r, "ok shunt is not loaded: nothing to remove");
		return 0;
	}
	err = apply_unregister_pod(r->svc->t, cookie);
	pins_unlock(lock);
	if (err) {
		answer(r, "error: pod %s: cannot remove netns cookie %" PRIu64 ": %s", r->label,
		       (uint64_t)cookie, strerror(-err));
		return -1;
	}
	__atomic_add_fetch((uint64_t *)&r->svc->changes, 1, __ATOMIC_RELAXED);
	{
		char c[24];

		snprintf(c, sizeof(c), "%" PRIu64, (uint64_t)cookie);
		log_fields(LOG_INFO, LOG_F({ "event", "unmeshed" }, { "pod", r->label },
					   { "netns", r->netns }, { "netns_cookie", c }),
			   "cni DEL %s: netns cookie %s left the mesh; %.1f ms", r->label, c,
			   ms_since(&r->start));
	}
	answer(r, "ok pod %s unmeshed (netns cookie %" PRIu64 ")", r->label, (uint64_t)cookie);
	return 0;
}

static int do_check(struct cni_req *r)
{
	struct podinit_opts o;
	char why[2048];
	__u64 cookie;
	int d, err = netns_cookie_of(r->svc, r->netns, &cookie);

	if (err) {
		answer(r, "error: netns %s: %s", r->netns, strerror(-err));
		return -1;
	}
	memset(&o, 0, sizeof(o));
	d = decide(r, &o, why, sizeof(why));
	config_free(&o.policy);
	if (d < 0) {
		answer(r, "error: %s", why);
		return -1;
	}
	if (d == 0 && !meshed(r->svc, cookie)) {
		answer(r, "error: pod %s should be meshed (%s) and is not", r->label, why);
		return -1;
	}
	if (d == 1 && meshed(r->svc, cookie)) {
		answer(r, "error: pod %s is meshed but should not be (%s)", r->label, why);
		return -1;
	}
	answer(r, "ok pod %s is %s", r->label, d ? "not meshed, as asked" : "meshed, as asked");
	return 0;
}

/* One pod of the node's list: mesh it from its netns if it should be meshed and is not. */
static void repair_pod(const struct cni_service *svc, struct json_object *pod,
		       const struct netns_census *census, int *meshed_n)
{
	struct json_object *meta, *status, *ips, *v;
	struct cni_decision *d;
	struct podinit_opts o;
	const char *ns = "", *name = "";
	char err[256], pod_label[2 * CNI_FIELD_MAX + 2], cookie[24];

	if (json_object_object_get_ex(pod, "metadata", &meta)) {
		if (json_object_object_get_ex(meta, "namespace", &v))
			ns = json_object_get_string(v);
		if (json_object_object_get_ex(meta, "name", &v))
			name = json_object_get_string(v);
	}
	if (!json_object_object_get_ex(pod, "status", &status) ||
	    !json_object_object_get_ex(status, "podIPs", &ips) ||
	    !json_object_is_type(ips, json_type_array))
		return;   /* no address yet (or host network): nothing to find it by */
	d = calloc(1, sizeof(*d));
	if (!d)
		return;
	cni_decide(pod, NULL, d);
	if (d->verdict != CNI_MESH || d->linkerd) {
		/* Linkerd's namespace fallback needs another GET: those pods are left to a restart */
		free(d);
		return;
	}
	memset(&o, 0, sizeof(o));
	if (podinit_parse(d->argc, d->argv, NULL, &o, err, sizeof(err))) {
		log_warn("cni repair: pod %s/%s: %s", ns, name, err);
		free(d);
		return;
	}
	free(d);
	for (size_t i = 0; i < json_object_array_length(ips); i++) {
		struct json_object *ipo = json_object_array_get_idx(ips, i), *ipv;
		struct shunt_ip want = { 0 };
		const char *ip;

		if (!json_object_object_get_ex(ipo, "ip", &ipv) || !(ip = json_object_get_string(ipv)))
			continue;
		if (inet_pton(AF_INET, ip, &want.addr[0]) == 1)
			want.family = SHUNT_AF_INET;
		else if (inet_pton(AF_INET6, ip, want.addr) == 1)
			want.family = SHUNT_AF_INET6;
		else
			continue;
		for (size_t c = 0; c < census->n; c++) {
			const struct netns_seen *seen = &census->v[c];
			bool has = false;
			__u32 gen = 0;
			int fd, e;

			for (size_t a = 0; a < seen->n_addrs && !has; a++)
				has = seen->addrs[a].family == want.family &&
				      !memcmp(seen->addrs[a].addr, want.addr, sizeof(want.addr));
			if (!has)
				continue;
			if (meshed(svc, seen->cookie))
				goto done;
			fd = open(seen->path, O_RDONLY | O_CLOEXEC);
			e = fd < 0 ? -errno : mesh_pod(svc, fd, seen, &o.policy, ns, name, &gen);
			if (fd >= 0)
				close(fd);
			snprintf(pod_label, sizeof(pod_label), "%s/%s", ns, name);
			snprintf(cookie, sizeof(cookie), "%" PRIu64, (uint64_t)seen->cookie);
			if (e) {
				log_fields(LOG_WARN, LOG_F({ "event", "refused" }, { "pod", pod_label },
							   { "netns_cookie", cookie },
							   { "reason", strerror(-e) }),
					   "cni repair: pod %s (%s): cannot mesh it: %s", pod_label, ip,
					   strerror(-e));
			} else {
				log_fields(LOG_INFO, LOG_F({ "event", "meshed" }, { "pod", pod_label },
							   { "netns_cookie", cookie },
							   { "reason", "started before the plugin" }),
					   "cni repair: pod %s (%s) started before the plugin: meshed "
					   "netns cookie %s (its connections from now on)", pod_label, ip, cookie);
				(*meshed_n)++;
			}
			goto done;
		}
	}
done:
	config_free(&o.policy);
}

int cni_repair(const struct cni_service *svc, const char *node, const struct shunt_config *conf)
{
	struct netns_census census = { 0 };
	struct census_scope scope;
	struct json_object *list = NULL, *items;
	char path[512], err[512];
	long status = 0;
	int n = 0, e;

	if (!svc->kube || !node || !k8s_name(node))
		return 0;
	snprintf(path, sizeof(path), "/api/v1/pods?fieldSelector=spec.nodeName%%3D%s", node);
	e = kube_get(svc->kube, path, &list, &status, err, sizeof(err));
	if (e) {
		log_warn("cni repair: cannot list this node's pods: %s", err);
		return e;
	}
	if (!json_object_object_get_ex(list, "items", &items) ||
	    !json_object_is_type(items, json_type_array)) {
		json_object_put(list);
		log_warn("cni repair: the pod list has no items");
		return -EBADMSG;
	}
	workload_scope(svc->t->cgroup_id, &scope);
	e = workload_census(conf, &scope, &census);
	if (!e)
		for (size_t i = 0; i < json_object_array_length(items); i++)
			repair_pod(svc, json_object_array_get_idx(items, i), &census, &n);
	log_info("cni repair: %zu pods on node %s looked at, %d meshed that started before the "
		 "plugin", json_object_array_length(items), node, n);
	workload_census_free(&census);
	json_object_put(list);
	return n;
}

static void *serve_thread(void *arg)
{
	struct cni_req *r = arg;
	int ret;

	if (!strcmp(r->command, "ADD"))
		ret = do_add(r);
	else if (!strcmp(r->command, "DEL"))
		ret = do_del(r);
	else
		ret = do_check(r);
	__atomic_add_fetch(ret ? r->svc->refused : r->svc->ok, 1, __ATOMIC_RELAXED);
	close(r->conn);
	free(r);
	__atomic_sub_fetch(&threads, 1, __ATOMIC_RELAXED);
	return NULL;
}

void cni_serve(const struct cni_service *svc, int conn, char *req)
{
	struct cni_req *r = calloc(1, sizeof(*r));
	const char *why = NULL;
	pthread_attr_t attr;
	pthread_t tid;

	if (!r) {
		why = "out of memory";
	} else {
		r->svc = svc;
		r->conn = conn;
		clock_gettime(CLOCK_MONOTONIC, &r->start);
		why = caller_refused(svc, conn);
		if (!why)
			parse_fields(req, r, &why);
		if (!why && __atomic_add_fetch(&threads, 1, __ATOMIC_RELAXED) > CNI_MAX_THREADS) {
			__atomic_sub_fetch(&threads, 1, __ATOMIC_RELAXED);
			why = "too many CNI requests at once: try again";
		}
	}
	free(req);
	if (!why) {
		struct timeval tv = { .tv_sec = 5 };

		/* the plugin waits for the verdict; the answer itself must not block */
		setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (!pthread_create(&tid, &attr, serve_thread, r)) {
			pthread_attr_destroy(&attr);
			return;
		}
		pthread_attr_destroy(&attr);
		__atomic_sub_fetch(&threads, 1, __ATOMIC_RELAXED);
		why = "cannot start a thread for the request";
	}
	if (r) {
		answer(r, "error: %s", why);
		log_warn("cni request refused: %s", why);
	} else if (send(conn, "error: out of memory\n", 21, MSG_NOSIGNAL) < 0) {
		/* nothing more to say */
	}
	__atomic_add_fetch(svc->refused, 1, __ATOMIC_RELAXED);
	free(r);
	close(conn);
}
