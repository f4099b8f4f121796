// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Outbound capture: cgroup/connect4|6 send a meshed app's TCP connect to the proxy's
 * outbound port on localhost and remember where it was going; cgroup/getpeername4|6 show the
 * app that original destination again, as NAT would. DNS capture: port 53 (connect4|6 for
 * TCP and connected UDP, sendmsg4|6 for unconnected UDP) to the proxy's DNS agent, and
 * recvmsg4|6 show the agent's replies as from the server the app asked; cgroup/post_bind4|6 mesh a netns the
 * moment its proxy binds the outbound port, and mark the proxy's inbound socket so sockops
 * can hand it to sk_lookup when it listens; cgroup/sock_release forgets a released socket's
 * original destination.
 */
#include "shunt.bpf.h"

/* shunt trace: one outbound decision. */
static __always_inline void shunt_trace_outbound(__u64 netns, enum shunt_verdict v,
						 const struct shunt_ip *dst, __u16 dport, __u16 to_port)
{
	struct shunt_trace_ctl *c = shunt_tracing();

	if (c) {
		struct shunt_trace_event ev = {};

		ev.kind = SHUNT_EV_OUTBOUND;
		ev.what = (__u8)v;
		ev.netns_cookie = netns;
		ev.dst = *dst;
		ev.dst_port = dport;
		ev.to_port = to_port;
		if (to_port) {
			ev.orig = *dst;
			ev.orig_port = dport;
		}
		shunt_trace_task(&ev);
		shunt_trace_out(c, &ev);
	}
}

/* Gather the facts about this connect, decide, and record the original destination.
 * Returns the port to send the connection to (host order), 0 to leave it alone, or -1 to
 * refuse the connect (EPERM). */
static __always_inline int shunt_outbound(struct bpf_sock_addr *ctx, const struct shunt_ip *dst,
					    __u16 dport_n, int src_passthrough, int dst_loopback,
					    int dst_localhost)
{
	struct shunt_out_facts f = {};
	const struct shunt_cfg *cfg;
	struct shunt_workload *wl;
	struct shunt_origdst od = {};
	struct shunt_polref ref = {};
	enum shunt_verdict v;
	__u64 netns, cookie;
	__u16 port;

	f.dport = bpf_ntohs(dport_n);
	f.is_udp = ctx->type == SHUNT_SOCK_DGRAM && ctx->protocol == SHUNT_IPPROTO_UDP;
	if ((ctx->type != SHUNT_SOCK_STREAM || ctx->protocol != SHUNT_IPPROTO_TCP) &&
	    !(f.is_udp && f.dport == SHUNT_DNS_PORT)) {
		shunt_count(SHUNT_V_NOT_TCP);
		return 0;
	}
	netns = bpf_get_netns_cookie(ctx);
	wl = bpf_map_lookup_elem(&shunt_netns_v1, &netns);
	if (!wl) {
		shunt_count(SHUNT_V_NOT_MESHED);
		return 0;
	}
	cfg = shunt_meshed_cfg(netns, wl, &ref, &v);
	if (!cfg) {
		shunt_count(v);
		return 0;
	}
	if (f.is_udp && !(cfg->flags & SHUNT_CFG_DNS)) {
		shunt_count(SHUNT_V_NOT_TCP);
		return 0;
	}

	shunt_current_is_proxy(cfg, &f.is_proxy_uid, &f.is_proxy_gid);
	f.src_is_passthrough = src_passthrough;
	f.dst_is_localhost = dst_localhost;
	f.dst_on_lo = dst_loopback || shunt_ip_is_local(netns, dst);
	f.port_excluded = shunt_port_listed(cfg, &ref, SHUNT_PORTS_OUT_EXCLUDE, f.dport);
	f.port_included = shunt_port_listed(cfg, &ref, SHUNT_PORTS_OUT_INCLUDE, f.dport);
	f.cidr_excluded = (cfg->flags & SHUNT_CFG_OUT_EXCLUDE_LIST) &&
			  shunt_cidr_listed(&ref, SHUNT_CIDRS_OUT_EXCLUDE, dst);
	f.cidr_included = (cfg->flags & SHUNT_CFG_OUT_INCLUDE_LIST) &&
			  shunt_cidr_listed(&ref, SHUNT_CIDRS_OUT_INCLUDE, dst);
	f.dns = f.dport == SHUNT_DNS_PORT && (cfg->flags & SHUNT_CFG_DNS) &&
		((cfg->flags & SHUNT_CFG_DNS_ALL) ||
		 shunt_cidr_listed(&ref, SHUNT_CIDRS_DNS_SERVERS, dst));

	v = shunt_decide_outbound(cfg, &f);
	port = shunt_verdict_port(cfg, v);
	if (!port) {
		shunt_count(v);
		shunt_trace_outbound(netns, v, dst, f.dport, 0);
		return 0;
	}

	od.dst = *dst;
	od.dst_port = dport_n;
	od.verdict = v;
	od.generation = cfg->generation;
	cookie = bpf_get_socket_cookie(ctx);
	if (bpf_map_update_elem(&shunt_odst_v2, &cookie, &od, BPF_ANY)) {
		/* No room (the map is full: --max-connections). Without the destination the
		 * proxy could not forward, and direct would walk around it: refuse, as iptables
		 * drops a connection its conntrack table has no room for. */
		shunt_count(SHUNT_V_ORIGDST_FULL);
		shunt_trace_outbound(netns, SHUNT_V_ORIGDST_FULL, dst, f.dport, 0);
		return -1;
	}
	shunt_count(v);
	shunt_trace_outbound(netns, v, dst, f.dport, port);
	return port;
}

