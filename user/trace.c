// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* See trace.h. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "jsonw.h"
#include "log.h"
#include "pins.h"
#include "report.h"
#include "trace.h"
#include "workload.h"

/* Field 22 of /proc/PID/stat: when the process started, to tell a reused PID. 0 if gone. */
static __u64 proc_starttime(__u32 pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');    /* comm may hold spaces */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
			 "%*d %*d %llu", &start) != 1)
		return 0;
	return start;
}

static int lock_nb(const char *pin_dir)
{
	int fd = open(pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Clear the rings of dead tracers in c; returns the live ones. */
static int sweep_ctl(struct shunt_trace_ctl *c)
{
	int live = 0;

	for (int i = 0; i < SHUNT_TRACE_RINGS; i++) {
		if (!(c->active & (1u << i)))
			continue;
		if (c->pid[i] && proc_starttime(c->pid[i]) == c->starttime[i]) {
			live++;
			continue;
		}
		c->active &= ~(1u << i);
		c->pid[i] = 0;
		c->starttime[i] = 0;
	}
	return live;
}

int trace_sweep(const struct shunt_maps *m, const char *pin_dir)
{
	struct shunt_trace_ctl c, was;
	__u32 k = 0;
	int lockfd, live;

	if (bpf_map_lookup_elem(m->fd[MAP_TRACE], &k, &c))
		return 0;
	if (!c.active)
		return 0;
	was = c;
	live = sweep_ctl(&c);
	if (!memcmp(&c, &was, sizeof(c)))
		return live;
	lockfd = lock_nb(pin_dir);
	if (lockfd < 0)
		return live;     /* the next round */
	if (!bpf_map_lookup_elem(m->fd[MAP_TRACE], &k, &c)) {
		live = sweep_ctl(&c);
		bpf_map_update_elem(m->fd[MAP_TRACE], &k, &c, BPF_ANY);
		log_info("trace: gave back the ring of a tracer that is gone (%d still tracing)", live);
	}
	pins_unlock(lockfd);
	return live;
}

/* ---- the tracer ---------------------------------------------------------------------------- */

struct pod_name {
	__u64 cookie;
	char name[NAME_MAX + 1];
};

struct seen_pod {
	__u64 cookie;
	__u32 flags;
	bool announced;           /* known at the start, or a "meshed" line said it */
	bool pending;             /* new this round: said next round unless BPF says it */
};

struct tracer {
	const struct trace_opts *o;
	const struct shunt_maps *m;
	__u64 pod_cookie;
	__s64 mono_to_real_ns;
	__u64 started_ns;         /* events before this (a dead tracer's leftovers) are skipped */
	struct pod_name *names;   /* netns cookie -> /run/netns name, learned as seen */
	size_t n_names;
	time_t names_scanned;
	char unnamed[32];
	unsigned long long shown;
	struct seen_pod *pods;    /* the workload map as last read, to tell meshed/unmeshed */
	size_t n_pods;
	bool pods_read;
	__u64 bpf_meshed[64];     /* cookies a BPF "meshed" event named since the last read */
	size_t n_bpf_meshed;
};

static const char *const kind_names[] = {
	[SHUNT_EV_OUTBOUND] = "outbound", [SHUNT_EV_INBOUND] = "inbound",
	[SHUNT_EV_ORIGDST] = "origdst",   [SHUNT_EV_FASTPATH] = "fastpath",
	[SHUNT_EV_MESHED] = "meshed",
};

static void name_add(struct tracer *t, __u64 cookie, const char *name)
{
	struct pod_name *g;

	for (size_t i = 0; i < t->n_names; i++)
		if (t->names[i].cookie == cookie)
			return;
	g = realloc(t->names, (t->n_names + 1) * sizeof(*g));
	if (!g)
		return;
	t->names = g;
	t->names[t->n_names].cookie = cookie;
	snprintf(t->names[t->n_names].name, sizeof(g->name), "%s", name);
	t->n_names++;
}

/* Learn the cookie of every /run/netns entry (at most every second: a pod without a name,
 * a process's own netns, asks again and again). */
static void names_scan(struct tracer *t)
{
	struct timespec now;
	struct dirent *de;
	DIR *d;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec == t->names_scanned)
		return;
	t->names_scanned = now.tv_sec;
	d = opendir("/run/netns");
	while (d && (de = readdir(d))) {
		char path[PATH_MAX];
		__u64 cookie;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/run/netns/%s", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0 && !workload_netns_cookie(fd, &cookie))
			name_add(t, cookie, de->d_name);
		if (fd >= 0)
			close(fd);
	}
	if (d)
		closedir(d);
}

/* The pod's name: its /run/netns entry, else netns:COOKIE. */
static const char *pod_name(struct tracer *t, __u64 cookie)
{
	if (!cookie)
		return "-";
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < t->n_names; i++)
			if (t->names[i].cookie == cookie)
				return t->names[i].name;
		if (!pass)
			names_scan(t);
	}
	snprintf(t->unnamed, sizeof(t->unnamed), "netns:%" PRIu64, (uint64_t)cookie);
	return t->unnamed;
}

