/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The kernel/user contract of shunt: every map key and value, every constant both sides
 * must agree on. Included by the BPF programs (after vmlinux.h) and by the shunt binary
 * (after <linux/types.h>), so it includes nothing itself and uses only __u8/__u16/__u32/__u64.
 *
 * Layout rules: explicit padding, no implicit holes, byte order written next to every
 * address or port field. A layout change bumps SHUNT_ABI_VERSION and the _vN suffix of the
 * map that carries it: libbpf reuses a pinned map whose sizes match and would not notice.
 * A shunt of another ABI finding pins replaces them in place (loader_upgrade): it keeps
 * each pinned map whose BTF layout is the one it was built with and refuses the whole
 * upgrade if any map it uses has the same name and another layout.
 */
#ifndef SHUNT_ABI_H
#define SHUNT_ABI_H

/* A build may override it (make's test binary shunt-abinext does, to rehearse an upgrade). */
#ifndef SHUNT_ABI_VERSION
#define SHUNT_ABI_VERSION 5
#endif

/* A policy belongs to an owner: owner 0 is the node default, any other owner is the netns
 * cookie of a pod with its own policy (from the config's workloads or from pod-init).
 * Every owner's tables exist twice (slots); shunt_state_v2[owner] names the live slot. A
 * writer fills the inactive slot and flips, so each decision sees one whole policy, never
 * a mix, and an update of one owner touches no other. */
#define SHUNT_SLOTS 2
#define SHUNT_OWNER_DEFAULT 0

/* Address families as stored in keys (the kernel's AF_INET/AF_INET6 values). */
#define SHUNT_AF_INET  2
#define SHUNT_AF_INET6 10

/* Port lists: bitmaps cut into 512-port blocks, one shunt_ports_v2 entry per non-empty
 * block of (owner, slot, list); a missing block has no port listed. */
enum shunt_port_list {
	SHUNT_PORTS_OUT_INCLUDE = 0,
	SHUNT_PORTS_OUT_EXCLUDE = 1,
	SHUNT_PORTS_IN_INCLUDE  = 2,
	SHUNT_PORTS_IN_EXCLUDE  = 3,
	SHUNT_PORT_LISTS        = 4,
};
#define SHUNT_PORT_BLOCK_PORTS 512
#define SHUNT_PORT_BLOCKS (65536 / SHUNT_PORT_BLOCK_PORTS)
#define SHUNT_PORT_BLOCK_WORDS (SHUNT_PORT_BLOCK_PORTS / 64)

/* CIDR lists, told apart by a field of the LPM key. */
enum shunt_cidr_list {
	SHUNT_CIDRS_OUT_INCLUDE = 0,
	SHUNT_CIDRS_OUT_EXCLUDE = 1,
	SHUNT_CIDRS_IN_EXCLUDE_SRC = 2, /* inbound.exclude_source_cidrs */
	SHUNT_CIDRS_DNS_SERVERS = 3,    /* dns.servers */
	SHUNT_CIDR_LISTS        = 4,
};

/* shunt_cfg.flags */
#define SHUNT_CFG_HAS_GID          (1u << 0) /* proxy_gid is set */
#define SHUNT_CFG_OUT_ALL_CIDRS    (1u << 1) /* outbound.include_cidrs: ["*"] */
#define SHUNT_CFG_IN_ALL_PORTS     (1u << 2) /* inbound.include_ports: ["*"] */
#define SHUNT_CFG_ACCELERATION     (1u << 3) /* sk_msg fast path wanted */
#define SHUNT_CFG_AUTO_DETECT      (1u << 4) /* mesh a netns when the proxy binds outbound_port */
#define SHUNT_CFG_LOOPBACK_INCLUDED (1u << 5) /* an include CIDR covers loopback: no lo shortcut */
#define SHUNT_CFG_OUT_INCLUDE_LIST  (1u << 6) /* outbound.include_cidrs has entries: look them up */
#define SHUNT_CFG_OUT_EXCLUDE_LIST  (1u << 7) /* outbound.exclude_cidrs has entries: look them up */
#define SHUNT_CFG_LINKERD           (1u << 8) /* mesh.flavor linkerd: the proxy's own traffic and
					       * everything to lo always direct (proxy-init) */
