// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* status, /metrics and /readyz: one snapshot of the pinned links and maps, rendered three ways. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cgroup.h"
#include "jsonw.h"
#include "log.h"
#include "maps.h"
#include "pins.h"
#include "policy.h"
#include "report.h"

static const char *const counter_names[SHUNT_COUNTERS] = {
#define X(e, name, what) [e] = name,
#define XC(e, name, metric, what) [e] = name,
	SHUNT_VERDICT_LIST(X) SHUNT_COUNTER_LIST(XC)
#undef X
#undef XC
};

/* Each counter's series (abi.h), and each family's help: one family per unit */
static const char *const counter_metrics[SHUNT_COUNTERS] = {
#define XC(e, name, metric, what) [e] = "shunt_" metric,
	SHUNT_COUNTER_LIST(XC)
#undef XC
};

static const struct {
	const char *family, *help;
} metric_families[] = {
	{ "shunt_so_original_dst_total", "SO_ORIGINAL_DST questions, by answer: answered from "
	  "the connection's entry, from a steered socket's local address, or unknown (the "
	  "kernel's own answer kept)." },
	{ "shunt_getpeername_restored_total", "An app's getpeername() shown the original "
	  "destination instead of the proxy's port." },
	{ "shunt_connections_tracked_total", "Redirected connections established, by whether "
	  "their entry went into the connection map." },
	{ "shunt_netns_auto_meshed_total", "Network namespaces meshed by their proxy's bind." },
	{ "shunt_fastpath_sockets_total", "Established sockets by what the fast path did: "
	  "added to the sockhash, kept off (acceleration), or insert failed (full)." },
	{ "shunt_fastpath_messages_total", "sendmsg() calls on fast-path sockets, by path: "
	  "redirected socket to socket, or a fallback to TCP and its reason." },
	{ "shunt_fastpath_redirected_bytes_total", "Bytes moved socket to socket by the fast "
	  "path." },
	{ "shunt_inbound_listeners_handed_over_total", "Proxy inbound listeners handed to the "
	  "pod's sk_lookup program." },
	{ "shunt_dns_replies_restored_total", "DNS replies of the proxy's agent shown as from "
	  "the server the app asked." },
};

static void metric_head(FILE *f, const char *name, const char *type, const char *help);

/* The counters of one family, "family{label} value" each. Marks those printed in done. */
static void metric_family(FILE *f, const char *family, const char *help, const __u64 *counters,
			  bool *done)
{
	size_t flen = strlen(family);

	metric_head(f, family, "counter", help);
	for (unsigned i = SHUNT_V_VERDICTS; i < SHUNT_COUNTERS; i++)
		if (!strncmp(counter_metrics[i], family, flen) &&
		    (counter_metrics[i][flen] == '\0' || counter_metrics[i][flen] == '{')) {
			fprintf(f, "%s %" PRIu64 "\n", counter_metrics[i], (uint64_t)counters[i]);
			done[i] = true;
		}
}

bool report_counter_known_prefix(const char *prefix)
{
	for (unsigned i = 0; i < SHUNT_COUNTERS; i++)
		if (counter_names[i] && !strncmp(counter_names[i], prefix, strlen(prefix)))
			return true;
	return false;
}

const char *report_counter_name(unsigned idx)
{
	return idx < SHUNT_COUNTERS && counter_names[idx] ? counter_names[idx] : "?";
}

const char *report_ip_str(const struct shunt_ip *ip, char *buf, size_t len)
{
	inet_ntop(ip->family == SHUNT_AF_INET ? AF_INET : AF_INET6, ip->addr, buf, (socklen_t)len);
	return buf;
}

const char *report_ipport_str(const struct shunt_ip *ip, __u16 port_n, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	report_ip_str(ip, a, sizeof(a));
	snprintf(buf, len, ip->family == SHUNT_AF_INET ? "%s:%u" : "[%s]:%u", a, ntohs(port_n));
	return buf;
}

bool report_ip_eq(const struct shunt_ip *a, const struct shunt_ip *b)
{
	return a->family == b->family && !memcmp(a->addr, b->addr, sizeof(a->addr));
}

