// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* See apply.h. The live slot is never written: a failure leaves the running policy as is. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "apply.h"
#include "log.h"
#include "policy.h"
#include "workload.h"

int apply_config(const struct shunt_maps *m, const struct shunt_config *conf, __u32 slot,
		 __u32 generation, struct config_errors *errs)
{
	struct resolved_workload *wl = NULL;
	struct netns_census census;
	struct shunt_policy pol = { 0 };
	__u64 *live = NULL;
	size_t n_wl = 0, n_live = 0;
	int err;

	err = workload_census(conf, &census);
	if (err) {
		log_err("cannot list network namespaces: %s", strerror(-err));
		return err;
	}
	err = workload_resolve(conf, &census, slot, errs, &wl, &n_wl, &live, &n_live);
	workload_census_free(&census);
	if (err)
		return err;
	err = policy_compile(conf, slot, generation, &pol);
	if (err)
		goto out;

	err = maps_write_slot(m, slot, &pol);
	if (err) {
		log_err("cannot write policy slot %u: %s", slot, strerror(-err));
		goto out;
	}
	err = maps_sync_workloads(m, slot, wl, n_wl, live, n_live);
	if (err) {
		log_err("cannot update the meshed workloads: %s", strerror(-err));
		goto out;
	}
	err = maps_flip(m, slot, generation);
	if (err) {
		log_err("cannot switch to policy slot %u: %s", slot, strerror(-err));
		goto out;
	}
	log_info("policy generation %u live (slot %u): %zu CIDR entries, %zu meshed workloads",
		 generation, slot, pol.n_cidrs, n_wl);
out:
	policy_free(&pol);
	workload_resolved_free(wl, n_wl);
	free(live);
	return err;
}