#define SHUNT_CFG_PROXY_CGROUP      (1u << 9) /* the proxy must also run in proxy_cgroup_id */
#define SHUNT_CFG_CGROUP_ONLY       (1u << 10)/* ... and the cgroup alone identifies it */
#define SHUNT_CFG_IN_EXCLUDE_SRC_LIST (1u << 11)/* inbound.exclude_source_cidrs has entries */
/* SHUNT_CFG_PORTS(list): that port list has entries (blocks to look up) */
#define SHUNT_CFG_PORTS(list)       (1u << (12 + (list)))
#define SHUNT_CFG_DNS               (1u << 16)/* dns.capture: port 53 to dns_port */
#define SHUNT_DNS_PORT              53        /* the port DNS capture looks at (host order) */
#define SHUNT_CFG_DNS_ALL           (1u << 17)/* ... to any server, not only dns.servers */
#define SHUNT_CFG_DRAIN             (1u << 19)/* shunt uninstall: meshed pods stay meshed, the
						 * kernel's detection meshes no new one */
#define SHUNT_CFG_ACCEL_PROXY       (1u << 18)/* with SHUNT_CFG_ACCELERATION: only connections
					       * between two proxies of this node (acceleration:
					       * proxy); app sockets stay off the sockhash */

/* Key of shunt_cfg_v2: one slot of one owner's policy. */
struct shunt_pol_key {
	__u64 owner;         /* SHUNT_OWNER_DEFAULT or a netns cookie */
	__u32 slot;          /* 0 .. SHUNT_SLOTS-1 */
	__u32 pad0;          /* always 0 */
};

/* Value of shunt_cfg_v2: the scalar part of one policy. */
struct shunt_cfg {
	__u32 abi_version;   /* SHUNT_ABI_VERSION of the writer */
	__u32 generation;    /* bumped by every load/apply */
	__u32 flags;         /* SHUNT_CFG_* */
	__u32 proxy_uid;
	__u32 proxy_gid;     /* valid with SHUNT_CFG_HAS_GID */
	__u16 outbound_port; /* host order */
	__u16 inbound_port;  /* host order */
	__u16 tunnel_port;   /* host order; never redirected (Istio's 15008); 0 = none */
	__u16 dns_port;      /* host order; with SHUNT_CFG_DNS: the proxy's DNS agent (15053) */
	__u32 accel_queue_limit; /* bytes a peer may hold in its redirect queue */
	__u64 proxy_cgroup_id;   /* with SHUNT_CFG_PROXY_CGROUP: the proxy container's cgroup */
};

/* Value of shunt_state_v2[owner]: which slot of that owner's policy is live. Written last
 * by an apply; a pod's own policy has no entry until its first slot is complete. */
struct shunt_state {
	__u32 abi_version;
	__u32 active_slot;   /* 0 .. SHUNT_SLOTS-1 */
	__u32 generation;    /* generation of the active slot */
	__u32 pad0;
	__u64 applied_ns;    /* CLOCK_REALTIME of the flip, for status */
};

/* Key of shunt_ports_v2: one 512-port block of one list. */
struct shunt_port_key {
	__u64 owner;
	__u8  slot;
	__u8  list;          /* enum shunt_port_list */
	__u16 block;         /* port / SHUNT_PORT_BLOCK_PORTS */
	__u32 pad0;          /* always 0 */
};

/* Value of shunt_ports_v2: bit (port % 512) set = port listed. */
struct shunt_port_block {
	__u64 bits[SHUNT_PORT_BLOCK_WORDS];
};

/* Key of shunt_cidrs_v2 (LPM trie). prefixlen counts the 96 bits of slot/list/family/pad/
 * owner and then the address prefix, so one trie holds every (owner, slot, list, family). */
struct shunt_cidr_key {
	__u32 prefixlen;     /* 96 + CIDR prefix length */
	__u8  slot;
	__u8  list;          /* enum shunt_cidr_list */
	__u8  family;        /* SHUNT_AF_INET / SHUNT_AF_INET6 */
	__u8  pad0;          /* always 0 */
	__u64 owner;
	__u8  addr[16];      /* network order; IPv4 in the first 4 bytes, rest 0 */
};
#define SHUNT_CIDR_KEY_HDR_BITS 96

