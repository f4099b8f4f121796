/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The outbound capture decision, istio-iptables' ISTIO_OUTPUT chain as one pure function.
 * The BPF program gathers the facts (map lookups, uid, addresses) and calls this; the unit
 * tests call it on the host with the same facts. Keep it free of helpers and maps.
 *
 * Needs __u16/__u32, struct shunt_cfg and enum shunt_verdict in scope (include/shunt/abi.h).
 */
#ifndef SHUNT_DECIDE_H
#define SHUNT_DECIDE_H

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* What the connect (or UDP sendmsg) hook knows about one outbound connection. */
struct shunt_out_facts {
	__u16 dport;             /* host order */
	__u8  is_proxy_uid;      /* current uid == proxy.uid */
	__u8  is_proxy_gid;      /* proxy.gid set and current gid == proxy.gid */
	__u8  src_is_passthrough;/* socket bound to 127.0.0.6 / ::6 */
	__u8  dst_on_lo;         /* dst routes via lo: loopback range or an address of this pod */
	__u8  dst_is_localhost;  /* dst is exactly 127.0.0.1 / ::1 */
	__u8  port_excluded;     /* dport in outbound.exclude_ports */
	__u8  port_included;     /* dport in outbound.include_ports */
	__u8  cidr_excluded;     /* dst in outbound.exclude_cidrs */
	__u8  cidr_included;     /* dst in outbound.include_cidrs (list form) */
	__u8  is_udp;            /* UDP (only port 53 with dns.capture gets this far) */
	__u8  dns;               /* port 53 to a captured server (dns.servers, or all) */
};

/* Who is the proxy. istio-iptables can only say "uid U" / "gid G", so any process of the
 * pod running as U walks around the proxy. With proxy.cgroup the identity is also (or only)
 * the proxy container's cgroup, which an app container cannot enter. */
static __always_inline void
shunt_proxy_identity(const struct shunt_cfg *cfg, __u8 uid_match, __u8 gid_match, __u8 cgroup_match,
		     __u8 *is_uid, __u8 *is_gid)
{
	*is_uid = uid_match;
	*is_gid = gid_match;
	if (!(cfg->flags & SHUNT_CFG_PROXY_CGROUP))
		return;
	if (cfg->flags & SHUNT_CFG_CGROUP_ONLY) {
		*is_uid = cgroup_match;
		*is_gid = 0;
		return;
	}
	*is_uid = uid_match && cgroup_match;
	*is_gid = gid_match && cgroup_match;
}

/* The three-rule owner block istio-iptables writes once for the uid and once for the gid:
 * own pod IP / lo (TCP, not 127.0.0.1, not the tunnel port) -> inbound; other lo traffic of
 * everybody else -> direct; everything else of the owner -> direct. With DNS capture the
 * first rule of the uid block skips port 53 and the second is TCP but port 53 only
 * (SetupDNSRedir's "-p tcp ! --dport 53"), so an app's DNS to a server on lo is captured.
 * Returns SHUNT_V_VERDICTS when the block does not decide. */
static __always_inline enum shunt_verdict
shunt_owner_block(const struct shunt_cfg *cfg, const struct shunt_out_facts *f, __u8 is_owner,
		  int uid_block)
{
	int dns = cfg->flags & SHUNT_CFG_DNS;

	/* Linkerd's proxy-init: "-m owner --uid-owner U -j RETURN" then "-o lo -j RETURN". */
	if (cfg->flags & SHUNT_CFG_LINKERD) {
		if (is_owner)
			return SHUNT_V_PROXY_OWNER;
		if (f->dst_on_lo)
			return SHUNT_V_APP_LOOPBACK;
		return SHUNT_V_VERDICTS;
	}
	if (f->dst_on_lo && !f->dst_is_localhost && (!cfg->tunnel_port || f->dport != cfg->tunnel_port) &&
	    is_owner && !f->is_udp && !(dns && uid_block && f->dport == SHUNT_DNS_PORT))
		return SHUNT_V_PROXY_TO_SELF;
	if (f->dst_on_lo && !is_owner && !(cfg->flags & SHUNT_CFG_LOOPBACK_INCLUDED) &&
	    (!dns || (!f->is_udp && f->dport != SHUNT_DNS_PORT)))
		return SHUNT_V_APP_LOOPBACK;
	if (is_owner)
		return SHUNT_V_PROXY_OWNER;
	return SHUNT_V_VERDICTS;
}

/* Rule order and precedence of istio-iptables (pkg/capture/run.go), first match wins:
 * exclude port > 127.0.0.6 passthrough > uid block > gid block > DNS (ISTIO_OUTPUT_DNS)
 * > 127.0.0.1 > exclude CIDR > include port > include CIDR > direct. UDP stops after DNS:
 * the REDIRECTs after it are TCP only. istio-iptables appends the
 * exclude-CIDR RETURNs before the include-port REDIRECTs ("exclusions ... must be applied
 * before inclusions"), so an excluded destination stays direct on an included port. */