static void time_str(__u64 realtime_ns, char *buf, size_t len)
{
	time_t t = (time_t)(realtime_ns / 1000000000ull);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

struct link_row {
	char name[256];
	char type[32];
	__u32 link_id, prog_id;
	__u64 cgroup_id, run_cnt, run_time_ns;
};

static const char *attach_type_str(__u32 t)
{
	const char *s = libbpf_bpf_attach_type_str((enum bpf_attach_type)t);

	return s ? s : "?";
}

/* The program links (shunt_*) into rows; the per-pod sk_lookup links are only counted. */
static int read_links(const char *pin_dir, struct link_row *rows, int max, int *n_pod_links)
{
	char dir[PATH_MAX], path[PATH_MAX + 256];
	struct dirent *de;
	DIR *d;
	int n = 0;

	pins_path(dir, sizeof(dir), pin_dir, SHUNT_PIN_LINKS, NULL);
	d = opendir(dir);
	if (!d)
		return -errno;
	*n_pod_links = 0;
	while ((de = readdir(d)) && n < max) {
		struct bpf_link_info li = { 0 };
		struct bpf_prog_info pi = { 0 };
		__u32 len = sizeof(li);
		int fd, pfd;

		if (de->d_name[0] == '.')
			continue;
		if (!strncmp(de->d_name, SHUNT_PIN_SK_LOOKUP_PREFIX, strlen(SHUNT_PIN_SK_LOOKUP_PREFIX))) {
			(*n_pod_links)++;
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &li, &len)) {
			struct link_row *r = &rows[n++];

			memset(r, 0, sizeof(*r));
			snprintf(r->name, sizeof(r->name), "%s", de->d_name);
			r->link_id = li.id;
			r->prog_id = li.prog_id;
			if (li.type == BPF_LINK_TYPE_CGROUP) {
				r->cgroup_id = li.cgroup.cgroup_id;
				snprintf(r->type, sizeof(r->type), "%s", attach_type_str(li.cgroup.attach_type));
			} else if (li.type == BPF_LINK_TYPE_NETNS) {
				snprintf(r->type, sizeof(r->type), "sk_lookup netns %u", li.netns.netns_ino);
			} else {
				/* a sockmap link: libbpf 1.1's headers do not name its info */
				snprintf(r->type, sizeof(r->type), "sk_msg_verdict");
			}
			pfd = bpf_prog_get_fd_by_id(li.prog_id);
			len = sizeof(pi);
			if (pfd >= 0 && !bpf_obj_get_info_by_fd(pfd, &pi, &len)) {
				r->run_cnt = pi.run_cnt;
				r->run_time_ns = pi.run_time_ns;
			}
			if (pfd >= 0)
				close(pfd);
		}
		close(fd);
	}
	closedir(d);
	return n;
}

/* The cgroup v2 directory whose id (its inode) is `id`, searched from `dir` down a few
 * levels; "" when not found. */
static bool cgroup_path(const char *dir, __u64 id, int depth, char *out, size_t len)
{
	struct dirent *de;
	struct stat st;
	bool found = false;
	DIR *d;

	if (!stat(dir, &st) && st.st_ino == id) {
		snprintf(out, len, "%s", dir);
		return true;
	}
	if (depth == 0 || !(d = opendir(dir)))
		return false;
	while (!found && (de = readdir(d))) {
		char sub[PATH_MAX];

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name) >= (int)sizeof(sub))
			continue;
		found = cgroup_path(sub, id, depth - 1, out, len);
	}
	closedir(d);
	return found;
}

static int cmp_rows(const void *a, const void *b)
{
	return strcmp(((const struct link_row *)a)->name, ((const struct link_row *)b)->name);
}

int report_open_live(const char *pin_dir, struct shunt_maps *m, struct shunt_state *st,
		      struct shunt_cfg *cfg)
{
	int err;