/* connect4 and UDP sendmsg4 (DNS): the same decision, the same rewrite. 0 refuses (EPERM). */
static __always_inline int shunt_addr4(struct bpf_sock_addr *ctx)
{
	struct shunt_ip dst = {};
	struct bpf_sock *sk = ctx->sk;
	__u32 daddr = ctx->user_ip4;
	int passthrough = sk && sk->src_ip4 == SHUNT_IP4_PASSTHROUGH;
	int loopback = (bpf_ntohl(daddr) >> 24) == 127;
	int port;

	shunt_ip_set4(&dst, daddr);
	port = shunt_outbound(ctx, &dst, (__u16)ctx->user_port, passthrough, loopback,
			      daddr == SHUNT_IP4_LOCALHOST);
	if (port < 0)
		return 0;
	if (port) {
		/* Like iptables REDIRECT in OUTPUT: locally generated -> 127.0.0.1. */
		ctx->user_ip4 = SHUNT_IP4_LOCALHOST;
		ctx->user_port = bpf_htons((__u16)port);
	}
	return 1;
}

SEC("cgroup/connect4")
int shunt_connect4(struct bpf_sock_addr *ctx)
{
	return shunt_addr4(ctx);
}

/* An unconnected UDP socket's datagram: only DNS (port 53) is ever looked at. */
SEC("cgroup/sendmsg4")
int shunt_sendmsg4(struct bpf_sock_addr *ctx)
{
	if (ctx->user_port != bpf_htons(SHUNT_DNS_PORT))
		return 1;
	return shunt_addr4(ctx);
}