static __always_inline enum shunt_verdict
shunt_decide_outbound(const struct shunt_cfg *cfg, const struct shunt_out_facts *f)
{
	enum shunt_verdict v;

	if (f->port_excluded)
		return SHUNT_V_EXCLUDE_PORT;
	if (f->dst_on_lo && f->src_is_passthrough)
		return SHUNT_V_PASSTHROUGH_SRC;
	v = shunt_owner_block(cfg, f, f->is_proxy_uid, 1);
	if (v != SHUNT_V_VERDICTS)
		return v;
	if (cfg->flags & SHUNT_CFG_HAS_GID) {
		v = shunt_owner_block(cfg, f, f->is_proxy_gid, 0);
		if (v != SHUNT_V_VERDICTS)
			return v;
	}
	if (f->dns)
		return SHUNT_V_DNS;
	if (f->is_udp)
		return SHUNT_V_NOT_TCP;
	if (f->dst_is_localhost)
		return SHUNT_V_LOCALHOST;
	if (f->cidr_excluded)
		return SHUNT_V_EXCLUDE_CIDR;
	if (f->port_included)
		return SHUNT_V_INCLUDE_PORT;
	if ((cfg->flags & SHUNT_CFG_OUT_ALL_CIDRS) || f->cidr_included)
		return SHUNT_V_INCLUDE_CIDR;
	return SHUNT_V_NOT_INCLUDED;
}

/* Which port a verdict sends the connection to; 0 = leave it alone. */
static __always_inline __u16
shunt_verdict_port(const struct shunt_cfg *cfg, enum shunt_verdict v)
{
	switch (v) {
	case SHUNT_V_PROXY_TO_SELF:
		return cfg->inbound_port;
	case SHUNT_V_INCLUDE_PORT:
	case SHUNT_V_INCLUDE_CIDR:
		return cfg->outbound_port;
	case SHUNT_V_DNS:
		return cfg->dns_port;
	default:
		return 0;
	}
}

/* What the sk_lookup hook knows about one incoming connection to a meshed pod. */
struct shunt_in_facts {
	__u16 dport;             /* host order */
	__u8  src_is_local;      /* source is loopback, ::6 or an address of this pod */
	__u8  port_excluded;     /* dport in inbound.exclude_ports */
	__u8  port_included;     /* dport in inbound.include_ports (list form) */
	__u8  src_excluded;      /* source in inbound.exclude_source_cidrs */
	__u8  pad[2];
};

/* istio-iptables' ISTIO_INBOUND (PREROUTING): tunnel port first, then the exclusions, then
 * "*" or the include list. Traffic that starts inside the pod never passes PREROUTING
 * under iptables (it is on lo): here that is the local-source exemption, which also covers
 * the proxy's 127.0.0.6 passthrough leg. */
static __always_inline enum shunt_verdict
shunt_decide_inbound(const struct shunt_cfg *cfg, const struct shunt_in_facts *f)
{
	if (cfg->tunnel_port && f->dport == cfg->tunnel_port)
		return SHUNT_V_IN_TUNNEL;
	if (f->src_is_local)
		return SHUNT_V_IN_LOCAL_SRC;
	/* proxy-init puts its port RETURNs before its subnet RETURNs; both only exempt */
	if (f->src_excluded)
		return SHUNT_V_IN_EXCLUDE_SRC;
	if (cfg->flags & SHUNT_CFG_IN_ALL_PORTS)
		return f->port_excluded ? SHUNT_V_IN_EXCLUDE_PORT : SHUNT_V_IN_STEERED;
	return f->port_included ? SHUNT_V_IN_STEERED : SHUNT_V_IN_NOT_INCLUDED;
}

/* Meshed while the node default's slot `slot` is live: registered by pod-init, listed by
 * the config of that slot, or found by detection while the default allows detection. */
static __always_inline int
shunt_workload_meshed(const struct shunt_cfg *cfg, __u32 wl_flags, __u32 slot)
{
	if (wl_flags & (SHUNT_WL_POD_INIT | SHUNT_WL_EXPLICIT_SLOT(slot)))
		return 1;
	return (wl_flags & (SHUNT_WL_AUTO | SHUNT_WL_SCANNED)) &&
	       (cfg->flags & SHUNT_CFG_AUTO_DETECT);
}

/* What sockops knows about an established TCP socket of a meshed pod, for the fast path. */
struct shunt_accel_facts {
	__u8 switched_off;       /* acceleration: false in the pod's policy, or its workload's */
	__u8 proxy_only;         /* acceleration: proxy */
	__u8 proxy_owned;        /* the proxy owns the socket (sk_uid; inherited on accept) */
	__u8 peer_loopback;      /* the peer is on loopback: this pod (e.g. app <-> its proxy) */
	__u8 peer_pod;           /* the peer's address is a meshed pod's of this node */
	__u8 peer_same_pod;      /* ... and that pod is this one */
};

enum shunt_accel_verdict {
	SHUNT_ACCEL_OFF = 0,     /* switched off (counted fastpath_switched_off) */
	SHUNT_ACCEL_ELSEWHERE,   /* the peer is not on this node: never looked up, not counted */
	SHUNT_ACCEL_ON,          /* into the sockhash */
};

/* The fast path's gate. acceleration: proxy takes only the legs between the proxies of two
 * meshed pods of this node, so no app ever reads a redirected byte (README: the known
 * hazards are all the reader's); true takes any socket whose peer can be found here. */
static __always_inline enum shunt_accel_verdict
shunt_decide_accel(const struct shunt_accel_facts *f)
{
	if (f->switched_off)
		return SHUNT_ACCEL_OFF;
	if (f->proxy_only)
		return f->proxy_owned && !f->peer_loopback && f->peer_pod && !f->peer_same_pod ?
			SHUNT_ACCEL_ON : SHUNT_ACCEL_OFF;
	return f->peer_loopback || f->peer_pod ? SHUNT_ACCEL_ON : SHUNT_ACCEL_ELSEWHERE;
}

#endif /* SHUNT_DECIDE_H */
