// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sockops, three jobs on the same callbacks:
 * - original destinations: carries a redirected connect's destination from the app socket
 *   (keyed by cookie; its source port is unknown at connect time) to the connection's tuple,
 *   where the getsockopt program finds it from the proxy's accepted socket;
 * - the fast path: puts established sockets of meshed pods whose peer is on this node into
 *   the sockhash (and their kernel address into shunt_skaddr_v1) for the sk_msg program;
 * - inbound: when the proxy's inbound socket listens, puts it where sk_lookup finds it.
 * The first two are cleaned up when the socket reaches TCP_CLOSE; the third leaves with the
 * listener.
 */
#include "shunt.bpf.h"

static __always_inline void shunt_sockops_tuple(struct bpf_sock_ops *skops,
						struct shunt_ip *local, __u16 *lport_n,
						struct shunt_ip *remote, __u16 *rport_n)
{
	if (skops->family == SHUNT_AF_INET) {
		shunt_ip_set4(local, skops->local_ip4);
		shunt_ip_set4(remote, skops->remote_ip4);
	} else {
		__u32 l[4] = { skops->local_ip6[0], skops->local_ip6[1], skops->local_ip6[2],
			       skops->local_ip6[3] };
		__u32 r[4] = { skops->remote_ip6[0], skops->remote_ip6[1], skops->remote_ip6[2],
			       skops->remote_ip6[3] };

		shunt_ip_set6(local, l);
		shunt_ip_set6(remote, r);
	}
	*lport_n = bpf_htons((__u16)skops->local_port);   /* host order in the ctx */
	*rport_n = shunt_sockops_port_n(skops->remote_port);
}

/* Connected to localhost, where every redirect sends a socket (shunt_words_are_localhost). */
static __always_inline int shunt_sockops_to_localhost(struct bpf_sock_ops *skops)
{
	__u32 r6[4] = {};

	if (skops->family == SHUNT_AF_INET6) {
		r6[0] = skops->remote_ip6[0];
		r6[1] = skops->remote_ip6[1];
		r6[2] = skops->remote_ip6[2];
		r6[3] = skops->remote_ip6[3];
	}
	return shunt_words_are_localhost(skops->family, skops->family == SHUNT_AF_INET ?
					 skops->remote_ip4 : 0, r6);
}

static __always_inline void shunt_want_state_cb(struct bpf_sock_ops *skops)
{
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
}

/* A socket with a shunt_skaddr_v1 entry carries a mark, so that TCP_CLOSE deletes only
 * where there is something to delete (the delete is a cold bucket of a 262,144-slot hash:
 * ~25 ns of every meshed sockops run on average, bench-connpath). The mark is the RTO
 * callback flag: the kernel keeps it on the socket, it calls sockops only on a
 * retransmission timeout (rare on a same-node connection, and a run that returns at once),
 * and it is read back from the ctx for free. */
#define SHUNT_CB_SKADDR BPF_SOCK_OPS_RTO_CB_FLAG

/* Set by the loader during an in-place upgrade: entries added by programs that did not mark
 * their sockets may be left, so every close deletes as before. Cleared once the map is seen
 * empty after the old programs stopped (upgrade.c). */
__u32 shunt_skaddr_unmarked = 0;

static __always_inline void shunt_mark_skaddr(struct bpf_sock_ops *skops)
{
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags |
					 BPF_SOCK_OPS_STATE_CB_FLAG | SHUNT_CB_SKADDR);
}

/* The socket's own fast-path key: netns only for loopback pairs (see abi.h). */
static __always_inline void shunt_sock_key(struct bpf_sock_ops *skops, __u64 netns,
					   struct shunt_tuple *key)
{
	shunt_sockops_tuple(skops, &key->local, &key->local_port, &key->remote, &key->remote_port);
	key->netns_cookie = shunt_ip_is_loopback(&key->remote) ? netns : 0;
}

/* acceleration: proxy, the passive side: the connecting socket must be in already (its
 * ACTIVE_ESTABLISHED ran first), or this one would wait for a peer that never comes. */
static __always_inline bool shunt_accel_peer_in(const struct shunt_tuple *key)
{
	struct shunt_tuple peer = {};

	peer.local = key->remote;
	peer.local_port = key->remote_port;
	peer.remote = key->local;
	peer.remote_port = key->local_port;
	return bpf_map_lookup_elem(&shunt_skaddr_v1, &peer) != NULL;
}

