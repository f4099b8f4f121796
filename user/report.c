// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* status and dump: read the pinned links and maps and print them decoded. */
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

void report_json_str(const char *s, size_t max)
{
	putchar('"');
	for (size_t i = 0; i < max && s[i]; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
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

/* The pinned maps of a loaded shunt, its state and the live slot's scalar policy. */
static int open_live(const char *pin_dir, struct shunt_maps *m, struct shunt_state *st,
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

/* Where a pod's own policy came from. */
static const char *policy_source(__u32 wl_flags)
{
	if (wl_flags & SHUNT_WL_POD_INIT)
		return "pod-init";
	if (wl_flags & SHUNT_WL_POLICY_FROM_CONFIG)
		return "config";
	return "?";
}

struct own_policy {
	__u64 cookie;
	struct shunt_workload wl;
	struct shunt_state st;
	struct shunt_cfg cfg;
};

/* The pods that have a policy of their own, with its live slot; *n_out of them. */
static struct own_policy *read_own_policies(const struct shunt_maps *m, size_t *n_out)
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

int report_status(const char *pin_dir, bool json)
{
	struct own_policy *own;
	size_t n_own = 0;
	struct link_row rows[32];
	struct shunt_maps m;
	struct shunt_state st;
	struct shunt_cfg cfg;
	__u64 counters[SHUNT_COUNTERS];
	long n_wl, n_conn, n_odst, n_cidr, n_socks, n_addrs;
	__u32 max_conns;
	char when[64], cgpath[PATH_MAX] = "";
	struct link_row skrow;
	const char *skmsg = skrow.name;
	bool sk_msg_linked = false;
	int n_links, n_pod_links = 0, err, cerr;

	err = open_live(pin_dir, &m, &st, &cfg);
	if (err)
		return err;
	cerr = maps_read_counters(&m, counters);
	if (cerr)
		log_warn("cannot read the counters: %s", strerror(-cerr));
	n_wl = maps_count_entries(m.fd[MAP_NETNS], sizeof(__u64));
	n_conn = maps_count_entries(m.fd[MAP_CONN], sizeof(struct shunt_tuple));
	n_odst = maps_count_entries(m.fd[MAP_ODST], sizeof(__u64));
	n_cidr = maps_count_entries(m.fd[MAP_CIDRS], sizeof(struct shunt_cidr_key));
	n_socks = maps_count_entries(m.fd[MAP_SOCKS], sizeof(struct shunt_tuple));
	n_addrs = maps_count_entries(m.fd[MAP_SKADDR], sizeof(struct shunt_tuple));
	max_conns = maps_max_entries(m.fd[MAP_CONN]);
	n_links = read_links(pin_dir, rows, 32, &n_pod_links);
	if (n_links < 0)
		n_links = 0;
	for (int i = 0; i < n_links; i++)
		sk_msg_linked |= !strcmp(rows[i].type, "sk_msg_verdict");
	/* the row's name is the program's (the variant), not the pin's */
	if (!sk_msg_row(m.fd[MAP_SOCKS], &skrow) && !sk_msg_linked && n_links < 32)
		rows[n_links++] = skrow;   /* attached without a link (kernels before 6.10) */
	qsort(rows, (size_t)n_links, sizeof(rows[0]), cmp_rows);
	time_str(st.applied_ns, when, sizeof(when));
	own = read_own_policies(&m, &n_own);
	for (int i = 0; i < n_links && !cgpath[0]; i++) {
		char root[PATH_MAX];

		if (rows[i].cgroup_id && !cgroup2_root(root, sizeof(root)))
			cgroup_path(root, rows[i].cgroup_id, 6, cgpath, sizeof(cgpath));
	}

	if (json) {
		printf("{\"loaded\":true,\"pin_dir\":");
		report_json_str(pin_dir, SIZE_MAX);
		printf(",\"cgroup\":");
		report_json_str(cgpath, SIZE_MAX);
		printf(",\"abi_version\":%u,", st.abi_version);
		printf("\"policy\":{\"generation\":%u,\"slot\":%u,\"applied\":\"%s\","
		       "\"proxy_uid\":%u,", st.generation, st.active_slot, when, cfg.proxy_uid);
		if (cfg.flags & SHUNT_CFG_HAS_GID)
			printf("\"proxy_gid\":%u,", cfg.proxy_gid);
		else
			printf("\"proxy_gid\":null,");
		printf("\"outbound_port\":%u,\"inbound_port\":%u,\"acceleration\":%s,"
		       "\"acceleration_mode\":\"%s\",\"auto_detect\":%s,\"draining\":%s},",
		       cfg.outbound_port, cfg.inbound_port,
		       cfg.flags & SHUNT_CFG_ACCELERATION ? "true" : "false",
		       config_accel_name(policy_accel_mode(cfg.flags)),
		       cfg.flags & SHUNT_CFG_AUTO_DETECT ? "true" : "false",
		       cfg.flags & SHUNT_CFG_DRAIN ? "true" : "false");
		printf("\"programs\":[");
		for (int i = 0; i < n_links; i++)
			printf("%s{\"name\":\"%s\",\"attach_type\":\"%s\",\"link_id\":%u,"
			       "\"prog_id\":%u,\"cgroup_id\":%" PRIu64 ",\"run_cnt\":%" PRIu64
			       ",\"run_time_ns\":%" PRIu64 "}",
			       i ? "," : "", rows[i].name, rows[i].type, rows[i].link_id,
			       rows[i].prog_id, (uint64_t)rows[i].cgroup_id, (uint64_t)rows[i].run_cnt,
			       (uint64_t)rows[i].run_time_ns);
		printf("],\"sk_msg_program\":\"%s\",\"sk_lookup_links\":%d", skmsg, n_pod_links);
		printf(",\"own_policies\":[");
		for (size_t i = 0; i < n_own; i++) {
			char pod[sizeof(struct shunt_podname) + 2], podj[2 * sizeof(pod) + 8] = "null";

			/* a name is [a-z0-9.-]: nothing to escape */
			if (!maps_podname(&m, own[i].cookie, pod, sizeof(pod)))
				snprintf(podj, sizeof(podj), "\"%s\"", pod);
			printf("%s{\"netns_cookie\":%" PRIu64 ",\"netns_ino\":%" PRIu64 ",\"pod\":%s"
			       ",\"source\":\"%s\",\"generation\":%u,\"proxy_uid\":%u,"
			       "\"outbound_port\":%u,\"inbound_port\":%u,\"acceleration_mode\":\"%s\"}",
			       i ? "," : "", (uint64_t)own[i].cookie, (uint64_t)own[i].wl.netns_ino, podj,
			       policy_source(own[i].wl.flags), own[i].st.generation,
			       own[i].cfg.proxy_uid, own[i].cfg.outbound_port, own[i].cfg.inbound_port,
			       config_accel_name(policy_accel_mode(own[i].cfg.flags)));
		}
		printf("]");
		printf(",\"entries\":{\"workloads\":%ld,\"connections\":%ld,"
		       "\"original_destinations\":%ld,\"cidrs\":%ld,\"fastpath_sockets\":%ld,"
		       "\"fastpath_addrs\":%ld},\"max_connections\":%u,\"counters\":", n_wl,
		       n_conn, n_odst, n_cidr, n_socks, n_addrs, max_conns);
		if (cerr)
			printf("null");  /* unknown, never a made-up 0 */
		for (unsigned i = 0; !cerr && i < SHUNT_COUNTERS; i++)
			printf("%s\"%s\":%" PRIu64, i ? "," : "{", report_counter_name(i),
			       (uint64_t)counters[i]);
		printf("%s}\n", cerr ? "" : "}");
	} else {
		printf("shunt loaded at %s (ABI %u)\n", pin_dir, st.abi_version);
		printf("policy:    generation %u in slot %u, applied %s\n", st.generation,
		       st.active_slot, when);
		printf("proxy:     uid %u", cfg.proxy_uid);
		if (cfg.flags & SHUNT_CFG_HAS_GID)
			printf(", gid %u", cfg.proxy_gid);
		printf(", outbound port %u, inbound port %u\n", cfg.outbound_port, cfg.inbound_port);
		printf("mesh:      %ld workloads meshed (auto-detect %s), acceleration %s\n", n_wl,
		       cfg.flags & SHUNT_CFG_AUTO_DETECT ? "on" : "off",
		       !(cfg.flags & SHUNT_CFG_ACCELERATION) ? "off" :
		       cfg.flags & SHUNT_CFG_ACCEL_PROXY ? "proxy (between proxies only)" : "on");
		if (cfg.flags & SHUNT_CFG_DRAIN)
			printf("draining:  shunt uninstall: no new pod is meshed; unloaded once the "
			       "meshed ones are gone\n");
		{
			struct shunt_trace_ctl tc;
			__u32 tk = 0;
			int tracers = 0;

			if (!bpf_map_lookup_elem(m.fd[MAP_TRACE], &tk, &tc))
				tracers = __builtin_popcount(tc.active);
			printf("trace:     %s", tracers ? "on" : "off (no shunt trace running)\n");
			for (int i = 0; tracers && i < SHUNT_TRACE_RINGS; i++)
				if (tc.active & (1u << i))
					printf(", ring %d for pid %u", i, tc.pid[i]);
			if (tracers)
				printf("\n");
		}
		printf("own policy: %zu pods (the others follow the node policy)\n", n_own);
		for (size_t i = 0; i < n_own; i++) {
			char pod[sizeof(struct shunt_podname) + 8] = "";

			if (!maps_podname(&m, own[i].cookie, pod + 5, sizeof(pod) - 5))
				memcpy(pod, " pod ", 5);
			printf("  netns %-10" PRIu64 " ino %-11" PRIu64 "%s from %-8s generation %u: "
			       "uid %u, outbound port %u, inbound port %u, acceleration %s\n",
			       (uint64_t)own[i].cookie, (uint64_t)own[i].wl.netns_ino, pod,
			       policy_source(own[i].wl.flags), own[i].st.generation,
			       own[i].cfg.proxy_uid, own[i].cfg.outbound_port, own[i].cfg.inbound_port,
			       config_accel_name(policy_accel_mode(own[i].cfg.flags)));
		}
		printf("tracking:  %ld connections, %ld redirected sockets, %ld fast-path sockets "
		       "(room for %u each), %ld CIDR entries\n", n_conn, n_odst, n_socks, max_conns,
		       n_cidr);
		if (cgpath[0])
			printf("cgroup:    %s\n", cgpath);
		printf("programs:\n");
		for (int i = 0; i < n_links; i++)
			printf("  %-20s %-24s link %-5u prog %-5u cgroup %" PRIu64 "\n", rows[i].name,
			       rows[i].type, rows[i].link_id, rows[i].prog_id,
			       (uint64_t)rows[i].cgroup_id);
		printf("  %-20s %d pod network namespaces (inbound capture)\n", "sk_lookup", n_pod_links);
		printf("  %-20s on the sockhash: %s\n", skmsg, sk_msg_how(skmsg));
		printf("counters:%s\n", cerr ? " unreadable" : "");
		for (unsigned i = 0; !cerr && i < SHUNT_COUNTERS; i++)
			if (counters[i])
				printf("  %-28s %" PRIu64 "\n", report_counter_name(i),
				       (uint64_t)counters[i]);
	}
	free(own);
	maps_close(&m);
	return 0;
}

/* A port list of one slot, folded into ranges. */
static void dump_ports(const struct shunt_maps *m, __u64 owner, __u32 slot, __u32 list,
		       const char *label, bool all)
{
	struct shunt_port_block blk[SHUNT_PORT_BLOCKS];
	bool have[SHUNT_PORT_BLOCKS];
	int first = 1;
	unsigned run = 0;

	printf("  %-24s ", label);
	if (all) {
		printf("*\n");
		return;
	}
	for (unsigned b = 0; b < SHUNT_PORT_BLOCKS; b++) {
		struct shunt_port_key k = { .owner = owner, .slot = (__u8)slot, .list = (__u8)list,
					    .block = (__u16)b };

		have[b] = !bpf_map_lookup_elem(m->fd[MAP_PORTS], &k, &blk[b]);
	}
	for (unsigned p = 1; p <= 65536; p++) {
		unsigned b = p / SHUNT_PORT_BLOCK_PORTS, bit = p % SHUNT_PORT_BLOCK_PORTS;
		bool on = p < 65536 && have[b] && ((blk[b].bits[bit / 64] >> (bit % 64)) & 1);

		if (on && !run)
			run = p;
		if (!on && run) {
			printf("%s%u", first ? "" : ",", run);
			if (p - 1 > run)
				printf("-%u", p - 1);
			first = 0;
			run = 0;
		}
	}
	printf("%s\n", first ? "-" : "");
}

static void dump_cidrs(int fd, __u64 owner, __u32 slot, __u32 list, const char *label, bool all)
{
	struct shunt_cidr_key key, next;
	void *prev = NULL;
	int first = 1;

	printf("  %-24s ", label);
	if (all)
		printf("*");
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		if (next.owner == owner && next.slot == slot && next.list == list) {
			char a[INET6_ADDRSTRLEN];

			inet_ntop(next.family == SHUNT_AF_INET ? AF_INET : AF_INET6, next.addr, a,
				  sizeof(a));
			printf("%s%s/%u", first && !all ? "" : ",", a,
			       next.prefixlen - SHUNT_CIDR_KEY_HDR_BITS);
			first = 0;
		}
		key = next;
		prev = &key;
	}
	printf("%s\n", first && !all ? "-" : "");
}

/* Every key of one owner's live policy, as the config would write it. */
static void dump_policy(const struct shunt_maps *m, __u64 owner, const struct shunt_state *st,
			const struct shunt_cfg *cfg)
{
	__u32 slot = st->active_slot;

	printf("  %-24s %u\n", "proxy.uid", cfg->proxy_uid);
	if (cfg->flags & SHUNT_CFG_HAS_GID)
		printf("  %-24s %u\n", "proxy.gid", cfg->proxy_gid);
	else
		printf("  %-24s -\n", "proxy.gid");
	printf("  %-24s %u\n  %-24s %u\n", "proxy.outbound_port", cfg->outbound_port,
	       "proxy.inbound_port", cfg->inbound_port);
	if (cfg->flags & SHUNT_CFG_PROXY_CGROUP)
		printf("  %-24s cgroup id %" PRIu64 " (identity %s)\n", "proxy.cgroup",
		       (uint64_t)cfg->proxy_cgroup_id,
		       cfg->flags & SHUNT_CFG_CGROUP_ONLY ? "cgroup" : "uid+cgroup");
	if (cfg->tunnel_port)
		printf("  %-24s %u\n", "proxy.tunnel_port", cfg->tunnel_port);
	else
		printf("  %-24s -\n", "proxy.tunnel_port");
	dump_cidrs(m->fd[MAP_CIDRS], owner, slot, SHUNT_CIDRS_OUT_INCLUDE,
		   "outbound.include_cidrs", cfg->flags & SHUNT_CFG_OUT_ALL_CIDRS);
	dump_cidrs(m->fd[MAP_CIDRS], owner, slot, SHUNT_CIDRS_OUT_EXCLUDE,
		   "outbound.exclude_cidrs", false);
	dump_ports(m, owner, slot, SHUNT_PORTS_OUT_INCLUDE, "outbound.include_ports", false);
	dump_ports(m, owner, slot, SHUNT_PORTS_OUT_EXCLUDE, "outbound.exclude_ports", false);
	dump_ports(m, owner, slot, SHUNT_PORTS_IN_INCLUDE, "inbound.include_ports",
		   cfg->flags & SHUNT_CFG_IN_ALL_PORTS);
	dump_ports(m, owner, slot, SHUNT_PORTS_IN_EXCLUDE, "inbound.exclude_ports", false);
	dump_cidrs(m->fd[MAP_CIDRS], owner, slot, SHUNT_CIDRS_IN_EXCLUDE_SRC,
		   "inbound.exclude_source_cidrs", false);
	printf("  %-24s %s\n  %-24s %s\n", "acceleration",
	       config_accel_name(policy_accel_mode(cfg->flags)), "mesh.flavor",
	       cfg->flags & SHUNT_CFG_LINKERD ? "linkerd" : "istio");
	if (cfg->flags & SHUNT_CFG_DNS) {
		printf("  %-24s true, to port %u\n", "dns.capture", cfg->dns_port);
		dump_cidrs(m->fd[MAP_CIDRS], owner, slot, SHUNT_CIDRS_DNS_SERVERS, "dns.servers",
			   cfg->flags & SHUNT_CFG_DNS_ALL);
	} else {
		printf("  %-24s false\n", "dns.capture");
	}
	if (owner == SHUNT_OWNER_DEFAULT)
		printf("  %-24s %s\n", "mesh.auto_detect",
		       cfg->flags & SHUNT_CFG_AUTO_DETECT ? "true" : "false");
}

/* Which inbound listeners of a pod sk_lookup holds: "v4", "v6", "v4+v6" or "no". */
static const char *listener_str(int fd, __u64 cookie)
{
	__u64 k6 = cookie | SHUNT_LISTEN_V6, sock;
	int v4 = !bpf_map_lookup_elem(fd, &cookie, &sock), v6 = !bpf_map_lookup_elem(fd, &k6, &sock);

	return v4 && v6 ? "v4+v6" : v4 ? "v4" : v6 ? "v6" : "no";
}

static void wl_flags_str(__u32 f, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s%s%s%s", f & SHUNT_WL_AUTO ? "auto," : "",
		 f & SHUNT_WL_SCANNED ? "scanned," : "",
		 f & SHUNT_WL_POD_INIT ? "pod-init," : "",
		 (f & SHUNT_WL_OWN_POLICY) && !(f & SHUNT_WL_POD_INIT) ? "own-policy," : "",
		 f & SHUNT_WL_EXPLICIT_SLOT(0) ? "config-slot0," : "",
		 f & SHUNT_WL_EXPLICIT_SLOT(1) ? "config-slot1," : "",
		 f & SHUNT_WL_NO_ACCEL ? "no-accel," : "");
	if (*buf)
		buf[strlen(buf) - 1] = '\0';
}

/* Does the filter let a row about this netns / address+port pairs through? A row passes a
 * filter it has nothing to say about only when it is not a per-connection row. */
static bool pass_netns(const struct report_filter *f, __u64 netns)
{
	return !f->pod || f->netns_cookie == netns;
}

static bool pass_endpoint(const struct report_filter *f, const struct shunt_ip *ip, __u16 port_n)
{
	return (!f->addr || report_ip_eq(ip, &f->ip)) && (!f->port || ntohs(port_n) == f->port);
}

int report_dump(const char *pin_dir, const struct report_filter *f)
{
	static const struct report_filter none = { 0 };
	struct shunt_maps m;
	struct shunt_state st;
	struct shunt_cfg cfg;
	struct own_policy *own;
	size_t n_own = 0;
	char a[128], b[128], c[128];
	int err;

	if (!f)
		f = &none;
	err = open_live(pin_dir, &m, &st, &cfg);
	if (err)
		return err;
	if (f->pod && f->pod_arg) {
		char what[PATH_MAX + 16];

		err = maps_find_pod(&m, f->pod_arg, &((struct report_filter *)f)->netns_cookie, what,
				    sizeof(what));
		if (err) {
			log_err("%s: %s", what, err == -ESRCH ? "not a meshed pod (shunt has no workload "
				"with that netns, or was not told that name)" : strerror(-err));
			maps_close(&m);
			return err;
		}
	}
	printf("policy (node default, generation %u, slot %u):\n", st.generation, st.active_slot);
	dump_policy(&m, SHUNT_OWNER_DEFAULT, &st, &cfg);
	own = read_own_policies(&m, &n_own);
	for (size_t i = 0; i < n_own; i++) {
		if (!pass_netns(f, own[i].cookie))
			continue;
		printf("policy of netns %" PRIu64 " (from %s, generation %u, slot %u):\n",
		       (uint64_t)own[i].cookie, policy_source(own[i].wl.flags), own[i].st.generation,
		       own[i].st.active_slot);
		dump_policy(&m, own[i].cookie, &own[i].st, &own[i].cfg);
	}
	free(own);

	printf("workloads (netns cookie, netns inode, why meshed, config index, inbound listener, "
	       "meshed for):\n");
	{
		__u64 key, next;
		void *prev = NULL;
		struct shunt_workload v;
		struct timespec now;

		clock_gettime(CLOCK_BOOTTIME, &now);
		while (!bpf_map_get_next_key(m.fd[MAP_NETNS], prev, &next)) {
			if (pass_netns(f, next) && !bpf_map_lookup_elem(m.fd[MAP_NETNS], &next, &v)) {
				__u64 age = ((__u64)now.tv_sec * 1000000000ull + (__u64)now.tv_nsec -
					     v.since_ns) / 1000000000ull;

				wl_flags_str(v.flags, a, sizeof(a));
				printf("  netns %-10" PRIu64 " ino %-11" PRIu64 " %-24s workload %-3u "
				       "listener %-5s %" PRIu64 "s\n", (uint64_t)next, (uint64_t)v.netns_ino,
				       a, v.workload_id,
				       listener_str(m.fd[MAP_LISTEN], next),
				       (uint64_t)age);
			}
			key = next;
			prev = &key;
		}
	}
	printf("pod addresses (netns cookie, address):\n");
	{
		struct shunt_local_key key, next;
		void *prev = NULL;

		while (!bpf_map_get_next_key(m.fd[MAP_LOCAL], prev, &next)) {
			if (pass_netns(f, next.netns_cookie) && (!f->addr || report_ip_eq(&next.ip, &f->ip)))
				printf("  netns %-12" PRIu64 " %s\n", (uint64_t)next.netns_cookie,
				       report_ip_str(&next.ip, a, sizeof(a)));
			key = next;
			prev = &key;
		}
	}
	/* keyed by the app socket's cookie: no netns to filter on */
	printf("redirected app sockets (socket cookie -> original destination)%s:\n",
	       f->pod ? " (not by pod: see the connections below)" : "");
	{
		__u64 key, next;
		void *prev = NULL;
		struct shunt_origdst v;

		while (!f->pod && !bpf_map_get_next_key(m.fd[MAP_ODST], prev, &next)) {
			if (!bpf_map_lookup_elem(m.fd[MAP_ODST], &next, &v) &&
			    pass_endpoint(f, &v.dst, v.dst_port))
				printf("  socket %-12" PRIu64 " -> %s (%s, generation %u)\n",
				       (uint64_t)next, report_ipport_str(&v.dst, v.dst_port, a, sizeof(a)),
				       report_counter_name(v.verdict), v.generation);
			key = next;
			prev = &key;
		}
	}
	printf("connections at the proxy (netns, proxy side <- app side -> original destination):\n");
	{
		struct shunt_tuple key, next;
		void *prev = NULL;
		struct shunt_origdst v;

		while (!bpf_map_get_next_key(m.fd[MAP_CONN], prev, &next)) {
			if (!bpf_map_lookup_elem(m.fd[MAP_CONN], &next, &v) &&
			    pass_netns(f, next.netns_cookie) &&
			    (pass_endpoint(f, &next.local, next.local_port) ||
			     pass_endpoint(f, &next.remote, next.remote_port) ||
			     pass_endpoint(f, &v.dst, v.dst_port)))
				printf("  netns %-12" PRIu64 " %s <- %s -> %s\n",
				       (uint64_t)next.netns_cookie,
				       report_ipport_str(&next.local, next.local_port, a, sizeof(a)),
				       report_ipport_str(&next.remote, next.remote_port, b, sizeof(b)),
				       report_ipport_str(&v.dst, v.dst_port, c, sizeof(c)));
			key = next;
			prev = &key;
		}
	}
	maps_close(&m);
	return 0;
}

/* ---- Prometheus text format (shunt run --listen, /metrics) ------------------------------- */

static void metric_head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

int report_metrics(FILE *f, const char *pin_dir, const struct report_daemon_stats *ds)
{
	static const struct {
		__u32 flag;
		const char *source;
	} sources[] = {
		{ SHUNT_WL_POD_INIT, "pod-init" }, { SHUNT_WL_AUTO, "proxy-bind" },
		{ SHUNT_WL_SCANNED, "scan" },
	};
	__u64 counters[SHUNT_COUNTERS], key, next, by_source[4] = { 0 };
	bool done[SHUNT_COUNTERS] = { false };
	struct link_row rows[32];
	struct shunt_maps m;
	struct shunt_state st;
	struct shunt_cfg cfg;
	size_t n_own = 0;
	void *prev = NULL;
	int err, n_links, n_pod_links = 0;

	err = open_live(pin_dir, &m, &st, &cfg);
	if (err)
		return err;
	err = maps_read_counters(&m, counters);
	if (err) {
		maps_close(&m);
		return err;      /* a scrape fails rather than report made-up zeros */
	}
	metric_head(f, "shunt_build_info", "gauge", "The running shunt: version and map ABI.");
	fprintf(f, "shunt_build_info{version=\"%s\",abi=\"%u\"} 1\n", ds->version, SHUNT_ABI_VERSION);
	metric_head(f, "shunt_decisions_total", "counter",
		    "Connections decided by the BPF programs, by verdict (README: the rule order).");
	for (unsigned i = 0; i < SHUNT_V_VERDICTS; i++)
		fprintf(f, "shunt_decisions_total{verdict=\"%s\"} %" PRIu64 "\n",
			report_counter_name(i), (uint64_t)counters[i]);
	for (size_t i = 0; i < sizeof(metric_families) / sizeof(metric_families[0]); i++)
		metric_family(f, metric_families[i].family, metric_families[i].help, counters, done);
	for (unsigned i = SHUNT_V_VERDICTS; i < SHUNT_COUNTERS; i++)
		if (!done[i]) {
			/* a counter added to abi.h with a family nobody described: fail the scrape
			 * (and the tests) rather than drop it */
			log_err("/metrics: counter %s (%s) has no family in report.c", counter_names[i],
				counter_metrics[i]);
			maps_close(&m);
			return -EPROTO;
		}

	while (!bpf_map_get_next_key(m.fd[MAP_NETNS], prev, &next)) {
		struct shunt_workload wl;
		size_t s;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(m.fd[MAP_NETNS], &next, &wl))
			continue;
		for (s = 0; s < sizeof(sources) / sizeof(sources[0]); s++)
			if (wl.flags & sources[s].flag)
				break;
		by_source[s]++;   /* s == 3: listed in the config */
	}
	metric_head(f, "shunt_pods_meshed", "gauge", "Pod network namespaces meshed, by how.");
	for (size_t s = 0; s < 4; s++)
		fprintf(f, "shunt_pods_meshed{source=\"%s\"} %" PRIu64 "\n",
			s < 3 ? sources[s].source : "config", (uint64_t)by_source[s]);
	free(read_own_policies(&m, &n_own));
	metric_head(f, "shunt_pod_policies", "gauge", "Pods with a policy of their own.");
	fprintf(f, "shunt_pod_policies %zu\n", n_own);

	metric_head(f, "shunt_map_entries", "gauge", "Entries in shunt's maps.");
	for (int i = 0; i < MAP_COUNT; i++)     /* the maps abi.h's list labels */
		if (shunt_maps_desc[i].label)
			fprintf(f, "shunt_map_entries{map=\"%s\"} %ld\n", shunt_maps_desc[i].label,
				maps_count_entries(m.fd[i], shunt_maps_desc[i].key_size));
	metric_head(f, "shunt_map_capacity", "gauge", "Room in shunt's maps (max_entries).");
	for (int i = 0; i < MAP_COUNT; i++)
		if (shunt_maps_desc[i].label)
			fprintf(f, "shunt_map_capacity{map=\"%s\"} %u\n", shunt_maps_desc[i].label,
				maps_max_entries(m.fd[i]));

	metric_head(f, "shunt_policy_generation", "gauge", "Generation of the node policy in force.");
	fprintf(f, "shunt_policy_generation %u\n", st.generation);
	metric_head(f, "shunt_policy_applied_timestamp_seconds", "gauge",
		    "When the node policy in force was applied (Unix time).");
	fprintf(f, "shunt_policy_applied_timestamp_seconds %.3f\n", (double)st.applied_ns / 1e9);
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

	n_links = read_links(pin_dir, rows, 32, &n_pod_links);
	if (n_links > 0) {
		metric_head(f, "shunt_program_runs_total", "counter",
			    "Runs of each attached program (counted while kernel.bpf_stats_enabled=1).");
		for (int i = 0; i < n_links; i++)
			fprintf(f, "shunt_program_runs_total{program=\"%s\"} %" PRIu64 "\n",
				rows[i].name, (uint64_t)rows[i].run_cnt);
		metric_head(f, "shunt_program_run_seconds_total", "counter",
			    "Time spent in each attached program (while kernel.bpf_stats_enabled=1).");
		for (int i = 0; i < n_links; i++)
			fprintf(f, "shunt_program_run_seconds_total{program=\"%s\"} %.9f\n",
				rows[i].name, (double)rows[i].run_time_ns / 1e9);
	}
	metric_head(f, "shunt_sk_lookup_links", "gauge", "Pod network namespaces with inbound capture.");
	fprintf(f, "shunt_sk_lookup_links %d\n", n_pod_links);
	maps_close(&m);
	return 0;
}

int report_ready(const char *pin_dir, char *why, size_t len)
{
	struct shunt_maps m;
	struct shunt_state st;
	struct shunt_cfg cfg;
	struct link_row rows[32];
	int n_links, n_pod_links = 0, connect = 0;

	if (open_live(pin_dir, &m, &st, &cfg)) {
		snprintf(why, len, "shunt is not loaded at %s, or its maps are another version's",
			 pin_dir);
		return 0;
	}
	maps_close(&m);
	n_links = read_links(pin_dir, rows, 32, &n_pod_links);
	for (int i = 0; i < n_links; i++)
		connect += !strcmp(rows[i].name, "shunt_connect4") || !strcmp(rows[i].name, "shunt_connect6");
	if (connect != 2) {
		snprintf(why, len, "the connect programs are not attached (links under %s)", pin_dir);
		return 0;
	}
	if (!st.generation) {
		snprintf(why, len, "no policy in force");
		return 0;
	}
	snprintf(why, len, "ready: policy generation %u", st.generation);
	return 1;
}