static bool ip_set(const struct shunt_ip *ip)
{
	return ip->family != 0;
}

/* "-" when unknown, the address alone without a port */
static const char *endpoint(const struct shunt_ip *ip, __u16 port, char *buf, size_t len)
{
	if (!ip_set(ip))
		snprintf(buf, len, "-");
	else if (!port)
		report_ip_str(ip, buf, len);
	else
		report_ipport_str(ip, htons(port), buf, len);
	return buf;
}

static bool wanted(const struct tracer *t, const struct shunt_trace_event *ev)
{
	const struct trace_opts *o = t->o;
	const char *name = report_counter_name(ev->what);

	if (o->pod && ev->netns_cookie != t->pod_cookie)
		return false;
	if (o->port && ev->src_port != o->port && ev->dst_port != o->port && ev->orig_port != o->port)
		return false;
	if (o->addr && !report_ip_eq(&ev->src, &o->ip) && !report_ip_eq(&ev->dst, &o->ip) &&
	    !report_ip_eq(&ev->orig, &o->ip))
		return false;
	if (o->verdict && strncmp(name, o->verdict, strlen(o->verdict)))
		return false;
	return true;
}

static int on_event(void *ctx, void *data, size_t len)
{
	struct tracer *t = ctx;
	const struct shunt_trace_event *ev = data;
	char when[64], src[80], dst[80], orig[80], comm[17];
	__s64 real = (__s64)ev->ts_ns + t->mono_to_real_ns;
	time_t secs = (time_t)(real / 1000000000);
	struct tm tm;

	if (len < sizeof(*ev) || ev->ts_ns < t->started_ns)
		return 0;
	if (ev->kind == SHUNT_EV_MESHED && t->n_bpf_meshed < 64)
		t->bpf_meshed[t->n_bpf_meshed++] = ev->netns_cookie;
	if (!wanted(t, ev))
		return 0;
	localtime_r(&secs, &tm);
	snprintf(when, sizeof(when), "%02d:%02d:%02d.%06ld", tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (long)((real % 1000000000) / 1000));
	endpoint(&ev->src, ev->src_port, src, sizeof(src));
	endpoint(&ev->dst, ev->dst_port, dst, sizeof(dst));
	endpoint(&ev->orig, ev->orig_port, orig, sizeof(orig));
	memcpy(comm, ev->comm, 16);
	comm[16] = '\0';
	if (t->o->json) {
		struct jw w;

		jw_init(&w, stdout);
		jw_obj(&w);
		jw_kstr(&w, "time", when);
		jw_ku64(&w, "ts_ns", ev->ts_ns);
		jw_kstr(&w, "kind", ev->kind < 6 && kind_names[ev->kind] ? kind_names[ev->kind] : "?");
		jw_kstr(&w, "verdict", report_counter_name(ev->what));
		jw_kstr(&w, "pod", pod_name(t, ev->netns_cookie));
		jw_ku64(&w, "netns_cookie", ev->netns_cookie);
		jw_ku64(&w, "pid", ev->pid);
		jw_kstr(&w, "comm", comm);
		jw_ku64(&w, "uid", ev->uid);
		jw_kstr(&w, "src", src);
		jw_kstr(&w, "dst", dst);
		jw_kstr(&w, "orig", orig);
		jw_ku64(&w, "to_port", ev->to_port);
		jw_end(&w);
	} else {
		char who[48] = "-", to[16] = "";

		if (ev->pid && comm[0])
			snprintf(who, sizeof(who), "%u/%s uid %u", ev->pid, comm, ev->uid);
		else if (ev->pid)
			snprintf(who, sizeof(who), "%u uid %u", ev->pid, ev->uid);
		if (ev->to_port)
			snprintf(to, sizeof(to), " => :%u", ev->to_port);
		printf("%s %-8s %-20s %-28s %s -> %s orig %s%s %s\n", when,
		       ev->kind < 6 && kind_names[ev->kind] ? kind_names[ev->kind] : "?",
		       pod_name(t, ev->netns_cookie), who, src, dst, orig, to,
		       report_counter_name(ev->what));
	}
	t->shown++;
	return 0;
}