static __always_inline void shunt_accel_add(struct bpf_sock_ops *skops, __u64 netns,
					    const struct shunt_workload *wl)
{
	struct shunt_accel_facts f = {};
	const struct shunt_cfg *cfg;
	struct shunt_tuple key = {};
	struct bpf_sock *sk;
	struct shunt_polref ref = {};
	enum shunt_verdict why;
	enum shunt_accel_verdict v;
	__u64 kaddr, *peer_ns;

	cfg = shunt_meshed_cfg(netns, wl, &ref, &why);
	if (!cfg)
		return;                 /* not ours */
	/* the facts shunt_decide_accel weighs (explain gathers the same), cheapest first */
	f.switched_off = !(cfg->flags & SHUNT_CFG_ACCELERATION) || (wl->flags & SHUNT_WL_NO_ACCEL);
	if (f.switched_off) {
		shunt_count(SHUNT_C_ACCEL_SWITCHED_OFF);
		return;
	}
	sk = skops->sk;             /* read once: a second read trips the verifier */
	if (!sk)
		return;
	shunt_sock_key(skops, netns, &key);
	f.proxy_only = !!(cfg->flags & SHUNT_CFG_ACCEL_PROXY);
	f.peer_loopback = key.netns_cookie != 0;
	if (!f.peer_loopback) {
		peer_ns = bpf_map_lookup_elem(&shunt_podip_v1, &key.remote);
		f.peer_pod = peer_ns != NULL;
		f.peer_same_pod = peer_ns && *peer_ns == netns;
	}
	if (f.proxy_only) {
		struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);

		f.proxy_owned = tp && tp->inet_conn.icsk_inet.sk.sk_uid.val == cfg->proxy_uid;
	}
	v = shunt_decide_accel(&f);
	if (v == SHUNT_ACCEL_ELSEWHERE)
		return;                 /* keep sockets that would never find a peer off the hooks */
	if (v == SHUNT_ACCEL_ON && f.proxy_only &&
	    skops->op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB && !shunt_accel_peer_in(&key))
		v = SHUNT_ACCEL_OFF;
	if (v != SHUNT_ACCEL_ON) {
		shunt_count(SHUNT_C_ACCEL_SWITCHED_OFF);
		return;
	}
	if (bpf_sock_hash_update(skops, &shunt_socks_v1, &key, BPF_ANY)) {
		shunt_count(SHUNT_C_ACCEL_INSERT_FAIL);
		return;
	}
	kaddr = (__u64)sk;
	if (!bpf_map_update_elem(&shunt_skaddr_v1, &key, &kaddr, BPF_ANY))
		shunt_mark_skaddr(skops);
	else
		shunt_want_state_cb(skops);
	shunt_count(SHUNT_C_ACCEL_SOCKETS);
	{
		struct shunt_trace_ctl *c = shunt_tracing();

		if (c) {
			struct shunt_trace_event ev = {};

			ev.kind = SHUNT_EV_FASTPATH;
			ev.what = SHUNT_C_ACCEL_SOCKETS;
			ev.netns_cookie = netns;
			ev.src = key.local;
			ev.src_port = bpf_ntohs(key.local_port);
			ev.dst = key.remote;
			ev.dst_port = bpf_ntohs(key.remote_port);
			shunt_trace_out(c, &ev);
		}
	}
}

/* The app's side of a connection is up (ACTIVE_ESTABLISHED, before the final ACK leaves,
 * so before the proxy can accept: no race): a redirected one's original destination onto the
 * tuple the proxy's accepted socket will see. key has the netns. */
static __always_inline void shunt_app_established(struct bpf_sock_ops *skops,
						  struct shunt_tuple *key)
{
	struct shunt_origdst *od = NULL;
	__u64 cookie;

	/* Seen from the proxy: its local side is our remote. */
	shunt_sockops_tuple(skops, &key->remote, &key->remote_port, &key->local, &key->local_port);
	if (shunt_sockops_to_localhost(skops)) {    /* only there can it be redirected */
		cookie = bpf_get_socket_cookie(skops);
		od = bpf_map_lookup_elem(&shunt_odst_v2, &cookie);
	}
	if (od) {
		if (bpf_map_update_elem(&shunt_conn_v2, key, od, BPF_ANY))
			shunt_count(SHUNT_C_CONN_TRACK_FAIL);
		else
			shunt_count(SHUNT_C_CONN_TRACKED);
	} else if (shunt_ip_is_loopback(&key->local)) {
		/* Not redirected: an entry an earlier connection left under this tuple must
		 * not answer for this one. */
		bpf_map_delete_elem(&shunt_conn_v2, key);
	}
}

