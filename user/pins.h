/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The pin directory: PIN_DIR/maps/<map>, PIN_DIR/links/<program>. bpffs is mounted when
 * missing; the directory is flock()ed while shunt changes it.
 */
#ifndef SHUNT_PINS_H
#define SHUNT_PINS_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#define PINS_DEFAULT_DIR "/sys/fs/bpf/shunt"

void pins_path(char *buf, size_t len, const char *pin_dir, const char *sub, const char *name);
/* Make sure pin_dir can live on bpffs (mounting /sys/fs/bpf if that is what is missing). */
int pins_prepare_bpffs(const char *pin_dir);
/* Create (if create) and lock pin_dir; returns the locked fd or -errno. */
int pins_lock(const char *pin_dir, bool create);
void pins_unlock(int fd);
/* fd of a program pinned under pin_dir/progs, or -1. */
int pins_open_prog(const char *pin_dir, const char *name);
/* True when programs are pinned under pin_dir. */
bool pins_loaded(const char *pin_dir);
/* pins_loaded(), and when not, one sentence why: not loaded, or not allowed to look. */
bool pins_require_loaded(const char *pin_dir);
/* The id of the cgroup shunt's programs are attached to (from the connect4 link); 0 when
 * it cannot be read. */
__u64 pins_cgroup_id(const char *pin_dir);
/* The names under pin_dir/sub (maps, links, progs), dot-files left out: a malloc'd array of
 * *n entries (free() it), NULL with -errno in *err when the directory cannot be read. */
struct pin_name {
	char name[256];
};
struct pin_name *pins_list(const char *pin_dir, const char *sub, size_t *n, int *err);
/* Remove every pin shunt made and the directories; leaves foreign files and says so. */
int pins_remove_all(const char *pin_dir);

#endif
