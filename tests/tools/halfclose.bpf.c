// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The least sk_msg fast path there is, for tests/tools/halfclose: a sockmap of two sockets,
 * the client (key 0) and the server side (key 1, local port in server_port), each send moved
 * into the other's receive queue, as shunt's sk_msg does between an app and its proxy. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} halfclose_socks SEC(".maps");

volatile const __u32 server_port; /* host order, set before load */

SEC("sk_msg")
int halfclose_redirect(struct sk_msg_md *msg)
{
	__u32 to = msg->local_port == server_port ? 0 : 1;

	return bpf_msg_redirect_map(msg, &halfclose_socks, to, BPF_F_INGRESS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
