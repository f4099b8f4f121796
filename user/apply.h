/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Putting a config into the maps: find its workloads, compile its policy into a slot, and
 * make that slot live with one write. Shared by load (first policy) and apply (swap).
 */
#ifndef SHUNT_APPLY_H
#define SHUNT_APPLY_H

#include "config.h"
#include "maps.h"

/* Write conf into `slot` as `generation` and flip to it. Workload problems come back as
 * -EINVAL with errs filled, before any map is touched. */
int apply_config(const struct shunt_maps *m, const struct shunt_config *conf, __u32 slot,
		 __u32 generation, struct config_errors *errs);

#endif
