/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Every map of shunt, defined once. Each .bpf.c includes this; the objects are linked into
 * one (bpftool gen object), where these __weak definitions collapse into a single map each,
 * so one skeleton owns them all. Types live in include/shunt/abi.h.
 */
#ifndef SHUNT_MAPS_BPF_H
#define SHUNT_MAPS_BPF_H

/* Every hash is BPF_F_NO_PREALLOC: entries are allocated as they are added, so the sizes
 * below are ceilings; only each hash's bucket array (16 bytes an entry of max_entries) is
 * taken at load. Map memory is charged to the memory cgroup of the process that loads
 * shunt (in the DaemonSet, its container): preallocated, the defaults took 150 MiB there
 * at load, and a 64 MiB container limit failed the load with ENOMEM. LPM tries allocate
 * per entry anyway. */
#define SHUNT_MAX_CIDRS      (1u << 20)
#define SHUNT_MAX_WORKLOADS  16384
#define SHUNT_MAX_LOCAL      65536
#define SHUNT_MAX_CONNS      262144
/* the node default and one own policy per workload */
#define SHUNT_MAX_POLICIES   (SHUNT_MAX_WORKLOADS + 1)
/* every list of every slot of every policy with up to 8 blocks (a "*"-like range of all
 * 65536 ports is 128 blocks, so a few hundred such policies still fit), held to 2^20: the
 * kernel rounds a hash's buckets up to a power of two, and the 64 blocks more that the
 * product asks would double the bucket array (16 MiB more at load) */
#define SHUNT_MAX_PORT_BLOCKS (1u << 20)
_Static_assert(SHUNT_MAX_PORT_BLOCKS >= SHUNT_MAX_POLICIES * SHUNT_SLOTS * SHUNT_PORT_LISTS * 8 - 64,
	       "port blocks for 8 a list of every policy");

/* owner -> which slot of that owner's policy is live. Owner 0 is the node default. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHUNT_MAX_POLICIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct shunt_state);
} shunt_state_v2 SEC(".maps") __weak;

/* (owner, slot) -> scalar policy of that slot. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHUNT_MAX_POLICIES * SHUNT_SLOTS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct shunt_pol_key);
	__type(value, struct shunt_cfg);
} shunt_cfg_v2 SEC(".maps") __weak;

/* (owner, slot, list, block) -> the ports of that 512-port block listed. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHUNT_MAX_PORT_BLOCKS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct shunt_port_key);
	__type(value, struct shunt_port_block);
} shunt_ports_v2 SEC(".maps") __weak;

/* (slot, list, family, owner, prefix) -> present: the CIDR lists of every policy. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SHUNT_MAX_CIDRS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct shunt_cidr_key);
	__type(value, struct shunt_cidr_val);
} shunt_cidrs_v2 SEC(".maps") __weak;

/* (owner, slot, chunk) -> the CIDR keys user space wrote into that slot (for diffing). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHUNT_SLOTS * (SHUNT_MAX_CIDRS / SHUNT_SLOTKEYS_PER_CHUNK +
					   SHUNT_MAX_POLICIES));
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct shunt_slotkeys_key);
	__type(value, struct shunt_slotkeys);
} shunt_skeys_v2 SEC(".maps") __weak;

/* netns cookie -> why that network namespace is meshed. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SHUNT_MAX_WORKLOADS);
	__type(key, __u64);
	__type(value, struct shunt_workload);
} shunt_netns_v1 SEC(".maps") __weak;

/* netns cookie -> the Kubernetes pod (namespace/name) it belongs to, where shunt was told.
 * No program reads it: it is here so that it is loaded, pinned and upgraded with the rest. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SHUNT_MAX_WORKLOADS);
	__type(key, __u64);
	__type(value, struct shunt_podname);
} shunt_pname_v1 SEC(".maps") __weak;

/* (netns cookie, address) -> the address is assigned in that netns ("own pod IP"). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SHUNT_MAX_LOCAL);
	__type(key, struct shunt_local_key);
	__type(value, __u32);
} shunt_local_v1 SEC(".maps") __weak;

/* app socket cookie -> original destination; deleted when the socket closes (sockops) or is
 * released (cgroup/sock_release: a connect that failed before TCP_CONNECT_CB). Not an LRU:
 * a live connection's entry is never pushed out; a full map refuses new redirects. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SHUNT_MAX_CONNS);
	__type(key, __u64);
	__type(value, struct shunt_origdst);
} shunt_odst_v2 SEC(".maps") __weak;

/* connection as the proxy's accepted socket sees it -> original destination; deleted when
 * the proxy's socket closes, or when the app's closes if the proxy never got the connection
 * (SHUNT_OD_PROXY_SIDE). Not an LRU, for the reason above. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SHUNT_MAX_CONNS);
	__type(key, struct shunt_tuple);
	__type(value, struct shunt_origdst);
} shunt_conn_v2 SEC(".maps") __weak;

/* socket's own tuple -> the socket: the fast path's peers. The kernel drops an entry when
 * its socket closes. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, SHUNT_MAX_CONNS);
	__type(key, struct shunt_tuple);
	__type(value, __u64);
} shunt_socks_v1 SEC(".maps") __weak;

/* socket's own tuple -> its struct sock address, so sk_msg can read the peer's queue state
 * (sk_msg may not hold a socket reference). Deleted at TCP_CLOSE by sockops. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SHUNT_MAX_CONNS);
	__type(key, struct shunt_tuple);
	__type(value, __u64);
} shunt_skaddr_v1 SEC(".maps") __weak;

/* pod address -> netns cookie of its meshed pod: a connection to one stays on this node. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SHUNT_MAX_LOCAL);
	__type(key, struct shunt_ip);
	__type(value, __u64);
} shunt_podip_v1 SEC(".maps") __weak;

/* netns cookie -> the proxy's inbound listener there, for sk_lookup. Filled by sockops when
 * the proxy calls listen() and by shunt for listeners that predate it; the kernel drops the
 * entry when the listener closes (proxy restart: fail-closed until it listens again). */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, SHUNT_MAX_WORKLOADS);
	__type(key, __u64);
	__type(value, __u64);
} shunt_listen_v1 SEC(".maps") __weak;

/* socket cookie -> 1: sockets the proxy (uid/gid) bound to inbound_port, so sockops knows
 * at listen() that the listener is the proxy's. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SHUNT_MAX_WORKLOADS);
	__type(key, __u64);
	__type(value, __u32);
} shunt_pbind_v1 SEC(".maps") __weak;

/* [verdict or counter] -> per-CPU count. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SHUNT_COUNTERS);
	__type(key, __u32);
	__type(value, struct shunt_counter_val);
} shunt_stats_v2 SEC(".maps") __weak;

/* shunt trace: [0] -> which rings have a tracer (see abi.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct shunt_trace_ctl);
} shunt_trace_v1 SEC(".maps") __weak;

/* [ring] -> per-CPU count of events that ring had no room for. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SHUNT_TRACE_RINGS);
	__type(key, __u32);
	__type(value, __u64);
} shunt_trlost_v1 SEC(".maps") __weak;

#define SHUNT_RING(n)                                          \
	struct {                                               \
		__uint(type, BPF_MAP_TYPE_RINGBUF);            \
		__uint(max_entries, SHUNT_TRACE_RING_BYTES);   \
	} shunt_ring##n##_v1 SEC(".maps") __weak
SHUNT_RING(0);
SHUNT_RING(1);
SHUNT_RING(2);
SHUNT_RING(3);

#endif /* SHUNT_MAPS_BPF_H */