struct shunt_cidr_val {
	__u32 hits_unused;   /* reserved; keeps the value non-empty and printable */
};

/* shunt_skeys_v2: user space's record of the CIDR keys written into each slot of each
 * owner, sorted, in chunks, so an apply writes only the difference. Never read by BPF. */
#define SHUNT_SLOTKEYS_PER_CHUNK 128

struct shunt_slotkeys_key {
	__u64 owner;
	__u32 slot;
	__u32 chunk;
};

struct shunt_slotkeys {
	__u32 generation;    /* == shunt_cfg_v2[owner, slot].generation when the record is valid */
	__u32 n;             /* keys in this chunk */
	__u32 total;         /* keys in the whole slot (chunk 0 is authoritative) */
	__u32 pad0;
	struct shunt_cidr_key keys[SHUNT_SLOTKEYS_PER_CHUNK];
};

/* shunt_netns_v1: network namespace cookie -> why it is meshed. */
#define SHUNT_WL_AUTO      (1u << 0) /* the proxy was seen binding outbound_port */
#define SHUNT_WL_SCANNED   (1u << 1) /* found listening by shunt load/apply */
#define SHUNT_WL_POD_INIT  (1u << 2) /* registered by shunt pod-init: meshed, fail-closed */
#define SHUNT_WL_EXPLICIT_SLOT(s) (1u << (8 + (s))) /* listed in the config of slot s */
#define SHUNT_WL_NO_ACCEL  (1u << 16) /* fast path off for this workload */
#define SHUNT_WL_OWN_POLICY (1u << 17) /* decided by its own policy (owner = its cookie) */
#define SHUNT_WL_POLICY_FROM_CONFIG (1u << 18) /* ... which comes from workloads: in the config */

struct shunt_workload {
	__u32 flags;         /* SHUNT_WL_* */
	__u32 workload_id;   /* index in the config's workloads list + 1; 0 = auto */
	__u64 since_ns;      /* CLOCK_BOOTTIME when first meshed */
	__u64 netns_ino;     /* inode of the netns (ls -i /run/netns/X); 0 until shunt saw it */
};

/* An IP address with its family; the shape every socket key below is built from. */
struct shunt_ip {
	__u8  family;        /* SHUNT_AF_INET / SHUNT_AF_INET6 */
	__u8  pad0[3];
	__u32 addr[4];       /* network order; IPv4 in addr[0], rest 0 */
};

/* shunt_odst_v2: cookie of a redirected (app) socket -> where it wanted to go. */
struct shunt_origdst {
	struct shunt_ip dst; /* original destination address */
	__u16 dst_port;      /* network order */
	__u8  verdict;       /* enum shunt_verdict that redirected it */
	__u8  flags;         /* SHUNT_OD_* */
	__u32 generation;    /* policy generation that decided it */
};

/* shunt_conn_v2 value: the proxy's accepted socket exists and owns the entry (deletes it when
 * it closes). Until then the app's socket does, should the proxy never get the connection. */
#define SHUNT_OD_PROXY_SIDE 0x01

/* A TCP connection seen from one of its sockets: local and remote address and port.
 * shunt_conn_v2: as the proxy's accepted socket sees it, so the getsockopt program finds it
 *   with its own addresses; netns_cookie always set.
 * shunt_socks_v1 / shunt_skaddr_v1: a socket's own view; netns_cookie set only for loopback
 *   pairs (two pods can share a loopback 4-tuple), 0 otherwise so the peer of a pod-IP
 *   connection is found from another netns (pod IPs are unique on a node). */
struct shunt_tuple {
	__u64 netns_cookie;
	struct shunt_ip local;  /* proxy side: the rewritten destination */
	struct shunt_ip remote; /* app side: the app socket's source */
	__u16 local_port;    /* network order */
	__u16 remote_port;   /* network order */
	__u32 pad0;
};

/* shunt_local_v1 key: an address assigned inside a meshed netns ("own pod IP"). */
struct shunt_local_key {
	__u64 netns_cookie;
	struct shunt_ip ip;
	__u32 pad0;          /* always 0 */
};

