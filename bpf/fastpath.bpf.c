// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sk_msg: moves a send straight into the peer socket's receive queue when the peer is on
 * this node, without breaking the stream. Two rules from shared/FASTPATH-NOTES.md make that
 * safe, for sender S and peer P:
 *   1. drain gate: only while P.copied_seq == S.write_seq. Redirected bytes use no sequence
 *      space, so equality means P's reader has consumed everything that went over TCP; a
 *      redirect now cannot overtake TCP bytes (the reader serves the redirect queue first).
 *      S is locked and P.copied_seq only grows: a racy read errs toward SK_PASS.
 *   2. queue limit: the redirect path has no backpressure, so once P holds more than
 *      accel_queue_limit bytes unread, fall back to TCP, whose flow control stops the
 *      writer. Rule 1 then keeps the stream on TCP until P has caught up completely.
 * Anything unexpected (peer gone, no state) passes to TCP: never drop, never reorder.
 */
#include "shunt.bpf.h"

/* sk_user_data carries flag bits below the psock pointer (SK_USER_DATA_PTRMASK). */
#define SHUNT_SK_USER_DATA_PTRMASK (~7UL)

/* Read-only view of a kernel object we hold no reference on: loads through it are plain
 * (fault-safe) loads, cheaper than a bpf_probe_read_kernel() call per field. The object
 * may be freed under us; the worst a stale read does is pick TCP for one message.
 * A kfunc since 6.2: weak, so the object still loads where it is missing, and the loader
 * picks the program variant that does not call it (shunt_sk_msg_pr) there. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

/* What the two gates need of the peer socket P, read one of two ways. */
struct shunt_peer_view {
	__u32 copied_seq;    /* P's reader position */
	__u32 queued;        /* bytes waiting in P's redirect queue */
};

static __always_inline void shunt_peer_read(__u64 kaddr, int use_cast, struct shunt_peer_view *v)
{
	struct tcp_sock *ptp;
	struct sock *psk;
	struct sk_psock *psock;
	unsigned long ud;

	if (use_cast) {
		psk = bpf_rdonly_cast((void *)kaddr, bpf_core_type_id_kernel(struct sock));
		ptp = bpf_rdonly_cast((void *)kaddr, bpf_core_type_id_kernel(struct tcp_sock));
		v->copied_seq = ptp->copied_seq;
		if (bpf_core_field_exists(struct sk_psock, msg_tot_len)) {
			ud = (unsigned long)psk->sk_user_data & SHUNT_SK_USER_DATA_PTRMASK;
			v->queued = 0;
			if (ud) {
				psock = bpf_rdonly_cast((void *)ud, bpf_core_type_id_kernel(struct sk_psock));
				v->queued = psock->msg_tot_len;
			}
		} else {
			/* Older layout: rmem counts redirected bytes on kernels since late 2024. */
			v->queued = (__u32)psk->sk_backlog.rmem_alloc.counter;
		}
		return;
	}
	/* Before 6.2: one probe-read per field (CO-RE relocated), ~150 ns more a message. */
	psk = (struct sock *)kaddr;
	ptp = (struct tcp_sock *)kaddr;
	v->copied_seq = BPF_CORE_READ(ptp, copied_seq);
	if (bpf_core_field_exists(struct sk_psock, msg_tot_len)) {
		ud = (unsigned long)BPF_CORE_READ(psk, sk_user_data) & SHUNT_SK_USER_DATA_PTRMASK;
		v->queued = ud ? BPF_CORE_READ((struct sk_psock *)ud, msg_tot_len) : 0;
	} else {
		v->queued = (__u32)BPF_CORE_READ(psk, sk_backlog.rmem_alloc.counter);
	}
}

/* shunt trace: a message sent the normal way, and why (peer is the sender's peer's key). */
static __always_inline void shunt_trace_fallback(struct sk_msg_md *msg,
						 const struct shunt_tuple *peer, __u32 why)
{
	struct shunt_trace_ctl *c = shunt_tracing();

	if (c) {
		struct shunt_trace_event ev = {};

		ev.kind = SHUNT_EV_FASTPATH;
		ev.what = (__u8)why;
		ev.netns_cookie = bpf_get_netns_cookie(msg);
		ev.src = peer->remote;
		ev.src_port = bpf_ntohs(peer->remote_port);
		ev.dst = peer->local;
		ev.dst_port = bpf_ntohs(peer->local_port);
		shunt_trace_out(c, &ev);
	}
}

