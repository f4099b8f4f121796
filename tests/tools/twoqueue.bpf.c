// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* For tests/tools/twoqueue: a sockmap of two sockets whose sk_msg program redirects each send
 * into the peer's receive queue while twoqueue_mode[0] is 1 and lets it take TCP while it is
 * 0, as shunt's sk_msg does when a peer is over acceleration_queue_limit. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} twoqueue_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} twoqueue_mode SEC(".maps");

volatile const __u32 server_port; /* host order, set before load */

SEC("sk_msg")
int twoqueue_redirect(struct sk_msg_md *msg)
{
	__u32 zero = 0, to = msg->local_port == server_port ? 0 : 1;
	__u32 *mode = bpf_map_lookup_elem(&twoqueue_mode, &zero);

	if (!mode || !*mode)
		return SK_PASS;
	return bpf_msg_redirect_map(msg, &twoqueue_socks, to, BPF_F_INGRESS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
