// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* See explain.h. Each lookup below is one of bpf/shunt.bpf.h's, with its key built by the same
 * function (bpf/shunt_keys.h), through the pinned maps' fds. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "explain.h"
#include "jsonw.h"
#include "log.h"
#include "maps.h"
#include "pins.h"
#include "policy.h"
#include "report.h"
#include "shunt_decide.h"
#include "shunt_keys.h"

/* ADDR or ADDR:PORT or [ADDR6]:PORT or ADDR6 (port_out NULL: no port allowed). */
static int parse_endpoint(const char *s, struct shunt_ip *ip, __u16 *port_out)
{
	char buf[INET6_ADDRSTRLEN + 16], *port = NULL, *end;
	struct in6_addr a6;
	struct in_addr a4;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	if (buf[0] == '[') {
		char *close = strchr(buf, ']');

		if (!close)
			return -EINVAL;
		if (close[1] == ':')
			port = close + 1; /* where the digits are once the '[' is gone */
		else if (close[1])
			return -EINVAL;
		*close = '\0';
		memmove(buf, buf + 1, strlen(buf + 1) + 1 + (port ? strlen(close + 1) + 1 : 0));
	} else if (strchr(buf, ':') == strrchr(buf, ':') && strchr(buf, ':')) {
		port = strchr(buf, ':');
		*port++ = '\0';
	}
	memset(ip, 0, sizeof(*ip));
	if (inet_pton(AF_INET, buf, &a4) == 1) {
		ip->family = SHUNT_AF_INET;
		ip->addr[0] = a4.s_addr;
	} else if (inet_pton(AF_INET6, buf, &a6) == 1) {
		__u32 w[4];

		memcpy(w, &a6, 16);
		shunt_ip_set6(ip, w);   /* v4-mapped: the kernel's v4 path, as the programs key it */
	} else {
		return -EINVAL;
	}
	if (!port_out)
		return port ? -EINVAL : 0;
	if (!port || !*port)
		return -EINVAL;
	errno = 0;
	unsigned long p = strtoul(port, &end, 10);
	if (errno || *end || p == 0 || p > 65535)
		return -EINVAL;
	*port_out = (__u16)p;
	return 0;
}

static int port_listed(const struct shunt_maps *m, const struct shunt_cfg *cfg, __u64 owner,
		       __u32 slot, __u32 list, __u16 port)
{
	struct shunt_port_key k = { 0 };
	struct shunt_port_block b;

	shunt_port_key_of(&k, owner, slot, list, port);
	if (!(cfg->flags & SHUNT_CFG_PORTS(list)) || bpf_map_lookup_elem(m->fd[MAP_PORTS], &k, &b))
		return 0;
	return shunt_port_bit(&b, port);
}

static int cidr_listed(const struct shunt_maps *m, __u64 owner, __u32 slot, __u32 list,
		       const struct shunt_ip *ip)
{
	struct shunt_cidr_key k = { 0 };
	struct shunt_cidr_val v;

	shunt_cidr_key_of(&k, owner, slot, list, ip);
	return !bpf_map_lookup_elem(m->fd[MAP_CIDRS], &k, &v);
}

/* The live policy of owner, as shunt_owner_cfg reads it. */
static int owner_cfg(const struct shunt_maps *m, __u64 owner, struct shunt_cfg *cfg, __u32 *slot)
{
	struct shunt_state st;

	if (maps_read_state(m, owner, &st))
		return -ENOENT;
	*slot = st.active_slot & (SHUNT_SLOTS - 1);
	return maps_read_cfg(m, owner, *slot, cfg) ? -ENOENT : 0;
}

/* One sentence per rule, by the README's names (the counters of `shunt status`). */
/* What a verdict means, in a sentence (include/shunt/abi.h's list). */
static const char *rule_text(enum shunt_verdict v)
{
	static const char *const text[SHUNT_V_VERDICTS] = {
#define X(e, name, what) [e] = what,
		SHUNT_VERDICT_LIST(X)
#undef X
	};

	return (unsigned)v < SHUNT_V_VERDICTS ? text[v] : "?";
}

/* What explain found, for the printer. */
struct explained {
	const char *pod, *policy;
	__u64 cookie;
	enum shunt_verdict v;
	__u32 generation;
	struct shunt_ip dst;
	__u16 port, to_port;     /* host order */
	bool tcp_meshed, fast;
	int accel;
};