static __always_inline int shunt_sk_msg_verdict(struct sk_msg_md *msg, int use_cast)
{
	struct shunt_tuple peer = {};
	struct shunt_peer_view pv;
	const struct shunt_cfg *cfg;
	struct tcp_sock *stp;
	__u64 *kaddr;
	struct shunt_polref ref = {};
	__u32 size = msg->size, limit;
	long verdict;

	/* The peer's key is our tuple reversed. */
	if (msg->family == SHUNT_AF_INET) {
		shunt_ip_set4(&peer.local, msg->remote_ip4);
		shunt_ip_set4(&peer.remote, msg->local_ip4);
	} else {
		__u32 l[4] = { msg->local_ip6[0], msg->local_ip6[1], msg->local_ip6[2],
			       msg->local_ip6[3] };
		__u32 r[4] = { msg->remote_ip6[0], msg->remote_ip6[1], msg->remote_ip6[2],
			       msg->remote_ip6[3] };

		shunt_ip_set6(&peer.local, r);
		shunt_ip_set6(&peer.remote, l);
	}
	peer.local_port = shunt_sockops_port_n(msg->remote_port);
	peer.remote_port = bpf_htons((__u16)msg->local_port);
	if (shunt_ip_is_loopback(&peer.remote))
		peer.netns_cookie = bpf_get_netns_cookie(msg);

	kaddr = bpf_map_lookup_elem(&shunt_skaddr_v1, &peer);
	if (!kaddr) {
		shunt_count(SHUNT_C_MSG_PEER_MISSING);
		shunt_trace_fallback(msg, &peer, SHUNT_C_MSG_PEER_MISSING);
		return SK_PASS;
	}
	if (!msg->sk)
		return SK_PASS;
	stp = bpf_skc_to_tcp_sock(msg->sk);
	if (!stp)
		return SK_PASS;
	shunt_peer_read(*kaddr, use_cast, &pv);

	/* 1. drain gate */
	if (pv.copied_seq != stp->write_seq) {
		shunt_count(SHUNT_C_MSG_DRAIN_GATE);
		shunt_trace_fallback(msg, &peer, SHUNT_C_MSG_DRAIN_GATE);
		return SK_PASS;
	}
	/* 2. queue limit. An empty queue always takes the message (request/response traffic
	 * never gets further), so the policy is only looked up when the peer is behind. */
	if (pv.queued > 0) {
		cfg = shunt_netns_cfg(bpf_get_netns_cookie(msg), &ref);
		limit = cfg && cfg->accel_queue_limit ? cfg->accel_queue_limit
						       : SHUNT_ACCEL_QUEUE_LIMIT_DEFAULT;
		if (pv.queued + size > limit) {
			shunt_count(SHUNT_C_MSG_OVER_LIMIT);
			shunt_trace_fallback(msg, &peer, SHUNT_C_MSG_OVER_LIMIT);
			return SK_PASS;
		}
	}

	verdict = bpf_msg_redirect_hash(msg, &shunt_socks_v1, &peer, BPF_F_INGRESS);
	if (verdict != SK_PASS) {
		/* Not in the sockhash (closing): the kernel would drop and fail the send
		 * with EACCES. The normal path keeps the bytes. */
		shunt_count(SHUNT_C_MSG_PEER_MISSING);
		shunt_trace_fallback(msg, &peer, SHUNT_C_MSG_PEER_MISSING);
		return SK_PASS;
	}
	shunt_count(SHUNT_C_MSG_REDIRECTED);
	{
		__u32 idx = SHUNT_C_BYTES_REDIRECTED;
		struct shunt_counter_val *c = bpf_map_lookup_elem(&shunt_stats_v2, &idx);

		if (c)
			c->count += size;
	}
	return SK_PASS;
}

/* Two variants of one program; the loader loads the one the kernel can run. */
SEC("sk_msg")
int shunt_sk_msg(struct sk_msg_md *msg)
{
	return shunt_sk_msg_verdict(msg, 1);
}

SEC("sk_msg")
int shunt_sk_msg_pr(struct sk_msg_md *msg)
{
	return shunt_sk_msg_verdict(msg, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