static __always_inline int shunt_addr6(struct bpf_sock_addr *ctx)
{
	struct shunt_ip dst = {};
	struct bpf_sock *sk = ctx->sk;
	__u32 a[4] = { ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3] };
	int mapped = shunt_ip6_is_v4mapped(a);
	int passthrough = 0, loopback, localhost;
	int port;

	__u32 src[4] = {};

	if (sk) {
		/* One load per word at a constant offset: the verifier forbids arithmetic on
		 * a sock pointer, which a loop over src_ip6 can compile into. */
		src[0] = *(volatile __u32 *)&sk->src_ip6[0];
		src[1] = *(volatile __u32 *)&sk->src_ip6[1];
		src[2] = *(volatile __u32 *)&sk->src_ip6[2];
		src[3] = *(volatile __u32 *)&sk->src_ip6[3];
	}
	shunt_ip_set6(&dst, a);
	if (mapped) {
		/* A v6 socket talking IPv4 takes the v4 path in the kernel, without connect4. */
		loopback = (bpf_ntohl(a[3]) >> 24) == 127;
		localhost = a[3] == SHUNT_IP4_LOCALHOST;
		passthrough = src[3] == SHUNT_IP4_PASSTHROUGH && src[2] == bpf_htonl(0x0000ffff);
	} else {
		localhost = !a[0] && !a[1] && !a[2] && a[3] == bpf_htonl(1);
		/* ::6, the inbound passthrough address, is on lo in an Istio pod (istio-iptables
		 * adds it there): a connect to it leaves through lo, as 127.0.0.6 does, so the
		 * proxy's own connection to it is "to lo, not ::1" (istio-validation's IPv6 check) */
		loopback = localhost || (!a[0] && !a[1] && !a[2] && a[3] == bpf_htonl(6));
		passthrough = !src[0] && !src[1] && !src[2] && src[3] == bpf_htonl(6);
	}
	port = shunt_outbound(ctx, &dst, (__u16)ctx->user_port, passthrough, loopback, localhost);
	if (port < 0)
		return 0;
	if (port) {
		if (mapped) {
			ctx->user_ip6[3] = SHUNT_IP4_LOCALHOST;
		} else {
			ctx->user_ip6[0] = 0;
			ctx->user_ip6[1] = 0;
			ctx->user_ip6[2] = 0;
			ctx->user_ip6[3] = bpf_htonl(1);
		}
		ctx->user_port = bpf_htons((__u16)port);
	}
	return 1;
}

SEC("cgroup/connect6")
int shunt_connect6(struct bpf_sock_addr *ctx)
{
	return shunt_addr6(ctx);
}

SEC("cgroup/sendmsg6")
int shunt_sendmsg6(struct bpf_sock_addr *ctx)
{
	if (ctx->user_port != bpf_htons(SHUNT_DNS_PORT))
		return 1;
	return shunt_addr6(ctx);
}

/* The app asked who its peer is: answer with the destination it connected to. */
static __always_inline struct shunt_origdst *shunt_redirected(struct bpf_sock_addr *ctx)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);

	return bpf_map_lookup_elem(&shunt_odst_v2, &cookie);
}

/* A UDP datagram from source port `port_n` on localhost reaches a socket whose DNS query
 * was sent to the agent: the agent's reply, to be shown as from the server asked (a
 * resolver drops replies from anyone else). */
static __always_inline struct shunt_origdst *shunt_dns_reply(struct bpf_sock_addr *ctx,
							     __u32 port_n)
{
	const struct shunt_cfg *cfg;
	struct shunt_polref ref = {};
	struct shunt_origdst *od = shunt_redirected(ctx);

	if (!od || od->verdict != SHUNT_V_DNS)
		return NULL;
	cfg = shunt_netns_cfg(bpf_get_netns_cookie(ctx), &ref);
	if (!cfg || port_n != bpf_htons(cfg->dns_port))
		return NULL;
	return od;
}

SEC("cgroup/recvmsg4")
int shunt_recvmsg4(struct bpf_sock_addr *ctx)
{
	struct shunt_origdst *od;

	if (ctx->user_ip4 != SHUNT_IP4_LOCALHOST)
		return 1;
	od = shunt_dns_reply(ctx, ctx->user_port);
	if (od && od->dst.family == SHUNT_AF_INET) {
		ctx->user_ip4 = od->dst.addr[0];
		ctx->user_port = od->dst_port;
		shunt_count(SHUNT_C_DNS_REPLY_RESTORED);
	}
	return 1;
}