/* The finding, in text or (--json) one JSON object. */
static void explain_print(const struct explain_opts *o, const struct explained *x)
{
	char orig[INET6_ADDRSTRLEN + 8];

	report_ipport_str(&x->dst, htons(x->port), orig, sizeof(orig));
	if (o->json) {
		char to[INET6_ADDRSTRLEN + 8];
		struct shunt_ip lo = { .family = x->dst.family };
		struct jw w;

		/* redirected: to 127.0.0.1 / ::1 on the proxy's port, like iptables REDIRECT */
		if (x->dst.family == SHUNT_AF_INET)
			lo.addr[0] = htonl(0x7f000001);
		else
			lo.addr[3] = htonl(1);
		report_ipport_str(x->to_port ? &lo : &x->dst, htons(x->to_port ? x->to_port : x->port),
				  to, sizeof(to));
		jw_init(&w, stdout);
		jw_obj(&w);
		jw_kstr(&w, "pod", x->pod);
		jw_ku64(&w, "netns_cookie", x->cookie);
		jw_kbool(&w, "meshed", x->v != SHUNT_V_NOT_MESHED);
		jw_kstr(&w, "policy",
			x->v == SHUNT_V_NOT_MESHED || x->v == SHUNT_V_NO_POLICY ? "" : x->policy);
		jw_kstr(&w, "verdict", report_counter_name(x->v));
		jw_kstr(&w, "rule", rule_text(x->v));
		jw_kbool(&w, "redirected", x->to_port);
		jw_kstr(&w, "to", to);
		if (x->to_port)
			jw_kstr(&w, "original_dst", orig);
		if (x->tcp_meshed) {
			jw_kbool(&w, "fast_path", x->fast);
			jw_kstr(&w, "acceleration_mode", config_accel_name(x->accel));
		}
		jw_end(&w);
	} else {
		printf("pod        %s\n", x->pod);
		if (x->cookie)
			printf("netns      cookie %llu\n", (unsigned long long)x->cookie);
		if (x->v != SHUNT_V_NOT_MESHED && x->v != SHUNT_V_NO_POLICY)
			printf("policy     %s, generation %u\n", x->policy, x->generation);
		printf("rule       %s: %s\n", report_counter_name(x->v), rule_text(x->v));
		if (x->to_port) {
			printf("goes to    %s:%u, the proxy's %s port\n",
			       x->dst.family == SHUNT_AF_INET ? "127.0.0.1" : "[::1]", x->to_port,
			       x->v == SHUNT_V_PROXY_TO_SELF ? "inbound" :
			       x->v == SHUNT_V_DNS ? "DNS" : "outbound");
			printf("the proxy  reads %s as the original destination (SO_ORIGINAL_DST%s)\n",
			       orig, x->v == SHUNT_V_DNS ? "; the reply is shown from it" : "");
		} else {
			printf("goes to    %s directly, untouched by shunt\n", orig);
		}
		if (x->tcp_meshed)
			printf("fast path  %s\n",
			       x->accel == CONFIG_ACCEL_OFF ? "off for this pod (acceleration: false)" :
			       x->accel == CONFIG_ACCEL_ALL && x->fast ?
					"on: its bytes to a peer on this node skip TCP/IP (acceleration; "
					"README: its known hazards)" :
			       x->accel == CONFIG_ACCEL_ALL ?
					"off: the peer is not on this node (not a meshed pod's address)" :
			       x->fast ? "on: the proxy's connection to another meshed pod of this "
					 "node skips TCP/IP (acceleration: proxy)" :
					 "off: acceleration: proxy takes only the proxy's connections "
					 "to another meshed pod of this node");
	}
}

