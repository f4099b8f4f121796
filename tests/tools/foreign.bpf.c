// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Somebody else's connect4 program (as Cilium's socket LB would be): doctor.t attaches it
 * beside shunt's to see `shunt doctor` name it. It allows every connect and changes nothing. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("cgroup/connect4")
int not_shunt_connect4(struct bpf_sock_addr *ctx)
{
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
