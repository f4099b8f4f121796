// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cgroup/getsockopt: answers SO_ORIGINAL_DST (SOL_IP) and IP6T_SO_ORIGINAL_DST (SOL_IPV6)
 * on the proxy's accepted socket, as conntrack would after an iptables REDIRECT:
 * - outbound (connect redirected): from shunt_conn_v2;
 * - inbound (steered by sk_lookup, nothing rewritten): from the socket's own local address,
 *   when that is a meshed pod's address, on any port: conntrack answers with the original
 *   destination of any connection it tracked, also one to the listener's own port.
 * Every other option is left to the kernel untouched.
 */
#include "shunt.bpf.h"

#define SHUNT_PAGE_SIZE 4096

struct shunt_sockaddr_in {
	__u16 family;
	__u16 port;          /* network order */
	__u32 addr;          /* network order */
	__u8  zero[8];
};

struct shunt_sockaddr_in6 {
	__u16 family;
	__u16 port;
	__u32 flowinfo;
	__u32 addr[4];
	__u32 scope_id;
};

/* Leave the option to the kernel. The program sees at most one page of optval; when the
 * caller's buffer is larger (iptables-save reads its tables that way), an optlen left
 * above that page fails the call with EFAULT on kernels before 6.5. optlen 0 says "the
 * kernel's own answer stands", as the kernel selftests (sockopt_sk.c) do. */
static __always_inline int shunt_sockopt_pass(struct bpf_sockopt *ctx)
{
	if (ctx->optlen > SHUNT_PAGE_SIZE)
		ctx->optlen = 0;
	return 1;
}

/* shunt trace: an SO_ORIGINAL_DST question, as the proxy's accepted socket asked it. */
static __always_inline void shunt_trace_origdst(const struct shunt_tuple *key, __u32 what,
						const struct shunt_origdst *od)
{
	struct shunt_trace_ctl *c = shunt_tracing();

	if (c) {
		struct shunt_trace_event ev = {};

		ev.kind = SHUNT_EV_ORIGDST;
		ev.what = (__u8)what;
		ev.netns_cookie = key->netns_cookie;
		ev.src = key->remote;
		ev.src_port = bpf_ntohs(key->remote_port);
		ev.dst = key->local;
		ev.dst_port = bpf_ntohs(key->local_port);
		if (od) {
			ev.orig = od->dst;
			ev.orig_port = bpf_ntohs(od->dst_port);
		}
		shunt_trace_task(&ev);
		shunt_trace_out(c, &ev);
	}
}

SEC("cgroup/getsockopt")
int shunt_getsockopt(struct bpf_sockopt *ctx)
{
	struct shunt_tuple key = {};
	struct shunt_origdst *od, local_od = {};
	struct bpf_sock *sk;
	void *optval, *optval_end;

	if (ctx->optname != SHUNT_SO_ORIGINAL_DST ||
	    (ctx->level != SHUNT_SOL_IP && ctx->level != SHUNT_SOL_IPV6))
		return shunt_sockopt_pass(ctx);
	sk = ctx->sk;
	if (!sk)
		return shunt_sockopt_pass(ctx);

	key.netns_cookie = bpf_get_netns_cookie(ctx);
	if (sk->family == SHUNT_AF_INET) {
		shunt_ip_set4(&key.local, sk->src_ip4);
		shunt_ip_set4(&key.remote, sk->dst_ip4);
	} else {
		__u32 l[4] = { sk->src_ip6[0], sk->src_ip6[1], sk->src_ip6[2], sk->src_ip6[3] };
		__u32 r[4] = { sk->dst_ip6[0], sk->dst_ip6[1], sk->dst_ip6[2], sk->dst_ip6[3] };

		shunt_ip_set6(&key.local, l);
		shunt_ip_set6(&key.remote, r);
	}
	key.local_port = bpf_htons((__u16)sk->src_port);
	key.remote_port = (__u16)sk->dst_port;

	od = bpf_map_lookup_elem(&shunt_conn_v2, &key);
	if (!od) {
		const struct shunt_cfg *cfg = NULL;
		struct shunt_polref ref = {};
		__u64 *pod = bpf_map_lookup_elem(&shunt_podip_v1, &key.local);

		/* A socket on a meshed pod's address: a connection sk_lookup steered keeps its
		 * original destination as local address. */
		if (pod)
			cfg = shunt_netns_cfg(*pod, &ref);
		if (cfg) {
			local_od.dst = key.local;
			local_od.dst_port = key.local_port;
			od = &local_od;
			shunt_count(SHUNT_C_SO_ORIGINAL_DST_LOCAL);
		} else {
			shunt_count(SHUNT_C_GETSOCKOPT_MISS);
			shunt_trace_origdst(&key, SHUNT_C_GETSOCKOPT_MISS, NULL);
			return shunt_sockopt_pass(ctx);
		}
	}

	optval = ctx->optval;
	optval_end = ctx->optval_end;
	if (ctx->level == SHUNT_SOL_IP && od->dst.family == SHUNT_AF_INET) {
		struct shunt_sockaddr_in *sin = optval;

		if ((void *)(sin + 1) > optval_end)
			return shunt_sockopt_pass(ctx);
		sin->family = SHUNT_AF_INET;
		sin->port = od->dst_port;
		sin->addr = od->dst.addr[0];
		__builtin_memset(sin->zero, 0, sizeof(sin->zero));
		ctx->optlen = sizeof(*sin);
	} else if (ctx->level == SHUNT_SOL_IPV6 && od->dst.family == SHUNT_AF_INET6) {
		struct shunt_sockaddr_in6 *sin6 = optval;

		if ((void *)(sin6 + 1) > optval_end)
			return shunt_sockopt_pass(ctx);
		sin6->family = SHUNT_AF_INET6;
		sin6->port = od->dst_port;
		sin6->flowinfo = 0;
		sin6->addr[0] = od->dst.addr[0];
		sin6->addr[1] = od->dst.addr[1];
		sin6->addr[2] = od->dst.addr[2];
		sin6->addr[3] = od->dst.addr[3];
		sin6->scope_id = 0;
		ctx->optlen = sizeof(*sin6);
	} else {
		return shunt_sockopt_pass(ctx);
	}
	ctx->retval = 0;
	shunt_count(SHUNT_C_GETSOCKOPT_HIT);
	shunt_trace_origdst(&key, od == &local_od ? SHUNT_C_SO_ORIGINAL_DST_LOCAL :
			    SHUNT_C_GETSOCKOPT_HIT, od);
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
