/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The in-place upgrade: a shunt of another ABI replaced without a window. */
#ifndef SHUNT_UPGRADE_H
#define SHUNT_UPGRADE_H

#include "config.h"
#include "loader.h"

/* The shunt at o->pin_dir speaks another ABI: replace it in place without a window. Each
 * pinned map of the same name and BTF layout is kept with its entries, new ones are pinned,
 * conf is applied, then every pinned link (cgroup hooks, sk_msg, each pod's sk_lookup) moves
 * to its new program with bpf_link_update, and maps this build lacks are unpinned. A map of
 * another layout under the same name, or a sockhash with no successor, refuses the whole
 * upgrade before anything changed; a failed link move puts the moved ones back.
 * Returns 1 if the loaded shunt speaks this ABI (nothing to do), 0 when replaced. */
int loader_upgrade(const struct shunt_config *conf, const struct loader_opts *o,
		   struct config_errors *errs);

#endif
