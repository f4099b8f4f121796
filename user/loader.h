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
/* Detach, unpin, remove the pin directory. */
int loader_unload(const struct loader_opts *o);

/* Shared with the in-place upgrade (upgrade.c), which loads the same skeleton. */
struct shunt_bpf;
struct bpf_program;
struct bpf_map;
/* Choose between program variants before the load (the kernel's kfuncs): the sk_msg one. */
struct bpf_program *loader_choose_variants(struct shunt_bpf *skel);
/* Is map one --max-connections sizes (SHUNT_MAP_PER_CONN)? */
bool loader_per_connection_map(const struct bpf_map *map);
/* Attach sk_msg to the sockhash, pinned under pin_dir (a link where the kernel has one). */
int loader_attach_sk_msg(struct shunt_bpf *skel, struct bpf_program *prog, const char *pin_dir);

#endif