	if (!pins_require_loaded(pin_dir))
		return -ENOENT;
	err = maps_open_pinned(m, pin_dir);
	if (err)
		return err;
	err = maps_read_state(m, SHUNT_OWNER_DEFAULT, st);
	if (!err)
		err = maps_read_cfg(m, SHUNT_OWNER_DEFAULT, st->active_slot, cfg);
	if (err) {
		log_err("cannot read the policy state: %s", strerror(-err));
		maps_close(m);
	}
	return err;
}

/* The sk_msg program attached to the sockhash (which variant the loader chose), as a row:
 * on kernels without sockmap links (before 6.10) it is attached without a link, and would
 * otherwise be missing from the list. 0 when one is attached. */
static int sk_msg_row(int sockhash_fd, struct link_row *r)
{
	__u32 ids[4], cnt = 4, flags = 0;
	struct bpf_prog_info pi = { 0 };
	__u32 plen = sizeof(pi);
	int fd, err = -ENOENT;

	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "none");
	if (bpf_prog_query(sockhash_fd, BPF_SK_MSG_VERDICT, 0, &flags, ids, &cnt) || !cnt)
		return err;
	fd = bpf_prog_get_fd_by_id(ids[0]);
	if (fd < 0)
		return err;
	if (!bpf_obj_get_info_by_fd(fd, &pi, &plen)) {
		snprintf(r->name, sizeof(r->name), "%s", pi.name);
		snprintf(r->type, sizeof(r->type), "sk_msg_verdict");
		r->prog_id = pi.id;
		r->run_cnt = pi.run_cnt;
		r->run_time_ns = pi.run_time_ns;
		err = 0;
	}
	close(fd);
	return err;
}

static const char *sk_msg_how(const char *prog)
{
	if (!strcmp(prog, "shunt_sk_msg"))
		return "peer reads with bpf_rdonly_cast";
	if (!strcmp(prog, "shunt_sk_msg_pr"))
		return "peer reads with bpf_probe_read_kernel: this kernel has no bpf_rdonly_cast";
	return "not attached";
}

const char *report_policy_source(__u32 wl_flags)
{
	if (wl_flags & SHUNT_WL_POD_INIT)
		return "pod-init";
	if (wl_flags & SHUNT_WL_POLICY_FROM_CONFIG)
		return "config";
	return "?";
}


#define SNAP_LINKS   32
#define SNAP_SOURCES 4   /* pod-init, proxy-bind, scan, config */

/* Everything status, /metrics and /readyz say about a loaded shunt, gathered by one reader
 * (snapshot_read) so the three cannot disagree on what they read or how. */
struct snapshot {
	struct shunt_maps m;
	struct shunt_state st;
	struct shunt_cfg cfg;
	__u64 counters[SHUNT_COUNTERS];
	int counters_err;                 /* -errno: the counters are unknown */
	long entries[MAP_COUNT];          /* the labelled maps' (metrics); -1: not counted */
	__u32 capacity[MAP_COUNT];
	struct link_row links[SNAP_LINKS];/* by name; sk_msg's when attached without a link */
	int n_links, n_pod_links;
	char sk_msg[256];                 /* the sk_msg program on the sockhash, or "none" */
	struct own_policy *own;
	size_t n_own;
	__u64 by_source[SNAP_SOURCES];    /* workloads by how they were meshed */
};

struct own_policy *report_own_policies(const struct shunt_maps *m, size_t *n_out)
{
	struct own_policy *v = NULL;
	size_t n = 0, cap = 0;
	__u64 key, next;
	void *prev = NULL;

	while (!bpf_map_get_next_key(m->fd[MAP_NETNS], prev, &next)) {
		struct own_policy op = { .cookie = next };

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(m->fd[MAP_NETNS], &next, &op.wl) ||
		    !(op.wl.flags & SHUNT_WL_OWN_POLICY) ||
		    maps_read_state(m, next, &op.st) ||
		    maps_read_cfg(m, next, op.st.active_slot, &op.cfg))
			continue;
		if (n == cap) {
			struct own_policy *g = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*g));

			if (!g)
				break;
			v = g;
		}
		v[n++] = op;
	}
	*n_out = n;
	return v;
}

