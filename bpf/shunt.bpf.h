/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Shared by every shunt BPF program: includes, the maps, and small helpers to read the
 * active policy, the port and CIDR lists, and to build socket keys.
 */
#ifndef SHUNT_BPF_H
#define SHUNT_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include "shunt/abi.h"
#include "maps.bpf.h"
#include "shunt_decide.h"
#include "shunt_keys.h"

#define SHUNT_SOCK_STREAM 1
#define SHUNT_IPPROTO_TCP 6
#define SHUNT_SOCK_DGRAM 2
#define SHUNT_IPPROTO_UDP 17
#define SHUNT_TCP_CLOSE   7

/* 127.0.0.1 and 127.0.0.6 in network order, read as the little-endian u32 the ctx holds. */
#define SHUNT_IP4_LOCALHOST   bpf_htonl(0x7f000001)
#define SHUNT_IP4_PASSTHROUGH bpf_htonl(0x7f000006)

static __always_inline void shunt_count(__u32 idx)
{
	struct shunt_counter_val *c = bpf_map_lookup_elem(&shunt_stats_v2, &idx);

	if (c)
		c->count++;   /* per-CPU cell: no atomics needed */
}

/* The policy ABIs these programs read, set by the loader before the load: its own, and
 * during an in-place upgrade (loader_upgrade) also the one of the shunt it replaces, whose
 * maps it checked to have the same layout, so no hook is without a policy while the links
 * move and the policy is rewritten. */
const volatile __u32 shunt_abi_lo __weak = SHUNT_ABI_VERSION;
const volatile __u32 shunt_abi_hi __weak = SHUNT_ABI_VERSION;

static __always_inline bool shunt_abi_ok(__u32 abi)
{
	return abi >= shunt_abi_lo && abi <= shunt_abi_hi;
}

/* shunt trace: the control word when somebody traces, else NULL. Checked before anything
 * is spent on an event. */
static __always_inline struct shunt_trace_ctl *shunt_tracing(void)
{
#ifdef SHUNT_NO_TRACE
	return NULL;    /* bench-connpath's comparison build: no trace code at all */
#else
	__u32 k = 0;
	struct shunt_trace_ctl *c = bpf_map_lookup_elem(&shunt_trace_v1, &k);

	return c && c->active ? c : NULL;
#endif
}

static __always_inline void shunt_trace_ring(void *ring, __u32 idx, struct shunt_trace_event *ev)
{
	/* No wakeup: the tracer reads its ring every 100 ms. Waking it on each event cost
	 * ~12 us an event (the woken reader preempts the program; bench-trace). */
	if (bpf_ringbuf_output(ring, ev, sizeof(*ev), BPF_RB_NO_WAKEUP)) {
		__u64 *lost = bpf_map_lookup_elem(&shunt_trlost_v1, &idx);

		if (lost)
			(*lost)++;
	}
}

/* Copies ev to every ring with a tracer. */
static __always_inline void shunt_trace_out(const struct shunt_trace_ctl *c,
					    struct shunt_trace_event *ev)
{
	__u32 on = c->active;

	ev->ts_ns = bpf_ktime_get_ns();
	if (on & 1)
		shunt_trace_ring(&shunt_ring0_v1, 0, ev);
	if (on & 2)
		shunt_trace_ring(&shunt_ring1_v1, 1, ev);
	if (on & 4)
		shunt_trace_ring(&shunt_ring2_v1, 2, ev);
	if (on & 8)
		shunt_trace_ring(&shunt_ring3_v1, 3, ev);
}

/* The current process, where the hook has one (cgroup sock_addr, getsockopt). */
static __always_inline void shunt_trace_task(struct shunt_trace_event *ev)
{
	ev->pid = (__u32)(bpf_get_current_pid_tgid() >> 32);
	ev->uid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
}

/* One slot of one owner's policy: what the port and CIDR lookups of a decision use. */
struct shunt_polref {
	__u64 owner;
	__u32 slot;
};

/* The live slot of owner's policy, or NULL. Reads the slot once so a whole decision uses
 * one policy. */
static __always_inline const struct shunt_cfg *shunt_owner_cfg(__u64 owner, struct shunt_polref *ref)
{
	struct shunt_state *st = bpf_map_lookup_elem(&shunt_state_v2, &owner);
	struct shunt_pol_key k = { .owner = owner };
	struct shunt_cfg *cfg;

	if (!st || !shunt_abi_ok(st->abi_version))
		return NULL;
	k.slot = st->active_slot & (SHUNT_SLOTS - 1);
	cfg = bpf_map_lookup_elem(&shunt_cfg_v2, &k);
	if (!cfg || !shunt_abi_ok(cfg->abi_version))
		return NULL;
	ref->owner = owner;
	ref->slot = k.slot;
	return cfg;
}

