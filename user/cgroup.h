/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* cgroup v2: where it is mounted, and opening the directory shunt attaches to. Its own file:
 * the loader, the netns census (workload.c), doctor and status all ask it. */
#ifndef SHUNT_CGROUP_H
#define SHUNT_CGROUP_H

#include <stddef.h>

/* The mount point of cgroup2 from /proc/mounts (/sys/fs/cgroup/unified on a hybrid host). */
int cgroup2_root(char *buf, size_t len);
/* Open the cgroup v2 directory `dir` (NULL: the cgroup2 root) into path; the fd, or -errno
 * with one sentence on stderr. */
int cgroup_open(const char *dir, char *path, size_t len);

#endif