/* How a workload was meshed, for /metrics: the first flag that matches; else "config". */
static const struct {
	__u32 flag;
	const char *source;
} wl_sources[SNAP_SOURCES - 1] = {
	{ SHUNT_WL_POD_INIT, "pod-init" }, { SHUNT_WL_AUTO, "proxy-bind" },
	{ SHUNT_WL_SCANNED, "scan" },
};

static const char *wl_source_name(size_t s)
{
	return s < SNAP_SOURCES - 1 ? wl_sources[s].source : "config";
}

static void snapshot_free(struct snapshot *s)
{
	free(s->own);
	s->own = NULL;
	maps_close(&s->m);
}

/* Read once what status, /metrics and /readyz say about the shunt loaded at pin_dir: policy
 * state, links, and (full) the counters, the map sizes, the workloads and own policies. The
 * maps stay open (pod names are read from them) until snapshot_free. */
static int snapshot_read(const char *pin_dir, struct snapshot *s, bool full)
{
	struct link_row skrow;
	bool sk_msg_linked = false;
	__u64 key, next;
	void *prev = NULL;
	int err;

	memset(s, 0, sizeof(*s));
	err = report_open_live(pin_dir, &s->m, &s->st, &s->cfg);
	if (err)
		return err;
	s->n_links = read_links(pin_dir, s->links, SNAP_LINKS, &s->n_pod_links);
	if (s->n_links < 0)
		s->n_links = 0;
	if (!full)
		return 0;
	for (int i = 0; i < s->n_links; i++)
		sk_msg_linked |= !strcmp(s->links[i].type, "sk_msg_verdict");
	/* the row's name is the program's (the variant), not the pin's */
	if (!sk_msg_row(s->m.fd[MAP_SOCKS], &skrow) && !sk_msg_linked && s->n_links < SNAP_LINKS)
		s->links[s->n_links++] = skrow;   /* attached without a link (kernels before 6.10) */
	snprintf(s->sk_msg, sizeof(s->sk_msg), "%s", skrow.name);
	qsort(s->links, (size_t)s->n_links, sizeof(s->links[0]), cmp_rows);

	s->counters_err = maps_read_counters(&s->m, s->counters);
	/* only the maps /metrics labels: counting walks every key, and the CIDR and diffing
	 * maps can hold hundreds of thousands (status counts the CIDRs itself) */
	for (int i = 0; i < MAP_COUNT; i++) {
		s->entries[i] = shunt_maps_desc[i].label ?
			maps_count_entries(s->m.fd[i], shunt_maps_desc[i].key_size) : -1;
		s->capacity[i] = maps_max_entries(s->m.fd[i]);
	}
	while (!bpf_map_get_next_key(s->m.fd[MAP_NETNS], prev, &next)) {
		struct shunt_workload wl;
		size_t k;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(s->m.fd[MAP_NETNS], &next, &wl))
			continue;
		for (k = 0; k < SNAP_SOURCES - 1; k++)
			if (wl.flags & wl_sources[k].flag)
				break;
		s->by_source[k]++;
	}
	s->own = report_own_policies(&s->m, &s->n_own);
	return 0;
}