/* A line the programs did not write: a pod meshed or unmeshed by shunt run (pod-init, the
 * census, the config), seen as a change of the workload map. */
static void user_event(struct tracer *t, const char *kind, __u64 cookie, __u32 flags)
{
	char when[64], why[96] = "";
	struct timespec now;
	struct tm tm;

	if (t->o->pod && cookie != t->pod_cookie)
		return;
	if (t->o->addr || t->o->port || (t->o->verdict && strncmp(kind, t->o->verdict,
								   strlen(t->o->verdict))))
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	localtime_r(&now.tv_sec, &tm);
	snprintf(when, sizeof(when), "%02d:%02d:%02d.%06ld", tm.tm_hour, tm.tm_min, tm.tm_sec,
		 now.tv_nsec / 1000);
	snprintf(why, sizeof(why), "%s%s%s%s", flags & SHUNT_WL_POD_INIT ? "pod-init," : "",
		 flags & SHUNT_WL_SCANNED ? "scan," : "", flags & SHUNT_WL_AUTO ? "proxy-bind," : "",
		 flags & 0xff00 ? "config," : "");
	if (why[0])
		why[strlen(why) - 1] = '\0';
	if (t->o->json) {
		struct jw w;

		jw_init(&w, stdout);
		jw_obj(&w);
		jw_kstr(&w, "time", when);
		jw_kstr(&w, "kind", kind);
		jw_kstr(&w, "verdict", kind);
		jw_kstr(&w, "pod", pod_name(t, cookie));
		jw_ku64(&w, "netns_cookie", cookie);
		jw_kstr(&w, "why", why);
		jw_end(&w);
	} else
		printf("%s %-8s %-20s by %s\n", when, kind, pod_name(t, cookie), why[0] ? why : "-");
	t->shown++;
}

/* Diff the workload map against the last read: pods meshed and unmeshed since. */
static void watch_pods(struct tracer *t)
{
	struct seen_pod *now = NULL;
	size_t n = 0, cap = 0;
	__u64 key, next;
	void *prev = NULL;

	while (!bpf_map_get_next_key(t->m->fd[MAP_NETNS], prev, &next)) {
		struct shunt_workload wl;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(t->m->fd[MAP_NETNS], &key, &wl))
			continue;
		if (n == cap) {
			struct seen_pod *g = realloc(now, (cap = cap ? cap * 2 : 64) * sizeof(*g));

			if (!g)
				break;
			now = g;
		}
		now[n].cookie = key;
		now[n].flags = wl.flags;
		/* known from before: as it was; new: said next round, unless a BPF event (written
		 * just after the map update, maybe not read yet) says it by then */
		bool bpf_said = false, known = false;

		for (size_t i = 0; i < t->n_bpf_meshed; i++)
			bpf_said |= t->bpf_meshed[i] == key;
		now[n].announced = !t->pods_read || bpf_said;
		now[n].pending = t->pods_read && !bpf_said;
		for (size_t i = 0; i < t->n_pods && !known; i++) {
			if (t->pods[i].cookie != key)
				continue;
			known = true;
			now[n].announced = t->pods[i].announced || bpf_said;
			now[n].pending = false;
			if (t->pods[i].pending && !now[n].announced) {
				user_event(t, "meshed", key, wl.flags);
				now[n].announced = true;
			}
		}
		n++;
	}
	for (size_t i = 0; t->pods_read && i < t->n_pods; i++) {
		bool still = false;

		for (size_t j = 0; j < n && !still; j++)
			still = now[j].cookie == t->pods[i].cookie;
		if (!still && t->pods[i].announced)
			user_event(t, "unmeshed", t->pods[i].cookie, t->pods[i].flags);
	}
	free(t->pods);
	t->pods = now;
	t->n_pods = n;
	t->pods_read = true;
	t->n_bpf_meshed = 0;
}

static __u64 lost_total(const struct shunt_maps *m, __u32 ring)
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 *v, sum = 0;

	if (ncpu <= 0)
		return 0;
	v = calloc((size_t)ncpu, sizeof(*v));
	if (v && !bpf_map_lookup_elem(m->fd[MAP_TRLOST], &ring, v))
		for (int i = 0; i < ncpu; i++)
			sum += v[i];
	free(v);
	return sum;
}

