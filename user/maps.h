/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The maps of a loaded shunt, by id, whether they come from a fresh skeleton (load) or from
 * their pins (apply, status, dump): write a policy slot, flip it live, keep the meshed
 * workloads, read the counters.
 */
#ifndef SHUNT_MAPS_H
#define SHUNT_MAPS_H

#include <linux/types.h>
#include <stddef.h>
#include "shunt/abi.h"
#include "policy.h"

/* MAP_STATE, MAP_CFG, ...: one per line of SHUNT_MAP_LIST (abi.h), in its order */
enum shunt_map_id {
#define X(id, name, key, value, sizing, label) MAP_##id,
	SHUNT_MAP_LIST(X)
#undef X
	MAP_COUNT,
};

struct shunt_map_desc {
	const char *name;
	__u32 key_size, value_size;   /* 0, 0: a ring buffer */
	int sizing;                   /* SHUNT_MAP_FIXED or SHUNT_MAP_PER_CONN */
	const char *label;            /* in /metrics, or NULL */
};
extern const struct shunt_map_desc shunt_maps_desc[MAP_COUNT];
extern const char *const shunt_map_names[MAP_COUNT];

struct shunt_maps {
	int fd[MAP_COUNT];
};

/* A workload as the config (or a scan) resolved it: its netns cookie and addresses. */
struct resolved_workload {
	__u64 cookie;
	__u32 flags;           /* SHUNT_WL_SCANNED / SHUNT_WL_NO_ACCEL; explicit ones get the slot bit */
	__u32 workload_id;     /* config index + 1, 0 for scanned */
	const struct shunt_config *policy; /* its own policy from the config, or NULL */
	struct shunt_ip *addrs;
	size_t n_addrs;
};

void maps_init(struct shunt_maps *m);
void maps_close(struct shunt_maps *m);
/* Open every map from pin_dir/maps/. -ENOENT when shunt is not loaded there. */
int maps_open_pinned(struct shunt_maps *m, const char *pin_dir);

/* The live slot of owner's policy (SHUNT_OWNER_DEFAULT or a netns cookie). */
int maps_read_state(const struct shunt_maps *m, __u64 owner, struct shunt_state *st);
int maps_read_cfg(const struct shunt_maps *m, __u64 owner, __u32 slot, struct shunt_cfg *cfg);
/* Write policy p into slot `slot` of its owner (p->cidrs carry both). The live slot is not
 * touched. */
int maps_write_slot(const struct shunt_maps *m, __u32 slot, const struct shunt_policy *p);
/* Where owner's next policy goes: the inactive slot, one generation more than the live one;
 * slot 0, generation 1 for an owner with none yet. Every writer of a policy asks here. */
void maps_next_slot(const struct shunt_maps *m, __u64 owner, __u32 *slot, __u32 *generation);
/* Make owner's `slot` live: the one write that switches every new decision of that owner. */
int maps_flip(const struct shunt_maps *m, __u64 owner, __u32 slot, __u32 generation);
/* Compile conf as owner's policy into its inactive slot and flip to it: one pod's update,
 * atomic, touching no other owner. */
int maps_set_policy(const struct shunt_maps *m, __u64 owner, const struct shunt_config *conf,
		    __u32 *generation_out);
/* Remove a pod's own policy: its state first (decisions fall back to the default), then
 * every entry of both slots. */
/* A pod leaves the mesh: its workload entry, own policy, listener handles and local
 * addresses (the CNI DEL of a pod whose netns still exists). */
int maps_forget_pod(const struct shunt_maps *m, __u64 cookie);
int maps_delete_policy(const struct shunt_maps *m, __u64 owner);
/* Record a meshed pod's addresses: its own (shunt_local_v1) and whose they are
 * (shunt_podip_v1). The last -errno, after trying every address. */
int maps_record_addrs(const struct shunt_maps *m, __u64 cookie, const struct shunt_ip *addrs,
		      size_t n);
/* Mark explicit workloads (slot bit) and scanned ones; drop the slot bit elsewhere, and
 * drop entries left with no reason or whose netns is gone (live[] = cookies that exist),
 * with their own policies. Own policies from the config (wl[].policy) must be written
 * before (maps_set_policy); those the config no longer gives are removed here. Entries
 * registered by pod-init keep their policy until their netns is gone. */
int maps_sync_workloads(const struct shunt_maps *m, __u32 slot,
			const struct resolved_workload *wl, size_t n,
			const __u64 *live, size_t n_live);
/* Sum the per-CPU counters into out[SHUNT_COUNTERS]. */
int maps_read_counters(const struct shunt_maps *m, __u64 *out);
/* Number of entries of a hash/LPM map (walks the keys). */
long maps_count_entries(int fd, size_t key_size);
/* A map's capacity (max_entries), 0 if it cannot be read. */
__u32 maps_max_entries(int fd);

/* Record that netns cookie is the pod ns/name (CNI ADD, pod-init with the pod's name). */
int maps_set_podname(const struct shunt_maps *m, __u64 cookie, const char *ns, const char *name);
/* "namespace/name" of netns cookie into buf; -ENOENT when shunt was not told. */
int maps_podname(const struct shunt_maps *m, __u64 cookie, char *buf, size_t len);
/* --pod: NAMESPACE/NAME (a pod shunt knows the name of), a /run/netns name, or a netns path
 * (starting with '/'). The meshed netns's cookie; what (into what) was looked for, for the
 * error; -ESRCH when it is no meshed pod. */
int maps_find_pod(const struct shunt_maps *m, const char *pod, __u64 *cookie, char *what,
		  size_t len);
/* The cookie of the meshed netns whose file is path (by the inode shunt recorded when it
 * meshed it); -ESRCH when no workload has it. */
int maps_find_netns(const struct shunt_maps *m, const char *path, __u64 *cookie);

#endif
