// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sk_lookup, one link per meshed pod netns: a connection arriving at a meshed pod's address
 * is handed to the proxy's inbound listener (from shunt_listen_v1) instead of the socket
 * the kernel would pick. No address is rewritten and no conntrack entry is made; the
 * proxy learns the original destination from the socket's own local address.
 * The proxy not listening (restart) refuses the connection rather than deliver it around
 * the proxy: fail-closed.
 */
#include "shunt.bpf.h"

/* shunt trace: one inbound decision (no process is current in sk_lookup). */
static __always_inline void shunt_trace_inbound(struct bpf_sk_lookup *ctx, __u64 netns,
						enum shunt_verdict v, const struct shunt_ip *src,
						const struct shunt_ip *dst, __u16 to_port)
{
	struct shunt_trace_ctl *c = shunt_tracing();

	if (c) {
		struct shunt_trace_event ev = {};

		ev.kind = SHUNT_EV_INBOUND;
		ev.what = (__u8)v;
		ev.netns_cookie = netns;
		ev.src = *src;
		ev.src_port = bpf_ntohs((__u16)ctx->remote_port);
		ev.dst = *dst;
		ev.dst_port = (__u16)ctx->local_port;
		ev.orig = *dst;
		ev.orig_port = ev.dst_port;
		ev.to_port = to_port;
		shunt_trace_out(c, &ev);
	}
}

SEC("sk_lookup")
int shunt_sk_lookup(struct bpf_sk_lookup *ctx)
{
	struct shunt_in_facts f = {};
	struct shunt_ip dst = {}, src = {};
	struct shunt_local_key lk = {};
	const struct shunt_cfg *cfg;
	struct shunt_workload *wl;
	enum shunt_verdict v;
	struct bpf_sock *sk;
	struct shunt_polref ref = {};
	__u64 *netns, lkey;
	long err;

	if (ctx->protocol != SHUNT_IPPROTO_TCP)
		return SK_PASS;
	if (ctx->family == SHUNT_AF_INET) {
		shunt_ip_set4(&dst, ctx->local_ip4);
		shunt_ip_set4(&src, ctx->remote_ip4);
	} else {
		__u32 l[4] = { ctx->local_ip6[0], ctx->local_ip6[1], ctx->local_ip6[2],
			       ctx->local_ip6[3] };
		__u32 r[4] = { ctx->remote_ip6[0], ctx->remote_ip6[1], ctx->remote_ip6[2],
			       ctx->remote_ip6[3] };

		shunt_ip_set6(&dst, l);
		shunt_ip_set6(&src, r);
	}
	/* Which pod: the destination is one of its addresses (loopback is nobody's). */
	netns = bpf_map_lookup_elem(&shunt_podip_v1, &dst);
	if (!netns)
		return SK_PASS;
	wl = bpf_map_lookup_elem(&shunt_netns_v1, netns);
	cfg = shunt_meshed_cfg(*netns, wl, &ref, &v);
	if (!cfg)
		return SK_PASS;

	f.dport = (__u16)ctx->local_port;     /* host order */
	lk.netns_cookie = *netns;
	lk.ip = src;
	/* The pod talking to itself (app -> own IP, the proxy's 127.0.0.6 passthrough) is
	 * on lo under iptables and never reaches PREROUTING; ingress_ifindex cannot tell. */
	f.src_is_local = shunt_ip_is_loopback(&src) || shunt_ip_is_passthrough6(&src) ||
			 bpf_map_lookup_elem(&shunt_local_v1, &lk);
	f.port_excluded = shunt_port_listed(cfg, &ref, SHUNT_PORTS_IN_EXCLUDE, f.dport);
	f.port_included = shunt_port_listed(cfg, &ref, SHUNT_PORTS_IN_INCLUDE, f.dport);
	f.src_excluded = (cfg->flags & SHUNT_CFG_IN_EXCLUDE_SRC_LIST) &&
			 shunt_cidr_listed(&ref, SHUNT_CIDRS_IN_EXCLUDE_SRC, &src);
	v = shunt_decide_inbound(cfg, &f);
	if (v != SHUNT_V_IN_STEERED) {
		shunt_count(v);
		shunt_trace_inbound(ctx, *netns, v, &src, &dst, 0);
		return SK_PASS;
	}

	/* The listener of the connection's family; for IPv4 without one, the IPv6 listener
	 * (a dual-stack [::] socket takes IPv4 too; a v6-only one fails the assign below). */
	lkey = *netns;
	if (ctx->family == SHUNT_AF_INET6)
		lkey |= SHUNT_LISTEN_V6;
	sk = bpf_map_lookup_elem(&shunt_listen_v1, &lkey);
	if (!sk && ctx->family == SHUNT_AF_INET) {
		lkey |= SHUNT_LISTEN_V6;
		sk = bpf_map_lookup_elem(&shunt_listen_v1, &lkey);
	}
	if (!sk) {
		shunt_count(SHUNT_V_IN_NO_LISTENER);
		shunt_trace_inbound(ctx, *netns, SHUNT_V_IN_NO_LISTENER, &src, &dst, 0);
		return SK_DROP;
	}
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	if (err) {
		/* e.g. an IPv6-only listener for an IPv4 connection */
		shunt_count(SHUNT_V_IN_NO_LISTENER);
		shunt_trace_inbound(ctx, *netns, SHUNT_V_IN_NO_LISTENER, &src, &dst, 0);
		return SK_DROP;
	}
	shunt_count(SHUNT_V_IN_STEERED);
	shunt_trace_inbound(ctx, *netns, SHUNT_V_IN_STEERED, &src, &dst, cfg->inbound_port);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