/* Decisions, also the index of the per-CPU counters in shunt_stats_v2: one line each,
 * X(enum, counter name in status and /metrics, what it means: explain's sentence). The
 * order is the ABI (the counter's index); a new verdict goes at the end of its part. */
#define SHUNT_VERDICT_LIST(X)									\
	/* outbound, istio-iptables' ISTIO_OUTPUT chain (bpf/shunt_decide.h) */			\
	X(SHUNT_V_NOT_MESHED, "not_meshed",							\
	  "the pod is not meshed: shunt leaves its connections alone")				\
	X(SHUNT_V_NOT_TCP, "not_tcp", "not TCP (and not DNS that shunt captures): left alone")	\
	X(SHUNT_V_EXCLUDE_PORT, "direct_exclude_port", "the port is in outbound.exclude_ports")	\
	X(SHUNT_V_PASSTHROUGH_SRC, "direct_passthrough_src",					\
	  "the socket is bound to the passthrough source (127.0.0.6 / ::6)")			\
	X(SHUNT_V_PROXY_TO_SELF, "redirect_proxy_to_self",					\
	  "the proxy connects to its own pod IP: to its inbound port")				\
	X(SHUNT_V_APP_LOOPBACK, "direct_app_loopback",						\
	  "loopback or own pod IP, not from the proxy: stays in the pod")			\
	X(SHUNT_V_PROXY_OWNER, "direct_proxy_owner",						\
	  "the proxy's own connection (proxy.uid / proxy.gid)")					\
	X(SHUNT_V_LOCALHOST, "direct_localhost", "the destination is 127.0.0.1 / ::1")		\
	X(SHUNT_V_INCLUDE_PORT, "redirect_include_port", "the port is in outbound.include_ports") \
	X(SHUNT_V_EXCLUDE_CIDR, "direct_exclude_cidr",						\
	  "the destination is in outbound.exclude_cidrs")					\
	X(SHUNT_V_INCLUDE_CIDR, "redirect_include_cidr",					\
	  "the destination is in outbound.include_cidrs")					\
	X(SHUNT_V_NOT_INCLUDED, "direct_not_included", "the destination is in no include list") \
	X(SHUNT_V_NO_POLICY, "untouched_no_policy", "no policy is live: left alone")		\
	X(SHUNT_V_ORIGDST_FULL, "refused_origdst_full",						\
	  "the destination could not be remembered (the map is full): connect refused")	\
	X(SHUNT_V_DNS, "dns_captured", "DNS to a captured server (dns.servers / capture_all)")	\
	/* inbound (sk_lookup), istio-iptables' ISTIO_INBOUND chain */				\
	X(SHUNT_V_IN_STEERED, "inbound_steered", "to the proxy's inbound listener")		\
	X(SHUNT_V_IN_TUNNEL, "inbound_tunnel_port",						\
	  "the tunnel port (15008): to whoever listens")					\
	X(SHUNT_V_IN_LOCAL_SRC, "inbound_local_source",						\
	  "from the pod itself (127/8, ::1, own IP): direct")					\
	X(SHUNT_V_IN_EXCLUDE_PORT, "inbound_exclude_port", "inbound.exclude_ports: direct")	\
	X(SHUNT_V_IN_NOT_INCLUDED, "inbound_not_included", "not in inbound.include_ports: direct") \
	X(SHUNT_V_IN_EXCLUDE_SRC, "inbound_exclude_source",					\
	  "the source is in inbound.exclude_source_cidrs: direct")				\
	X(SHUNT_V_IN_NO_LISTENER, "inbound_refused_no_listener",				\
	  "the proxy is not listening: refused (fail-closed)")

/* Counters besides verdicts, after them in shunt_stats_v2: X(enum, name, metric, what it
 * counts). metric: its Prometheus series, one family per unit (shunt_ and the family; a
 * counter of the same thing as others carries their label), the counter's place in status. */
