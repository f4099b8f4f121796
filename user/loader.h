/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The BPF lifecycle: preflight checks, open -> load -> fill maps -> attach through bpf_links
 * -> pin; and the reverse. Programs stay attached after shunt exits because the links and
 * maps are pinned.
 */
#ifndef SHUNT_LOADER_H
#define SHUNT_LOADER_H

#include <stddef.h>
#include "config.h"

struct loader_opts {
	const char *pin_dir;
	const char *cgroup;    /* NULL: the cgroup2 root from /proc/mounts */
	__u32 max_conns;       /* 0: the built-in size of the per-connection maps */
};

/* Bounds of --max-connections. */
#define LOADER_MIN_CONNS 64u
#define LOADER_MAX_CONNS (1u << 24)

/* Root/capabilities, BTF, the hooks shunt needs. One sentence on stderr per failure. */
int loader_preflight(bool quiet);
/* What the last loader_preflight() found missing, as it logged it unless quiet ("" when
 * nothing). */
const char *loader_preflight_why(void);
/* Load, fill the maps from conf, attach, pin. On failure nothing stays attached or pinned.
 * -EINVAL means conf was refused (errs filled). */
int loader_load(const struct shunt_config *conf, const struct loader_opts *o,
		struct config_errors *errs);
/* The shunt at o->pin_dir speaks another ABI: replace it in place without a window. Each
 * pinned map of the same name and BTF layout is kept with its entries, new ones are pinned,
 * conf is applied, then every pinned link (cgroup hooks, sk_msg, each pod's sk_lookup) moves
 * to its new program with bpf_link_update, and maps this build lacks are unpinned. A map of
 * another layout under the same name, or a sockhash with no successor, refuses the whole
 * upgrade before anything changed; a failed link move puts the moved ones back.
 * Returns 1 if the loaded shunt speaks this ABI (nothing to do), 0 when replaced. */
int loader_upgrade(const struct shunt_config *conf, const struct loader_opts *o,
		   struct config_errors *errs);
/* Detach, unpin, remove the pin directory. */
int loader_unload(const struct loader_opts *o);

#endif