/* status --json: the snapshot as one JSON document. */
static void status_json(const struct snapshot *s, const char *pin_dir, const char *cgpath,
			const char *when)
{
	struct jw w;

	jw_init(&w, stdout);
	jw_obj(&w);
	jw_kbool(&w, "loaded", true);
	jw_kstr(&w, "pin_dir", pin_dir);
	jw_kstr(&w, "cgroup", cgpath);
	jw_ku64(&w, "abi_version", s->st.abi_version);
	jw_kobj(&w, "policy");
	jw_ku64(&w, "generation", s->st.generation);
	jw_ku64(&w, "slot", s->st.active_slot);
	jw_kstr(&w, "applied", when);
	jw_ku64(&w, "proxy_uid", s->cfg.proxy_uid);
	if (s->cfg.flags & SHUNT_CFG_HAS_GID)
		jw_ku64(&w, "proxy_gid", s->cfg.proxy_gid);
	else
		jw_knull(&w, "proxy_gid");
	jw_ku64(&w, "outbound_port", s->cfg.outbound_port);
	jw_ku64(&w, "inbound_port", s->cfg.inbound_port);
	jw_kbool(&w, "acceleration", s->cfg.flags & SHUNT_CFG_ACCELERATION);
	jw_kstr(&w, "acceleration_mode", config_accel_name(policy_accel_mode(s->cfg.flags)));
	jw_kbool(&w, "auto_detect", s->cfg.flags & SHUNT_CFG_AUTO_DETECT);
	jw_kbool(&w, "draining", s->cfg.flags & SHUNT_CFG_DRAIN);
	jw_end(&w);
	jw_karr(&w, "programs");
	for (int i = 0; i < s->n_links; i++) {
		jw_obj(&w);
		jw_kstr(&w, "name", s->links[i].name);
		jw_kstr(&w, "attach_type", s->links[i].type);
		jw_ku64(&w, "link_id", s->links[i].link_id);
		jw_ku64(&w, "prog_id", s->links[i].prog_id);
		jw_ku64(&w, "cgroup_id", s->links[i].cgroup_id);
		jw_ku64(&w, "run_cnt", s->links[i].run_cnt);
		jw_ku64(&w, "run_time_ns", s->links[i].run_time_ns);
		jw_end(&w);
	}
	jw_end(&w);
	jw_kstr(&w, "sk_msg_program", s->sk_msg);
	jw_ki64(&w, "sk_lookup_links", s->n_pod_links);
	jw_karr(&w, "own_policies");
	for (size_t i = 0; i < s->n_own; i++) {
		char pod[sizeof(struct shunt_podname) + 2];

		jw_obj(&w);
		jw_ku64(&w, "netns_cookie", s->own[i].cookie);
		jw_ku64(&w, "netns_ino", s->own[i].wl.netns_ino);
		if (!maps_podname(&s->m, s->own[i].cookie, pod, sizeof(pod)))
			jw_kstr(&w, "pod", pod);
		else
			jw_knull(&w, "pod");
		jw_kstr(&w, "source", report_policy_source(s->own[i].wl.flags));
		jw_ku64(&w, "generation", s->own[i].st.generation);
		jw_ku64(&w, "proxy_uid", s->own[i].cfg.proxy_uid);
		jw_ku64(&w, "outbound_port", s->own[i].cfg.outbound_port);
		jw_ku64(&w, "inbound_port", s->own[i].cfg.inbound_port);
		jw_kstr(&w, "acceleration_mode",
			config_accel_name(policy_accel_mode(s->own[i].cfg.flags)));
		jw_end(&w);
	}
	jw_end(&w);
	jw_kobj(&w, "entries");
	jw_ki64(&w, "workloads", s->entries[MAP_NETNS]);
	jw_ki64(&w, "connections", s->entries[MAP_CONN]);
	jw_ki64(&w, "original_destinations", s->entries[MAP_ODST]);
	jw_ki64(&w, "cidrs", s->entries[MAP_CIDRS]);
	jw_ki64(&w, "fastpath_sockets", s->entries[MAP_SOCKS]);
	jw_ki64(&w, "fastpath_addrs", s->entries[MAP_SKADDR]);
	jw_end(&w);
	jw_ku64(&w, "max_connections", s->capacity[MAP_CONN]);
	if (s->counters_err) {
		jw_knull(&w, "counters");   /* unknown, never a made-up 0 */
	} else {
		jw_kobj(&w, "counters");
		for (unsigned i = 0; i < SHUNT_COUNTERS; i++)
			jw_ku64(&w, report_counter_name(i), s->counters[i]);
		jw_end(&w);
	}
	jw_end(&w);
}