int trace_run(const struct trace_opts *o)
{
	struct tracer t = { .o = o };
	struct shunt_trace_ctl c;
	struct ring_buffer *rb = NULL;
	struct shunt_maps m;
	struct timespec mono, real;
	sigset_t mask;
	__u32 k = 0, ring = SHUNT_TRACE_RINGS;
	__u64 lost0 = 0, lost_seen = 0;
	int lockfd, err, sfd = -1;
	__u32 me = (__u32)getpid();

	if (!pins_require_loaded(o->pin_dir))
		return -ENOENT;
	err = maps_open_pinned(&m, o->pin_dir);
	if (err)
		return err;
	t.m = &m;
	if (o->pod) {
		char path[PATH_MAX];

		err = maps_find_pod(&m, o->pod, &t.pod_cookie, path, sizeof(path));
		if (err) {
			log_err("trace: %s: %s", path, err == -ESRCH ? "not a meshed pod's netns" :
				strerror(-err));
			maps_close(&m);
			return err;
		}
	}
	/* Signals first: a Ctrl-C from here on still gives the ring back. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGPIPE);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);

	lockfd = pins_lock(o->pin_dir, false);
	if (lockfd < 0) {
		err = lockfd;
		goto out;
	}
	if (bpf_map_lookup_elem(m.fd[MAP_TRACE], &k, &c))
		memset(&c, 0, sizeof(c));
	sweep_ctl(&c);
	for (__u32 i = 0; i < SHUNT_TRACE_RINGS && ring == SHUNT_TRACE_RINGS; i++)
		if (!(c.active & (1u << i)))
			ring = i;
	if (ring == SHUNT_TRACE_RINGS) {
		pins_unlock(lockfd);
		log_err("trace: %d traces are running already (the most there can be); stop one",
			SHUNT_TRACE_RINGS);
		err = -EBUSY;
		goto out;
	}
	rb = ring_buffer__new(m.fd[MAP_RING0 + ring], on_event, &t, NULL);
	if (!rb) {
		err = -errno;
		pins_unlock(lockfd);
		log_err("trace: cannot map ring %u: %s", ring, strerror(-err));
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &real);
	t.started_ns = (__u64)mono.tv_sec * 1000000000ull + (__u64)mono.tv_nsec;
	t.mono_to_real_ns = ((__s64)real.tv_sec * 1000000000ll + real.tv_nsec) - (__s64)t.started_ns;
	lost0 = lost_seen = lost_total(&m, ring);
	c.pid[ring] = me;
	c.starttime[ring] = proc_starttime(me);
	c.active |= 1u << ring;
	err = bpf_map_update_elem(m.fd[MAP_TRACE], &k, &c, BPF_ANY) ? -errno : 0;
	pins_unlock(lockfd);
	if (err) {
		log_err("trace: cannot switch tracing on: %s", strerror(-err));
		goto out;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	watch_pods(&t);
	fprintf(stderr, "shunt: tracing %s (ring %u); Ctrl-C stops\n", o->pin_dir, ring);

	for (;;) {
		/* the programs write without waking us (BPF_RB_NO_WAKEUP): read every 100 ms */
		struct pollfd p[1] = { { sfd, POLLIN, 0 } };
		__u64 lost;

		if (poll(p, 1, 100) < 0 && errno != EINTR)
			break;
		ring_buffer__consume(rb);
		watch_pods(&t);
		lost = lost_total(&m, ring);
		if (lost != lost_seen) {
			fprintf(stderr, "shunt: trace: %" PRIu64 " events lost (the trace could not keep "
				"up; narrow it with --pod, --port, --addr, --verdict)\n",
				(uint64_t)(lost - lost_seen));
			lost_seen = lost;
		}
		if (p[0].revents & POLLIN)
			break;
	}
	ring_buffer__consume(rb);
	err = 0;

	/* Give the ring back (under the lock: another tracer may be starting). */
	lockfd = pins_lock(o->pin_dir, false);
	if (!bpf_map_lookup_elem(m.fd[MAP_TRACE], &k, &c) && c.pid[ring] == me) {
		c.active &= ~(1u << ring);
		c.pid[ring] = 0;
		c.starttime[ring] = 0;
		bpf_map_update_elem(m.fd[MAP_TRACE], &k, &c, BPF_ANY);
	}
	pins_unlock(lockfd);
	fprintf(stderr, "shunt: trace stopped: %llu events shown, %" PRIu64 " lost\n", t.shown,
		(uint64_t)(lost_seen - lost0));
out:
	ring_buffer__free(rb);
	if (sfd >= 0)
		close(sfd);
	free(t.names);
	free(t.pods);
	maps_close(&m);
	return err;
}