/* The node default policy. */
static __always_inline const struct shunt_cfg *shunt_active_cfg(struct shunt_polref *ref)
{
	return shunt_owner_cfg(SHUNT_OWNER_DEFAULT, ref);
}

/* The policy that decides for the workload in netns: its own when it has one, else the
 * node default (dcfg/dref). An own policy being removed falls back to the default, which
 * is what the pod is moving to. */
static __always_inline const struct shunt_cfg *
shunt_workload_cfg(__u64 netns, const struct shunt_workload *wl, const struct shunt_cfg *dcfg,
		   const struct shunt_polref *dref, struct shunt_polref *ref)
{
	const struct shunt_cfg *own;

	if (wl && (wl->flags & SHUNT_WL_OWN_POLICY)) {
		own = shunt_owner_cfg(netns, ref);
		if (own)
			return own;
	}
	*ref = *dref;
	return dcfg;
}

/* The policy of the workload in netns, without asking whether it is meshed: where only
 * a setting is needed (sk_msg's queue limit, getsockopt's proxy ports). */
static __always_inline const struct shunt_cfg *shunt_netns_cfg(__u64 netns, struct shunt_polref *ref)
{
	struct shunt_polref dref = {};
	const struct shunt_cfg *dcfg = shunt_active_cfg(&dref);

	if (!dcfg)
		return NULL;
	return shunt_workload_cfg(netns, bpf_map_lookup_elem(&shunt_netns_v1, &netns), dcfg,
				  &dref, ref);
}

/* Is the current task the proxy of policy cfg (by uid, by gid)? See shunt_proxy_identity. */
static __always_inline void shunt_current_is_proxy(const struct shunt_cfg *cfg, __u8 *is_uid,
						   __u8 *is_gid)
{
	__u64 uidgid = bpf_get_current_uid_gid();

	shunt_proxy_identity(cfg, (__u32)uidgid == cfg->proxy_uid,
			     (cfg->flags & SHUNT_CFG_HAS_GID) && (__u32)(uidgid >> 32) == cfg->proxy_gid,
			     (cfg->flags & SHUNT_CFG_PROXY_CGROUP) &&
				     bpf_get_current_cgroup_id() == cfg->proxy_cgroup_id,
			     is_uid, is_gid);
}

/* Meshed now, and by which policy: NULL with *why set when the connection is not ours. */
static __always_inline const struct shunt_cfg *
shunt_meshed_cfg(__u64 netns, const struct shunt_workload *wl, struct shunt_polref *ref,
		 enum shunt_verdict *why)
{
	struct shunt_polref dref = {};
	const struct shunt_cfg *dcfg;

	if (!wl) {                  /* no policy lookup for a pod outside the mesh */
		*why = SHUNT_V_NOT_MESHED;
		return NULL;
	}
	dcfg = shunt_active_cfg(&dref);
	if (!dcfg) {
		*why = SHUNT_V_NO_POLICY;
		return NULL;
	}
	if (!shunt_workload_meshed(dcfg, wl->flags, dref.slot)) {
		*why = SHUNT_V_NOT_MESHED;
		return NULL;
	}
	return shunt_workload_cfg(netns, wl, dcfg, &dref, ref);
}

/* The keys are shunt_keys.h's, shared with explain. */
static __always_inline int shunt_port_listed(const struct shunt_cfg *cfg,
					     const struct shunt_polref *ref, __u32 list, __u16 port)
{
	struct shunt_port_key k = {};
	struct shunt_port_block *b;

	if (!(cfg->flags & SHUNT_CFG_PORTS(list)))
		return 0;
	shunt_port_key_of(&k, ref->owner, ref->slot, list, port);
	b = bpf_map_lookup_elem(&shunt_ports_v2, &k);
	return b ? shunt_port_bit(b, port) : 0;
}

static __always_inline int shunt_cidr_listed(const struct shunt_polref *ref, __u32 list,
					     const struct shunt_ip *ip)
{
	struct shunt_cidr_key key = {};

	shunt_cidr_key_of(&key, ref->owner, ref->slot, list, ip);
	return bpf_map_lookup_elem(&shunt_cidrs_v2, &key) != NULL;
}

static __always_inline int shunt_ip_is_local(__u64 netns, const struct shunt_ip *ip)
{
	struct shunt_local_key key = { .netns_cookie = netns, .ip = *ip };

	return bpf_map_lookup_elem(&shunt_local_v1, &key) != NULL;
}


/* sockops remote_port: network order, in the upper 16 bits on current kernels and in the
 * lower 16 bits on old ones. A non-zero port in the upper half makes the value > 0xffff. */
static __always_inline __u16 shunt_sockops_port_n(__u32 remote_port)
{
	return remote_port > 0xffff ? (__u16)(remote_port >> 16) : (__u16)remote_port;
}

#endif /* SHUNT_BPF_H */