#define SHUNT_COUNTER_LIST(X)									\
	X(SHUNT_C_GETSOCKOPT_HIT, "so_original_dst_answered",					\
	  "so_original_dst_total{result=\"answered\"}", "SO_ORIGINAL_DST answered")		\
	X(SHUNT_C_GETSOCKOPT_MISS, "so_original_dst_unknown",					\
	  "so_original_dst_total{result=\"unknown\"}",						\
	  "SO_ORIGINAL_DST asked, no entry: the kernel's answer kept")				\
	X(SHUNT_C_GETPEERNAME_HIT, "getpeername_restored", "getpeername_restored_total",	\
	  "an app's getpeername shown the original destination")				\
	X(SHUNT_C_CONN_TRACKED, "conn_tracked", "connections_tracked_total{result=\"added\"}",	\
	  "redirected connection established, entry added")					\
	X(SHUNT_C_CONN_TRACK_FAIL, "conn_track_failed",						\
	  "connections_tracked_total{result=\"failed\"}", "conn entry insert failed")		\
	X(SHUNT_C_AUTO_MESHED, "netns_auto_meshed", "netns_auto_meshed_total",			\
	  "a netns became meshed by a proxy bind")						\
	X(SHUNT_C_ACCEL_SOCKETS, "fastpath_sockets_added",					\
	  "fastpath_sockets_total{result=\"added\"}", "sockets put on the fast path")		\
	X(SHUNT_C_ACCEL_SWITCHED_OFF, "fastpath_switched_off",					\
	  "fastpath_sockets_total{result=\"switched_off\"}",					\
	  "sockets kept off it: acceleration off (node/workload), or not a proxy-to-proxy leg "	\
	  "(acceleration: proxy)")								\
	X(SHUNT_C_ACCEL_INSERT_FAIL, "fastpath_insert_failed",					\
	  "fastpath_sockets_total{result=\"insert_failed\"}",					\
	  "sockhash insert failed (full): normal path")						\
	X(SHUNT_C_MSG_REDIRECTED, "fastpath_msgs", "fastpath_messages_total{path=\"redirected\"}", \
	  "messages moved socket to socket")							\
	X(SHUNT_C_BYTES_REDIRECTED, "fastpath_bytes", "fastpath_redirected_bytes_total",		\
	  "their bytes")									\
	X(SHUNT_C_MSG_PEER_MISSING, "fallback_peer_missing",					\
	  "fastpath_messages_total{path=\"fallback_peer_missing\"}",				\
	  "fallback: the peer is not (yet) on the fast path")					\
	X(SHUNT_C_MSG_DRAIN_GATE, "fallback_drain_gate",					\
	  "fastpath_messages_total{path=\"fallback_drain_gate\"}",				\
	  "fallback: the peer still has unread normal-path bytes")				\
	X(SHUNT_C_MSG_OVER_LIMIT, "fallback_over_limit",					\
	  "fastpath_messages_total{path=\"fallback_over_limit\"}",				\
	  "fallback: the peer's redirect queue is over the limit")				\
	X(SHUNT_C_INBOUND_LISTENER, "inbound_listener_handed_over",				\
	  "inbound_listeners_handed_over_total",						\
	  "the proxy's inbound listener was handed to sk_lookup")				\
	X(SHUNT_C_SO_ORIGINAL_DST_LOCAL, "so_original_dst_from_local_addr",			\
	  "so_original_dst_total{result=\"from_local_addr\"}",					\
	  "SO_ORIGINAL_DST answered from a steered socket's address")				\
	X(SHUNT_C_DNS_REPLY_RESTORED, "dns_reply_source_restored", "dns_replies_restored_total", \
	  "a DNS agent's UDP reply shown as from the server asked")

#define SHUNT_X_ENUM(e, name, what) e,
#define SHUNT_X_ENUM_C(e, name, metric, what) e,
enum shunt_verdict {
	SHUNT_VERDICT_LIST(SHUNT_X_ENUM)
	SHUNT_V_VERDICTS,
};

enum shunt_counter {
	SHUNT_C_BEFORE_FIRST = SHUNT_V_VERDICTS - 1, /* the first counter follows the verdicts */
	SHUNT_COUNTER_LIST(SHUNT_X_ENUM_C)
	SHUNT_COUNTERS,
};
#undef SHUNT_X_ENUM
#undef SHUNT_X_ENUM_C