/* The proxy's side of a tracked connection (PASSIVE_ESTABLISHED) owns the entry's lifetime:
 * the app may close first, and the proxy may ask SO_ORIGINAL_DST after that. */
static __always_inline void shunt_proxy_established(struct bpf_sock_ops *skops,
						    struct shunt_tuple *key)
{
	struct shunt_origdst *od;

	shunt_sockops_tuple(skops, &key->local, &key->local_port, &key->remote, &key->remote_port);
	od = bpf_map_lookup_elem(&shunt_conn_v2, key);
	if (od) {
		od->flags |= SHUNT_OD_PROXY_SIDE;
		shunt_want_state_cb(skops);
	}
}

SEC("sockops")
int shunt_sockops(struct bpf_sock_ops *skops)
{
	struct shunt_tuple key = {};
	struct shunt_workload *wl;
	struct shunt_origdst *od;
	__u64 cookie, netns;

	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		/* A redirected app socket: its connection entry is cleaned up however the
		 * connect ends (TCP_CLOSE below). */
		if (!shunt_sockops_to_localhost(skops))
			break;
		cookie = bpf_get_socket_cookie(skops);
		if (bpf_map_lookup_elem(&shunt_odst_v2, &cookie))
			shunt_want_state_cb(skops);
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		/* A pod outside the mesh has no connection entries and no fast path: one
		 * lookup, then nothing (bench-connpath: what every pod of the node pays). */
		netns = bpf_get_netns_cookie(skops);
		wl = bpf_map_lookup_elem(&shunt_netns_v1, &netns);
		if (!wl)
			break;
		key.netns_cookie = netns;
		if (skops->op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB)
			shunt_app_established(skops, &key);
		else
			shunt_proxy_established(skops, &key);
		shunt_accel_add(skops, netns, wl);
		break;
	case BPF_SOCK_OPS_TCP_LISTEN_CB:
		/* The proxy's inbound socket starts listening (first start or a restart):
		 * hand it to sk_lookup. The entry leaves with the listener. */
		cookie = bpf_get_socket_cookie(skops);
		if (!bpf_map_lookup_elem(&shunt_pbind_v1, &cookie))
			break;
		bpf_map_delete_elem(&shunt_pbind_v1, &cookie);
		netns = bpf_get_netns_cookie(skops);
		if (skops->family == SHUNT_AF_INET6)
			netns |= SHUNT_LISTEN_V6;
		if (!bpf_sock_hash_update(skops, &shunt_listen_v1, &netns, BPF_ANY))
			shunt_count(SHUNT_C_INBOUND_LISTENER);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (skops->args[1] != SHUNT_TCP_CLOSE)
			break;
		cookie = bpf_get_socket_cookie(skops);
		netns = bpf_get_netns_cookie(skops);
		key.netns_cookie = netns;
		if (!bpf_map_delete_elem(&shunt_odst_v2, &cookie)) {
			/* The app's socket of a redirected connection. The proxy may still ask
			 * after the app closed; but if the proxy never got the connection (its
			 * accept queue overflowed), nobody else would delete the entry. */
			shunt_sockops_tuple(skops, &key.remote, &key.remote_port, &key.local,
					    &key.local_port);
			od = bpf_map_lookup_elem(&shunt_conn_v2, &key);
			if (od && !(od->flags & SHUNT_OD_PROXY_SIDE))
				bpf_map_delete_elem(&shunt_conn_v2, &key);
		} else {
			/* Not an app's socket: maybe the proxy's side of one, whose entry is
			 * under its own tuple (an app socket's own tuple never is a key: its
			 * remote is the proxy's listener, never a connecting port). */
			shunt_sockops_tuple(skops, &key.local, &key.local_port, &key.remote,
					    &key.remote_port);
			bpf_map_delete_elem(&shunt_conn_v2, &key);
		}
		/* The sockhash entry goes with the socket; its address entry goes here. */
		if (!(skops->bpf_sock_ops_cb_flags & SHUNT_CB_SKADDR) && !shunt_skaddr_unmarked)
			break;
		shunt_sockops_tuple(skops, &key.local, &key.local_port, &key.remote, &key.remote_port);
		key.netns_cookie = shunt_ip_is_loopback(&key.remote) ? netns : 0;
		bpf_map_delete_elem(&shunt_skaddr_v1, &key);
		break;
	}
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
