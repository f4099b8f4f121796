// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A stand-in for Cilium's socket LB (bpf_sock.c's cil_sock4_connect), named as Cilium names
 * it, with what socketLB.hostNamespaceOnly=true compiles in: outside the host's network
 * namespace it returns at once, so a pod's connect reaches shunt untranslated. In the host's
 * it would translate a service address to a backend; this one translates nothing. doctor.t
 * attaches it beside shunt's programs with Cilium's node_config.h saying HOST_ONLY or FULL. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("cgroup/connect4")
int cil_sock4_connect(struct bpf_sock_addr *ctx)
{
	if (bpf_get_netns_cookie(ctx) != bpf_get_netns_cookie(NULL))
		return 1;   /* ENABLE_SOCKET_LB_HOST_ONLY: not the host's netns, not ours */
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
