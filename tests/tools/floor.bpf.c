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

char LICENSE[] SEC("license") = "Dual BSD/GPL";
