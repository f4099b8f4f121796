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
int loader_preflight(void);
/* The mount point of cgroup2 from /proc/mounts. */
int loader_cgroup2_root(char *buf, size_t len);
/* Load, fill the maps from conf, attach, pin. On failure nothing stays attached or pinned.
 * -EINVAL means conf was refused (errs filled). */
int loader_load(const struct shunt_config *conf, const struct loader_opts *o,
		struct config_errors *errs);
/* Detach, unpin, remove the pin directory. */
int loader_unload(const struct loader_opts *o);

#endif
