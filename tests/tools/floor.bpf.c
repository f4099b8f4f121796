// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The floor: one program per hook shunt uses that does nothing at all. make bench-connpath
 * attaches them beside shunt's and reads their bpf_stats, so each of shunt's figures stands
 * next to what the same hook costs a program that returns at once (the invocation and the
 * accounting itself), measured in the same run. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("cgroup/connect4")
int floor_connect4(struct bpf_sock_addr *ctx)
{
	return 1;
}

SEC("sockops")
int floor_sockops(struct bpf_sock_ops *skops)
{
	return 1;
}

SEC("cgroup/getsockopt")
int floor_getsockopt(struct bpf_sockopt *ctx)
{
	return 1;
}

SEC("cgroup/sock_release")
int floor_sock_release(struct bpf_sock *sk)
{
	return 1;
}

SEC("cgroup/getpeername4")
int floor_getpeername4(struct bpf_sock_addr *ctx)
{
	return 1;
}

/* Probes: what one piece of shunt's work costs on its own, on connect4 beside the floor.
 * A hash lookup that finds nothing touches only its bucket: the empty maps below differ in
 * nothing but their bucket array (16 bytes a slot), which the kernel takes from kmalloc up
 * to 32 KiB (2048 slots) and from vmalloc above, in 4 KiB pages. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, __u64);
} probe_1k SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, __u64);
} probe_16k SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, __u64);
} probe_256k SEC(".maps");

/* Recording an original destination: an insert and its delete, 262,144 slots, entries
 * allocated as added (shunt's choice) and preallocated (27 MiB taken at load). */
struct probe_val {
	__u64 v[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct probe_val);
} probe_ins_na SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144);
	__type(key, __u64);
	__type(value, struct probe_val);
} probe_ins_pre SEC(".maps");

SEC("cgroup/connect4")
int probe_cookie(struct bpf_sock_addr *ctx)
{
	volatile __u64 c = bpf_get_socket_cookie(ctx);

	(void)c;
	return 1;
}

/* the socket cookie, then one lookup (that finds nothing) in map */
#define PROBE_LOOKUP(name, map)						\
	SEC("cgroup/connect4")						\
	int name(struct bpf_sock_addr *ctx)				\
	{								\
		__u64 c = bpf_get_socket_cookie(ctx);			\
									\
		return bpf_map_lookup_elem(&map, &c) ? 1 : 1;		\
	}

/* the socket cookie, then an insert into map and its delete */
#define PROBE_INSERT(name, map)						\
	SEC("cgroup/connect4")						\
	int name(struct bpf_sock_addr *ctx)				\
	{								\
		__u64 c = bpf_get_socket_cookie(ctx);			\
		struct probe_val v = { { c } };				\
									\
		bpf_map_update_elem(&map, &c, &v, BPF_ANY);		\
		bpf_map_delete_elem(&map, &c);				\
		return 1;						\
	}

PROBE_LOOKUP(probe_hash1k, probe_1k)
PROBE_LOOKUP(probe_hash16k, probe_16k)
PROBE_LOOKUP(probe_hash256k, probe_256k)
PROBE_INSERT(probe_insert, probe_ins_na)
PROBE_INSERT(probe_insertpre, probe_ins_pre)

char LICENSE[] SEC("license") = "Dual BSD/GPL";