/* Per-CPU counter cell of shunt_stats_v2. */
struct shunt_counter_val {
	__u64 count;
};

/* SO_ORIGINAL_DST (linux/netfilter_ipv4.h) and IP6T_SO_ORIGINAL_DST share the value. */
#define SHUNT_SO_ORIGINAL_DST 80
#define SHUNT_SOL_IP   0
#define SHUNT_SOL_IPV6 41

#define SHUNT_ACCEL_QUEUE_LIMIT_DEFAULT (4u << 20)

/* shunt trace. Each running `shunt trace` owns one of SHUNT_TRACE_RINGS ring buffers
 * (shunt_ring0_v1..): the programs copy every event to each ring whose bit is set in
 * shunt_trace_v1[0].active, after checking that word first, so with nobody tracing an event
 * costs one array lookup. A tracer killed with -9 leaves its bit set until `shunt run`, the
 * next `shunt trace` or `shunt status` sees its process gone. Events a full ring could not
 * take are counted per ring in shunt_trlost_v1. */
#define SHUNT_TRACE_RINGS 4
#define SHUNT_TRACE_RING_BYTES (256u << 10)

struct shunt_trace_ctl {
	__u32 active;            /* bit i: ring i has a tracer */
	__u32 pad0;
	__u32 pid[SHUNT_TRACE_RINGS];        /* the tracer of ring i */
	__u64 starttime[SHUNT_TRACE_RINGS];  /* its /proc/PID/stat start time, against PID reuse */
};

enum shunt_trace_kind {
	SHUNT_EV_OUTBOUND = 1,   /* connect / DNS sendmsg decided: `what` is the verdict */
	SHUNT_EV_INBOUND,        /* sk_lookup decided: `what` is the verdict */
	SHUNT_EV_ORIGDST,        /* SO_ORIGINAL_DST asked: `what` is the counter (answered...) */
	SHUNT_EV_FASTPATH,       /* a socket onto the fast path, or a message's fallback */
	SHUNT_EV_MESHED,         /* a netns meshed by its proxy's bind */
};

/* One event. src/dst as the socket in question sees them; orig = the original destination
 * where one is known. Ports in host order. pid/uid/comm only where a process is current
 * (connect, sendmsg, getsockopt); 0 elsewhere. */
struct shunt_trace_event {
	__u64 ts_ns;             /* bpf_ktime_get_ns (CLOCK_MONOTONIC) */
	__u64 netns_cookie;
	__u32 pid;
	__u32 uid;
	char  comm[16];
	__u8  kind;              /* enum shunt_trace_kind */
	__u8  what;              /* enum shunt_verdict or enum shunt_counter */
	__u16 to_port;           /* redirected to this port of 127.0.0.1/::1, 0 = not */
	__u16 src_port;
	__u16 dst_port;
	__u16 orig_port;
	__u16 pad0;
	__u32 pad1;
	struct shunt_ip src;
	struct shunt_ip dst;
	struct shunt_ip orig;
};

/* Map names (kernel object names stop at 15 characters). */
/* shunt_listen_v1's key is the netns cookie for the pod's IPv4 (or only) inbound listener,
 * with this bit set for its IPv6 one: a proxy may listen on 0.0.0.0 and [::] (v6-only). */
#define SHUNT_LISTEN_V6 (1ull << 63)

#define SHUNT_PIN_MAPS  "maps"
#define SHUNT_PIN_LINKS "links"
#define SHUNT_PIN_PROGS "progs"
/* links/sk_lookup_<netns cookie>: one per meshed pod netns */
#define SHUNT_PIN_SK_LOOKUP_PREFIX "sk_lookup_"

/* shunt_pname_v1 value: the Kubernetes pod a meshed netns belongs to, where shunt was told
 * (CNI ADD; pod-init with POD_NAMESPACE and POD_NAME set): `--pod NAMESPACE/NAME`, status,
 * trace. Written and read by user space only. */
struct shunt_podname {
	char ns[64];         /* a namespace name has at most 63 characters */
	char name[256];      /* a pod name at most 253 */
};