/* status: the snapshot for a person. */
static void status_text(const struct snapshot *s, const char *pin_dir, const char *cgpath,
			const char *when)
{
	printf("shunt loaded at %s (ABI %u)\n", pin_dir, s->st.abi_version);
	printf("policy:    generation %u in slot %u, applied %s\n", s->st.generation,
	       s->st.active_slot, when);
	printf("proxy:     uid %u", s->cfg.proxy_uid);
	if (s->cfg.flags & SHUNT_CFG_HAS_GID)
		printf(", gid %u", s->cfg.proxy_gid);
	printf(", outbound port %u, inbound port %u\n", s->cfg.outbound_port, s->cfg.inbound_port);
	printf("mesh:      %ld workloads meshed (auto-detect %s), acceleration %s\n",
	       s->entries[MAP_NETNS], s->cfg.flags & SHUNT_CFG_AUTO_DETECT ? "on" : "off",
	       !(s->cfg.flags & SHUNT_CFG_ACCELERATION) ? "off" :
	       s->cfg.flags & SHUNT_CFG_ACCEL_PROXY ? "proxy (between proxies only)" : "on");
	if (s->cfg.flags & SHUNT_CFG_DRAIN)
		printf("draining:  shunt uninstall: no new pod is meshed; unloaded once the "
		       "meshed ones are gone\n");
	{
		struct shunt_trace_ctl tc;
		__u32 tk = 0;
		int tracers = 0;

		if (!bpf_map_lookup_elem(s->m.fd[MAP_TRACE], &tk, &tc))
			tracers = __builtin_popcount(tc.active);
		printf("trace:     %s", tracers ? "on" : "off (no shunt trace running)\n");
		for (int i = 0; tracers && i < SHUNT_TRACE_RINGS; i++)
			if (tc.active & (1u << i))
				printf(", ring %d for pid %u", i, tc.pid[i]);
		if (tracers)
			printf("\n");
	}
	printf("own policy: %zu pods (the others follow the node policy)\n", s->n_own);
	for (size_t i = 0; i < s->n_own; i++) {
		char pod[sizeof(struct shunt_podname) + 8] = "";

		if (!maps_podname(&s->m, s->own[i].cookie, pod + 5, sizeof(pod) - 5))
			memcpy(pod, " pod ", 5);
		printf("  netns %-10" PRIu64 " ino %-11" PRIu64 "%s from %-8s generation %u: "
		       "uid %u, outbound port %u, inbound port %u, acceleration %s\n",
		       (uint64_t)s->own[i].cookie, (uint64_t)s->own[i].wl.netns_ino, pod,
		       report_policy_source(s->own[i].wl.flags), s->own[i].st.generation,
		       s->own[i].cfg.proxy_uid, s->own[i].cfg.outbound_port, s->own[i].cfg.inbound_port,
		       config_accel_name(policy_accel_mode(s->own[i].cfg.flags)));
	}
	printf("tracking:  %ld connections, %ld redirected sockets, %ld fast-path sockets "
	       "(room for %u each), %ld CIDR entries\n", s->entries[MAP_CONN], s->entries[MAP_ODST],
	       s->entries[MAP_SOCKS], s->capacity[MAP_CONN], s->entries[MAP_CIDRS]);
	if (cgpath[0])
		printf("cgroup:    %s\n", cgpath);
	printf("programs:\n");
	for (int i = 0; i < s->n_links; i++)
		printf("  %-20s %-24s link %-5u prog %-5u cgroup %" PRIu64 "\n", s->links[i].name,
		       s->links[i].type, s->links[i].link_id, s->links[i].prog_id,
		       (uint64_t)s->links[i].cgroup_id);
	printf("  %-20s %d pod network namespaces (inbound capture)\n", "sk_lookup", s->n_pod_links);
	printf("  %-20s on the sockhash: %s\n", s->sk_msg, sk_msg_how(s->sk_msg));
	printf("counters:%s\n", s->counters_err ? " unreadable" : "");
	for (unsigned i = 0; !s->counters_err && i < SHUNT_COUNTERS; i++)
		if (s->counters[i])
			printf("  %-28s %" PRIu64 "\n", report_counter_name(i),
			       (uint64_t)s->counters[i]);
}

