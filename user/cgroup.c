// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* cgroup v2: the mount and the attach directory; see cgroup.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/magic.h>
#include <sys/vfs.h>
#include "cgroup.h"
#include "log.h"

int cgroup2_root(char *buf, size_t len)
{
	char dev[256], dir[PATH_MAX], type[64];
	FILE *f = fopen("/proc/mounts", "re");
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (fscanf(f, "%255s %4095s %63s %*[^\n]", dev, dir, type) == 3) {
		if (!strcmp(type, "cgroup2")) {
			snprintf(buf, len, "%s", dir);
			err = 0;
			break;
		}
	}
	fclose(f);
	return err;
}

int cgroup_open(const char *cg_opt, char *path, size_t len)
{
	struct statfs st;
	int fd;

	if (cg_opt) {
		snprintf(path, len, "%s", cg_opt);
	} else if (cgroup2_root(path, len)) {
		log_err("no cgroup2 filesystem is mounted (see /proc/mounts); mount one or pass --cgroup");
		return -ENOENT;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int err = -errno;

		log_err("cannot open cgroup %s: %s", path, strerror(-err));
		return err;
	}
	if (fstatfs(fd, &st) || st.f_type != CGROUP2_SUPER_MAGIC) {
		log_err("%s is not a cgroup v2 directory", path);
		close(fd);
		return -ENOTDIR;
	}
	return fd;
}