SEC("cgroup/recvmsg6")
int shunt_recvmsg6(struct bpf_sock_addr *ctx)
{
	struct shunt_origdst *od;
	__u32 w3 = ctx->user_ip6[3];
	int mapped = !ctx->user_ip6[0] && !ctx->user_ip6[1] &&
		     ctx->user_ip6[2] == bpf_htonl(0x0000ffff) && w3 == SHUNT_IP4_LOCALHOST;
	int v6lo = !ctx->user_ip6[0] && !ctx->user_ip6[1] && !ctx->user_ip6[2] &&
		   w3 == bpf_htonl(1);

	if (!mapped && !v6lo)
		return 1;
	od = shunt_dns_reply(ctx, ctx->user_port);
	if (!od)
		return 1;
	if (mapped && od->dst.family == SHUNT_AF_INET) {
		ctx->user_ip6[3] = od->dst.addr[0];
	} else if (v6lo && od->dst.family == SHUNT_AF_INET6) {
		ctx->user_ip6[0] = od->dst.addr[0];
		ctx->user_ip6[1] = od->dst.addr[1];
		ctx->user_ip6[2] = od->dst.addr[2];
		ctx->user_ip6[3] = od->dst.addr[3];
	} else {
		return 1;
	}
	ctx->user_port = od->dst_port;
	shunt_count(SHUNT_C_DNS_REPLY_RESTORED);
	return 1;
}

SEC("cgroup/getpeername4")
int shunt_getpeername4(struct bpf_sock_addr *ctx)
{
	struct shunt_origdst *od;

	if (ctx->user_ip4 != SHUNT_IP4_LOCALHOST)
		return 1;               /* not the proxy: not redirected */
	od = shunt_redirected(ctx);

	if (od && od->dst.family == SHUNT_AF_INET) {
		ctx->user_ip4 = od->dst.addr[0];
		ctx->user_port = od->dst_port;
		shunt_count(SHUNT_C_GETPEERNAME_HIT);
	}
	return 1;
}

SEC("cgroup/getpeername6")
int shunt_getpeername6(struct bpf_sock_addr *ctx)
{
	__u32 p6[4] = { ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3] };
	struct shunt_origdst *od;

	if (!shunt_words_are_localhost(SHUNT_AF_INET6, 0, p6))
		return 1;               /* not the proxy: not redirected */
	od = shunt_redirected(ctx);
	if (!od)
		return 1;
	if (od->dst.family == SHUNT_AF_INET) {
		ctx->user_ip6[0] = 0;
		ctx->user_ip6[1] = 0;
		ctx->user_ip6[2] = bpf_htonl(0x0000ffff);
		ctx->user_ip6[3] = od->dst.addr[0];
	} else {
		ctx->user_ip6[0] = od->dst.addr[0];
		ctx->user_ip6[1] = od->dst.addr[1];
		ctx->user_ip6[2] = od->dst.addr[2];
		ctx->user_ip6[3] = od->dst.addr[3];
	}
	ctx->user_port = od->dst_port;
	shunt_count(SHUNT_C_GETPEERNAME_HIT);
	return 1;
}

/* The proxy (its uid or gid) bound one of its ports. The outbound port makes this netns a
 * meshed pod; the inbound port marks the socket as the proxy's inbound listener-to-be.
 * Ports and uid are the pod's own policy's where it has one. */