int report_status(const char *pin_dir, bool json)
{
	struct snapshot snap;
	char when[64], cgpath[PATH_MAX] = "";
	int err;

	err = snapshot_read(pin_dir, &snap, true);
	if (err)
		return err;
	if (snap.counters_err)
		log_warn("cannot read the counters: %s", strerror(-snap.counters_err));
	snap.entries[MAP_CIDRS] = maps_count_entries(snap.m.fd[MAP_CIDRS],
						     shunt_maps_desc[MAP_CIDRS].key_size);
	time_str(snap.st.applied_ns, when, sizeof(when));
	for (int i = 0; i < snap.n_links && !cgpath[0]; i++) {
		char root[PATH_MAX];

		if (snap.links[i].cgroup_id && !cgroup2_root(root, sizeof(root)))
			cgroup_path(root, snap.links[i].cgroup_id, 6, cgpath, sizeof(cgpath));
	}
	if (json)
		status_json(&snap, pin_dir, cgpath, when);
	else
		status_text(&snap, pin_dir, cgpath, when);
	snapshot_free(&snap);
	return 0;
}

/* ---- Prometheus text format (shunt run --listen, /metrics) ------------------------------- */

static void metric_head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

int report_metrics(FILE *f, const char *pin_dir, const struct report_daemon_stats *ds)
{
	bool done[SHUNT_COUNTERS] = { false };
	struct snapshot snap;
	int err;

	err = snapshot_read(pin_dir, &snap, true);
	if (err)
		return err;
	if (snap.counters_err) {
		snapshot_free(&snap);
		return snap.counters_err;  /* a scrape fails rather than report made-up zeros */
	}
	metric_head(f, "shunt_build_info", "gauge", "The running shunt: version and map ABI.");
	fprintf(f, "shunt_build_info{version=\"%s\",abi=\"%u\"} 1\n", ds->version, SHUNT_ABI_VERSION);
	metric_head(f, "shunt_decisions_total", "counter",
		    "Connections decided by the BPF programs, by verdict (README: the rule order).");
	for (unsigned i = 0; i < SHUNT_V_VERDICTS; i++)
		fprintf(f, "shunt_decisions_total{verdict=\"%s\"} %" PRIu64 "\n",
			report_counter_name(i), (uint64_t)snap.counters[i]);
	for (size_t i = 0; i < sizeof(metric_families) / sizeof(metric_families[0]); i++)
		metric_family(f, metric_families[i].family, metric_families[i].help, snap.counters, done);
	for (unsigned i = SHUNT_V_VERDICTS; i < SHUNT_COUNTERS; i++)
		if (!done[i]) {
			/* a counter added to abi.h with a family nobody described: fail the scrape
			 * (and the tests) rather than drop it */
			log_err("/metrics: counter %s (%s) has no family in report.c", counter_names[i],
				counter_metrics[i]);
			snapshot_free(&snap);
			return -EPROTO;
		}

	metric_head(f, "shunt_pods_meshed", "gauge", "Pod network namespaces meshed, by how.");
	for (size_t k = 0; k < SNAP_SOURCES; k++)
		fprintf(f, "shunt_pods_meshed{source=\"%s\"} %" PRIu64 "\n", wl_source_name(k),
			(uint64_t)snap.by_source[k]);
	metric_head(f, "shunt_pod_policies", "gauge", "Pods with a policy of their own.");
	fprintf(f, "shunt_pod_policies %zu\n", snap.n_own);

	metric_head(f, "shunt_map_entries", "gauge", "Entries in shunt's maps.");
	for (int i = 0; i < MAP_COUNT; i++)     /* the maps abi.h's list labels */
		if (shunt_maps_desc[i].label)
			fprintf(f, "shunt_map_entries{map=\"%s\"} %ld\n", shunt_maps_desc[i].label,
				snap.entries[i]);
	metric_head(f, "shunt_map_capacity", "gauge", "Room in shunt's maps (max_entries).");
	for (int i = 0; i < MAP_COUNT; i++)
		if (shunt_maps_desc[i].label)
			fprintf(f, "shunt_map_capacity{map=\"%s\"} %u\n", shunt_maps_desc[i].label,
				snap.capacity[i]);

	metric_head(f, "shunt_policy_generation", "gauge", "Generation of the node policy in force.");
	fprintf(f, "shunt_policy_generation %u\n", snap.st.generation);
	metric_head(f, "shunt_policy_applied_timestamp_seconds", "gauge",
		    "When the node policy in force was applied (Unix time).");
	fprintf(f, "shunt_policy_applied_timestamp_seconds %.3f\n", (double)snap.st.applied_ns / 1e9);
	metric_head(f, "shunt_config_reloads_total", "counter",
		    "Configuration reloads by shunt run (SIGHUP or the file changed), by result.");
	fprintf(f, "shunt_config_reloads_total{result=\"applied\"} %" PRIu64 "\n",
		(uint64_t)__atomic_load_n(&ds->reloads_ok, __ATOMIC_RELAXED));
	fprintf(f, "shunt_config_reloads_total{result=\"refused\"} %" PRIu64 "\n",
		(uint64_t)__atomic_load_n(&ds->reloads_failed, __ATOMIC_RELAXED));
	metric_head(f, "shunt_pod_registrations_total", "counter",
		    "pod-init registrations served by shunt run, by result.");
	fprintf(f, "shunt_pod_registrations_total{result=\"meshed\"} %" PRIu64 "\n",
		(uint64_t)__atomic_load_n(&ds->registrations_ok, __ATOMIC_RELAXED));
	fprintf(f, "shunt_pod_registrations_total{result=\"refused\"} %" PRIu64 "\n",
		(uint64_t)__atomic_load_n(&ds->registrations_failed, __ATOMIC_RELAXED));
	metric_head(f, "shunt_cni_requests_total", "counter",
		    "CNI plugin requests (ADD, DEL, CHECK) served by shunt run, by result.");
	fprintf(f, "shunt_cni_requests_total{result=\"ok\"} %" PRIu64 "\n",
		(uint64_t)__atomic_load_n(&ds->cni_ok, __ATOMIC_RELAXED));
	fprintf(f, "shunt_cni_requests_total{result=\"failed\"} %" PRIu64 "\n",
		(uint64_t)__atomic_load_n(&ds->cni_failed, __ATOMIC_RELAXED));

	if (snap.n_links > 0) {
		metric_head(f, "shunt_program_runs_total", "counter",
			    "Runs of each attached program (counted while kernel.bpf_stats_enabled=1).");
		for (int i = 0; i < snap.n_links; i++)
			fprintf(f, "shunt_program_runs_total{program=\"%s\"} %" PRIu64 "\n",
				snap.links[i].name, (uint64_t)snap.links[i].run_cnt);
		metric_head(f, "shunt_program_run_seconds_total", "counter",
			    "Time spent in each attached program (while kernel.bpf_stats_enabled=1).");
		for (int i = 0; i < snap.n_links; i++)
			fprintf(f, "shunt_program_run_seconds_total{program=\"%s\"} %.9f\n",
				snap.links[i].name, (double)snap.links[i].run_time_ns / 1e9);
	}
	metric_head(f, "shunt_sk_lookup_links", "gauge", "Pod network namespaces with inbound capture.");
	fprintf(f, "shunt_sk_lookup_links %d\n", snap.n_pod_links);
	snapshot_free(&snap);
	return 0;
}

int report_ready(const char *pin_dir, char *why, size_t len)
{
	struct snapshot snap;
	int connect = 0;

	if (snapshot_read(pin_dir, &snap, false)) {
		snprintf(why, len, "shunt is not loaded at %s, or its maps are another version's",
			 pin_dir);
		return 0;
	}
	snapshot_free(&snap);
	for (int i = 0; i < snap.n_links; i++)
		connect += !strcmp(snap.links[i].name, "shunt_connect4") ||
			   !strcmp(snap.links[i].name, "shunt_connect6");
	if (connect != 2) {
		snprintf(why, len, "the connect programs are not attached (links under %s)", pin_dir);
		return 0;
	}
	if (!snap.st.generation) {
		snprintf(why, len, "no policy in force");
		return 0;
	}
	snprintf(why, len, "ready: policy generation %u", snap.st.generation);
	return 1;
}
