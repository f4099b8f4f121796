// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sockops: carries the original destination of a redirected connect from the app socket
 * (keyed by cookie, its source port unknown at connect time) to the connection's 4-tuple,
 * where the getsockopt program finds it from the proxy's accepted socket. Cleans both up
 * when the sockets close. The fast path (sockhash) will hang off the same callbacks.
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

static __always_inline void shunt_want_state_cb(struct bpf_sock_ops *skops)
{
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
}

SEC("sockops")
int shunt_sockops(struct bpf_sock_ops *skops)
{
	struct shunt_conn_key key = {};
	struct shunt_origdst *od;
	__u64 cookie;

	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		/* A redirected app socket: clean its entry up however the connect ends. */
		cookie = bpf_get_socket_cookie(skops);
		if (bpf_map_lookup_elem(&shunt_odst_v1, &cookie))
			shunt_want_state_cb(skops);
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		/* Runs before the final ACK leaves, so before the proxy can accept: no race. */
		cookie = bpf_get_socket_cookie(skops);
		od = bpf_map_lookup_elem(&shunt_odst_v1, &cookie);
		if (!od)
			break;
		key.netns_cookie = bpf_get_netns_cookie(skops);
		/* Seen from the proxy: its local side is our remote. */
		shunt_sockops_tuple(skops, &key.remote, &key.remote_port, &key.local, &key.local_port);
		if (bpf_map_update_elem(&shunt_conn_v1, &key, od, BPF_ANY))
			shunt_count(SHUNT_C_CONN_TRACK_FAIL);
		else
			shunt_count(SHUNT_C_CONN_TRACKED);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		/* The proxy's side of a tracked connection owns the entry's lifetime: the app
		 * may close first, and the proxy may ask SO_ORIGINAL_DST after that. */
		key.netns_cookie = bpf_get_netns_cookie(skops);
		shunt_sockops_tuple(skops, &key.local, &key.local_port, &key.remote, &key.remote_port);
		if (bpf_map_lookup_elem(&shunt_conn_v1, &key))
			shunt_want_state_cb(skops);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (skops->args[1] != SHUNT_TCP_CLOSE)
			break;
		cookie = bpf_get_socket_cookie(skops);
		bpf_map_delete_elem(&shunt_odst_v1, &cookie);
		key.netns_cookie = bpf_get_netns_cookie(skops);
		shunt_sockops_tuple(skops, &key.local, &key.local_port, &key.remote, &key.remote_port);
		bpf_map_delete_elem(&shunt_conn_v1, &key);
		break;
	}
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