int explain_outbound(const struct explain_opts *o)
{
	struct shunt_out_facts f = { 0 };
	struct shunt_cfg dcfg, cfg;
	struct shunt_workload wl;
	struct shunt_ip dst, src;
	struct shunt_maps m;
	enum shunt_verdict v;
	__u32 dslot, slot;
	__u64 cookie = 0, owner = SHUNT_OWNER_DEFAULT;
	char path[PATH_MAX], pod[PATH_MAX + 32];
	const char *policy = "node default";
	bool have_wl = false, tcp_meshed, fast = false;
	int accel;
	__u16 port, to_port;
	int err;

	if (parse_endpoint(o->dst, &dst, &port)) {
		log_err("explain: '%s' is not ADDR:PORT or [ADDR6]:PORT", o->dst);
		return -EINVAL;
	}
	if (o->src && parse_endpoint(o->src, &src, NULL)) {
		log_err("explain: source '%s' is not an address", o->src);
		return -EINVAL;
	}
	if (o->src && src.family != dst.family) {
		log_err("explain: source and destination are of different families");
		return -EINVAL;
	}
	if (!pins_require_loaded(o->pin_dir))
		return -ENOENT;
	err = maps_open_pinned(&m, o->pin_dir);
	if (err)
		return err;
	if (o->pod || o->pid) {
		if (o->pid) {
			snprintf(path, sizeof(path), "/proc/%d/ns/net", o->pid);
			err = maps_find_netns(&m, path, &cookie);
		} else {
			err = maps_find_pod(&m, o->pod, &cookie, path, sizeof(path));
		}
		if (err && err != -ESRCH) {
			log_err("explain: cannot open %s: %s", path, strerror(-err));
			maps_close(&m);
			return err;
		}
		have_wl = !err && !bpf_map_lookup_elem(m.fd[MAP_NETNS], &cookie, &wl);
		snprintf(pod, sizeof(pod), "%s", o->pid ? path : o->pod);
	} else {
		snprintf(pod, sizeof(pod), "(any meshed pod: no --pod)");
		memset(&wl, 0, sizeof(wl));
		wl.flags = SHUNT_WL_POD_INIT;
		have_wl = true;
	}

	/* shunt_outbound, step by step */
	f.dport = port;
	f.is_udp = o->udp;
	if (owner_cfg(&m, SHUNT_OWNER_DEFAULT, &dcfg, &dslot)) {
		v = SHUNT_V_NO_POLICY;
		goto decided;
	}
	if (f.is_udp && port != 53) {
		v = SHUNT_V_NOT_TCP;
		goto decided;
	}
	if (!have_wl || !shunt_workload_meshed(&dcfg, wl.flags, dslot)) {
		v = SHUNT_V_NOT_MESHED;
		goto decided;
	}
	if ((wl.flags & SHUNT_WL_OWN_POLICY) && !owner_cfg(&m, cookie, &cfg, &slot)) {
		owner = cookie;
		policy = wl.flags & SHUNT_WL_POLICY_FROM_CONFIG ? "its own (workloads: in the config)"
								 : "its own (pod-init)";
	} else {
		cfg = dcfg;
		slot = dslot;
	}
	if (f.is_udp && !(cfg.flags & SHUNT_CFG_DNS)) {
		v = SHUNT_V_NOT_TCP;
		goto decided;
	}
	shunt_proxy_identity(&cfg, o->proxy || (o->uid >= 0 && (__u32)o->uid == cfg.proxy_uid),
			     (cfg.flags & SHUNT_CFG_HAS_GID) &&
				     (o->proxy || (o->gid >= 0 && (__u32)o->gid == cfg.proxy_gid)),
			     o->proxy, &f.is_proxy_uid, &f.is_proxy_gid);
	if (o->src)
		f.src_is_passthrough = shunt_ip_is_passthrough(&src);
	f.dst_is_localhost = shunt_ip_is_localhost(&dst);
	f.dst_on_lo = shunt_ip_is_loopback(&dst);
	if (!f.dst_on_lo && cookie) {
		struct shunt_local_key lk = { .netns_cookie = cookie, .ip = dst };
		__u32 val;

		f.dst_on_lo = !bpf_map_lookup_elem(m.fd[MAP_LOCAL], &lk, &val);
	}
	f.port_excluded = port_listed(&m, &cfg, owner, slot, SHUNT_PORTS_OUT_EXCLUDE, port);
	f.port_included = port_listed(&m, &cfg, owner, slot, SHUNT_PORTS_OUT_INCLUDE, port);
	f.cidr_excluded = (cfg.flags & SHUNT_CFG_OUT_EXCLUDE_LIST) &&
			  cidr_listed(&m, owner, slot, SHUNT_CIDRS_OUT_EXCLUDE, &dst);
	f.cidr_included = (cfg.flags & SHUNT_CFG_OUT_INCLUDE_LIST) &&
			  cidr_listed(&m, owner, slot, SHUNT_CIDRS_OUT_INCLUDE, &dst);
	f.dns = port == SHUNT_DNS_PORT && (cfg.flags & SHUNT_CFG_DNS) &&
		((cfg.flags & SHUNT_CFG_DNS_ALL) || cidr_listed(&m, owner, slot, SHUNT_CIDRS_DNS_SERVERS, &dst));
	v = shunt_decide_outbound(&cfg, &f);

decided:
	to_port = v == SHUNT_V_NOT_MESHED || v == SHUNT_V_NOT_TCP || v == SHUNT_V_NO_POLICY ? 0 :
		  shunt_verdict_port(&cfg, v);
	/* sockops' gate (TCP only), on the socket the app ends up with: its peer is the proxy
	 * on loopback when redirected, the destination itself when not */
	tcp_meshed = v != SHUNT_V_NOT_MESHED && v != SHUNT_V_NO_POLICY && !o->udp;
	accel = wl.flags & SHUNT_WL_NO_ACCEL ? CONFIG_ACCEL_OFF : policy_accel_mode(cfg.flags);
	if (tcp_meshed) {
		struct shunt_accel_facts af = { 0 };
		__u64 peer_ns = 0;

		af.switched_off = accel == CONFIG_ACCEL_OFF;
		af.proxy_only = accel == CONFIG_ACCEL_PROXY;
		af.proxy_owned = o->proxy || (o->uid >= 0 && (__u32)o->uid == cfg.proxy_uid);
		af.peer_loopback = to_port || f.dst_on_lo;
		if (!af.peer_loopback && !bpf_map_lookup_elem(m.fd[MAP_PODIP], &dst, &peer_ns)) {
			af.peer_pod = 1;
			af.peer_same_pod = peer_ns == cookie;
		}
		fast = shunt_decide_accel(&af) == SHUNT_ACCEL_ON;
	}
	{
		const struct explained x = {
			.pod = pod, .cookie = cookie, .v = v, .policy = policy,
			.generation = cfg.generation, .dst = dst, .port = port, .to_port = to_port,
			.tcp_meshed = tcp_meshed, .fast = fast, .accel = accel,
		};

		explain_print(o, &x);
	}
	maps_close(&m);
	return 0;
}