/* Every map of the contract, once: X(id, name, key bytes, value bytes, sizing, metric label).
 * name: the BPF object's and the pin's (15 characters at most; a new layout gets a new _vN).
 * Sizes: what user space reads and writes (0, 0: a ring buffer). sizing: SHUNT_MAP_FIXED, or
 * SHUNT_MAP_PER_CONN (one entry per connection in flight; --max-connections sets the room of
 * each). label: its name in shunt_map_entries{map=...} and capacity, NULL when not exported.
 * bpf/maps.bpf.h defines each; test_abi checks every line against the object's BTF; user/
 * generates its map ids, names, sizes, the per-connection set and the metrics from it. */
#define SHUNT_MAP_FIXED    0
#define SHUNT_MAP_PER_CONN 1
#define SHUNT_MAP_LIST(X)									\
	X(STATE, "shunt_state_v2", 8, sizeof(struct shunt_state), SHUNT_MAP_FIXED, NULL)	\
	X(CFG, "shunt_cfg_v2", sizeof(struct shunt_pol_key), sizeof(struct shunt_cfg),		\
	  SHUNT_MAP_FIXED, NULL)								\
	X(PORTS, "shunt_ports_v2", sizeof(struct shunt_port_key),				\
	  sizeof(struct shunt_port_block), SHUNT_MAP_FIXED, NULL)				\
	X(CIDRS, "shunt_cidrs_v2", sizeof(struct shunt_cidr_key), sizeof(struct shunt_cidr_val), \
	  SHUNT_MAP_FIXED, NULL)								\
	X(NETNS, "shunt_netns_v1", 8, sizeof(struct shunt_workload), SHUNT_MAP_FIXED,		\
	  "workloads")										\
	X(LOCAL, "shunt_local_v1", sizeof(struct shunt_local_key), 4, SHUNT_MAP_FIXED, NULL)	\
	X(ODST, "shunt_odst_v2", 8, sizeof(struct shunt_origdst), SHUNT_MAP_PER_CONN,		\
	  "original_destinations")								\
	X(CONN, "shunt_conn_v2", sizeof(struct shunt_tuple), sizeof(struct shunt_origdst),	\
	  SHUNT_MAP_PER_CONN, "connections")							\
	X(STATS, "shunt_stats_v2", 4, sizeof(struct shunt_counter_val), SHUNT_MAP_FIXED, NULL)	\
	X(SOCKS, "shunt_socks_v1", sizeof(struct shunt_tuple), 8, SHUNT_MAP_PER_CONN,		\
	  "fastpath_sockets")									\
	X(SKADDR, "shunt_skaddr_v1", sizeof(struct shunt_tuple), 8, SHUNT_MAP_PER_CONN,		\
	  "fastpath_addrs")									\
	X(PODIP, "shunt_podip_v1", sizeof(struct shunt_ip), 8, SHUNT_MAP_FIXED, "pod_addresses") \
	X(LISTEN, "shunt_listen_v1", 8, 8, SHUNT_MAP_FIXED, NULL)				\
	X(PBIND, "shunt_pbind_v1", 8, 4, SHUNT_MAP_FIXED, NULL)					\
	X(SLOTKEYS, "shunt_skeys_v2", sizeof(struct shunt_slotkeys_key),			\
	  sizeof(struct shunt_slotkeys), SHUNT_MAP_FIXED, NULL)					\
	X(TRACE, "shunt_trace_v1", 4, sizeof(struct shunt_trace_ctl), SHUNT_MAP_FIXED, NULL)	\
	X(TRLOST, "shunt_trlost_v1", 4, 8, SHUNT_MAP_FIXED, NULL)				\
	X(PODNAME, "shunt_pname_v1", 8, sizeof(struct shunt_podname), SHUNT_MAP_FIXED, NULL)	\
	X(RING0, "shunt_ring0_v1", 0, 0, SHUNT_MAP_FIXED, NULL)					\
	X(RING1, "shunt_ring1_v1", 0, 0, SHUNT_MAP_FIXED, NULL)					\
	X(RING2, "shunt_ring2_v1", 0, 0, SHUNT_MAP_FIXED, NULL)					\
	X(RING3, "shunt_ring3_v1", 0, 0, SHUNT_MAP_FIXED, NULL)

#endif /* SHUNT_ABI_H */
