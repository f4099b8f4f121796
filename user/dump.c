// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* dump: every map decoded, as bpftool would show it if it knew shunt's types; --pod, --addr
 * and --port keep the rows about one pod, address or port. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <bpf/bpf.h>
#include "log.h"
#include "maps.h"
#include "policy.h"
#include "report.h"

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
	err = report_open_live(pin_dir, &m, &st, &cfg);
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
	own = report_own_policies(&m, &n_own);
	for (size_t i = 0; i < n_own; i++) {
		if (!pass_netns(f, own[i].cookie))
			continue;
		printf("policy of netns %" PRIu64 " (from %s, generation %u, slot %u):\n",
		       (uint64_t)own[i].cookie, report_policy_source(own[i].wl.flags), own[i].st.generation,
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
