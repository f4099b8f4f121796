/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Putting a config into the kernel: find the node's network namespaces and which of them
 * are meshed, compile the policy into a slot and make it live with one write, then give
 * every meshed pod its sk_lookup link and its proxy's inbound listener. Shared by load
 * (first policy), apply (swap) and run (the same, again and again, as pods come and go).
 */
#ifndef SHUNT_APPLY_H
#define SHUNT_APPLY_H

#include "config.h"
#include "maps.h"

struct apply_target {
	const struct shunt_maps *m;
	const char *pin_dir;
	int sk_lookup_fd;      /* the sk_lookup program; -1 leaves inbound links alone */
	__u64 cgroup_id;       /* where the programs are attached: the pods shunt may scan */
};

/* The node's policy commit, for load, apply, run's reloads, upgrades and uninstall: compile
 * conf into the inactive slot as the next generation (maps_next_slot), flip to it, then
 * reconcile the pods. Workload problems come back as -EINVAL with errs filled, before any
 * map is touched. *generation: the one now live (may be NULL). */
int apply_config(const struct apply_target *t, const struct shunt_config *conf,
		 struct config_errors *errs, __u32 *generation);
/* The pinned shunt as a target: its maps, sk_lookup program and cgroup (m is where the map
 * fds live). Close with apply_target_close. The caller holds the pin lock. */
int apply_target_open(struct apply_target *t, struct shunt_maps *m, const char *pin_dir);
void apply_target_close(struct apply_target *t, struct shunt_maps *m);
/* apply_config on the shunt pinned at pin_dir, under its lock: what `shunt apply` and
 * `shunt uninstall` do. -ENOENT (said) when nothing is loaded there. */
int apply_pinned(const char *pin_dir, const struct shunt_config *conf, struct config_errors *errs,
		 __u32 *generation);
/* The live policy stays; only the meshed pods are brought up to date (new and gone
 * namespaces, addresses, sk_lookup links, listeners). Returns how many pods are meshed. */
int apply_refresh(const struct apply_target *t, const struct shunt_config *conf);

/* Mesh the netns ns (open as nsfd) with its own policy, as pod-init asked: the policy,
 * its addresses, its sk_lookup link, and last the workload entry that makes it meshed.
 * Fail-closed from the moment it returns 0. */
struct netns_seen;
int apply_register_pod(const struct apply_target *t, int nsfd, const struct netns_seen *ns,
		       const struct shunt_config *policy, __u32 *generation);
/* The pod of netns `cookie` leaves the mesh: entry, policy, addresses, sk_lookup link.
 * Nothing there is fine (0). */
int apply_unregister_pod(const struct apply_target *t, __u64 cookie);
/* Has any pod's network namespace gone (its sk_lookup link is defunct)? Cheap: one
 * syscall per meshed pod, so the daemon can notice a deleted pod within a tick. */
bool apply_links_defunct(const struct apply_target *t);

#endif