static __always_inline void shunt_detect_proxy(struct bpf_sock *sk)
{
	const struct shunt_cfg *cfg, *dcfg;
	struct shunt_workload *wl, nw = {};
	struct shunt_polref dref = {}, ref = {};
	__u64 netns, cookie;
	__u32 one = 1;
	__u8 is_uid, is_gid;

	if (sk->type != SHUNT_SOCK_STREAM || sk->protocol != SHUNT_IPPROTO_TCP)
		return;
	dcfg = shunt_active_cfg(&dref);
	if (!dcfg)
		return;
	netns = bpf_get_netns_cookie(sk);
	wl = bpf_map_lookup_elem(&shunt_netns_v1, &netns);
	cfg = shunt_workload_cfg(netns, wl, dcfg, &dref, &ref);
	if (sk->src_port != cfg->outbound_port && sk->src_port != cfg->inbound_port)
		return;
	shunt_current_is_proxy(cfg, &is_uid, &is_gid);
	if (!is_uid && !is_gid)
		return;
	if (sk->src_port == cfg->inbound_port) {
		cookie = bpf_get_socket_cookie(sk);
		bpf_map_update_elem(&shunt_pbind_v1, &cookie, &one, BPF_ANY);
		return;
	}
	if (!(dcfg->flags & SHUNT_CFG_AUTO_DETECT))
		return;
	if (wl) {
		if (!(wl->flags & SHUNT_WL_AUTO))
			__sync_fetch_and_or(&wl->flags, SHUNT_WL_AUTO);
		return;
	}
	if (dcfg->flags & SHUNT_CFG_DRAIN)
		return;    /* shunt uninstall: no new pod joins */
	nw.flags = SHUNT_WL_AUTO;
	nw.since_ns = bpf_ktime_get_boot_ns();
	if (!bpf_map_update_elem(&shunt_netns_v1, &netns, &nw, BPF_NOEXIST)) {
		struct shunt_trace_ctl *c = shunt_tracing();

		shunt_count(SHUNT_C_AUTO_MESHED);
		if (c) {
			struct shunt_trace_event ev = {};

			ev.kind = SHUNT_EV_MESHED;
			ev.what = SHUNT_C_AUTO_MESHED;
			ev.netns_cookie = netns;
			ev.pid = (__u32)(bpf_get_current_pid_tgid() >> 32);
			ev.uid = (__u32)bpf_get_current_uid_gid();
			shunt_trace_out(c, &ev);
		}
	}
}

SEC("cgroup/post_bind4")
int shunt_post_bind4(struct bpf_sock *sk)
{
	shunt_detect_proxy(sk);
	return 1;
}

SEC("cgroup/post_bind6")
int shunt_post_bind6(struct bpf_sock *sk)
{
	shunt_detect_proxy(sk);
	return 1;
}

/* A socket goes away. A redirected TCP one whose connect failed before TCP_CONNECT_CB (no
 * source port left, say) never reaches sockops' TCP_CLOSE, and UDP has no sockops at all:
 * their entries leave here. Every socket of the node passes here, so the test comes before
 * the cookie and the delete (~330 ns, the hash bucket is cold): a redirected TCP socket was
 * sent to the proxy on localhost and keeps that destination, also when its connect failed
 * after the kernel recorded it; a TCP socket connected anywhere else has no entry. */
SEC("cgroup/sock_release")
int shunt_sock_release(struct bpf_sock *sk)
{
	__u64 cookie;

	if (sk->protocol == SHUNT_IPPROTO_TCP) {
		__u32 d4 = 0, d6[4] = {};

		if (sk->family == SHUNT_AF_INET6) {
			d6[0] = sk->dst_ip6[0];
			d6[1] = sk->dst_ip6[1];
			d6[2] = sk->dst_ip6[2];
			d6[3] = sk->dst_ip6[3];
		} else {
			d4 = sk->dst_ip4;
		}
		/* connected elsewhere: not ours. No destination at all: a connect that failed
		 * before the kernel recorded one (no route to localhost) may have been
		 * redirected, so it is looked up (listeners, and sockets closed unconnected) */
		if ((d4 || d6[0] || d6[1] || d6[2] || d6[3]) &&
		    !shunt_words_are_localhost(sk->family, d4, d6))
			return 1;
	} else if (sk->protocol != SHUNT_IPPROTO_UDP) {
		return 1;
	}
	cookie = bpf_get_socket_cookie(sk);
	bpf_map_delete_elem(&shunt_odst_v2, &cookie);
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
