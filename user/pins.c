// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Pin directory handling: bpffs, layout, locking, removal. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include "shunt/abi.h"
#include "log.h"
#include "pins.h"

void pins_path(char *buf, size_t len, const char *pin_dir, const char *sub, const char *name)
{
	if (name)
		snprintf(buf, len, "%s/%s/%s", pin_dir, sub, name);
	else
		snprintf(buf, len, "%s/%s", pin_dir, sub);
}

static bool is_bpffs(const char *path)
{
	struct statfs st;

	return !statfs(path, &st) && st.f_type == BPF_FS_MAGIC;
}

int pins_prepare_bpffs(const char *pin_dir)
{
	char parent[PATH_MAX], *slash;
	struct stat st;

	if (strlen(pin_dir) >= sizeof(parent) || pin_dir[0] != '/') {
		log_err("pin directory '%s' must be an absolute path", pin_dir);
		return -EINVAL;
	}
	/* The nearest existing ancestor decides which filesystem the pins land on. */
	strcpy(parent, pin_dir);
	while (stat(parent, &st)) {
		slash = strrchr(parent, '/');
		if (!slash || slash == parent) {
			strcpy(parent, "/");
			break;
		}
		*slash = '\0';
	}
	if (is_bpffs(parent))
		return 0;
	if (!strcmp(parent, "/sys/fs/bpf") || !strncmp(pin_dir, "/sys/fs/bpf/", 12)) {
		if (stat("/sys/fs/bpf", &st) && mkdir("/sys/fs/bpf", 0700)) {
			log_err("cannot create /sys/fs/bpf: %s", strerror(errno));
			return -errno;
		}
		if (!is_bpffs("/sys/fs/bpf")) {
			if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700")) {
				int err = -errno;

				log_err("bpffs is not mounted at /sys/fs/bpf and mounting it failed: %s",
					strerror(-err));
				return err;
			}
			log_info("mounted bpffs at /sys/fs/bpf");
		}
		return 0;
	}
	log_err("pin directory '%s' is not on a bpf filesystem (mount -t bpf bpf DIR first)",
		pin_dir);
	return -ENOTSUP;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

int pins_lock(const char *pin_dir, bool create)
{
	struct timespec wait = { 0, 50 * 1000 * 1000 };
	int fd, err;

	if (create) {
		err = mkdir_p(pin_dir, 0700);
		if (err) {
			log_err("cannot create pin directory %s: %s", pin_dir, strerror(-err));
			return err;
		}
	}
	fd = open(pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* Another shunt may be mid-change: wait up to 10 s, then say who holds it. */
	for (int i = 0; i < 200; i++) {
		if (!flock(fd, LOCK_EX | LOCK_NB))
			return fd;
		if (errno != EWOULDBLOCK) {
			err = -errno;
			close(fd);
			return err;
		}
		nanosleep(&wait, NULL);
	}
	log_err("another shunt holds the lock on %s; try again when it is done", pin_dir);
	close(fd);
	return -EBUSY;
}

void pins_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

int pins_open_prog(const char *pin_dir, const char *name)
{
	char path[PATH_MAX];
	int fd;

	pins_path(path, sizeof(path), pin_dir, SHUNT_PIN_PROGS, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		log_warn("cannot open pinned program %s: %s", path, strerror(errno));
	return fd;
}

bool pins_loaded(const char *pin_dir)
{
	char path[PATH_MAX];
	struct stat st;

	pins_path(path, sizeof(path), pin_dir, SHUNT_PIN_LINKS, NULL);
	return !stat(path, &st) && S_ISDIR(st.st_mode);
}

bool pins_require_loaded(const char *pin_dir)
{
	char path[PATH_MAX];
	struct stat st;

	pins_path(path, sizeof(path), pin_dir, SHUNT_PIN_LINKS, NULL);
	if (!stat(path, &st) && S_ISDIR(st.st_mode))
		return true;
	if (errno == EACCES)
		log_err("cannot look into %s: permission denied (this needs root)", pin_dir);
	else
		log_err("shunt is not loaded at %s", pin_dir);
	return false;
}

static int remove_dir_entries(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(dir);
	int err = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (unlink(path)) {
			err = -errno;
			log_err("cannot remove %s: %s", path, strerror(errno));
		}
	}
	closedir(d);
	if (rmdir(dir) && errno != ENOENT) {
		err = -errno;
		log_err("cannot remove %s: %s", dir, strerror(errno));
	}
	return err;
}

struct pin_name *pins_list(const char *pin_dir, const char *sub, size_t *n, int *err)
{
	char path[PATH_MAX];
	struct pin_name *v = NULL;
	struct dirent *de;
	size_t cap = 0;
	DIR *d;

	*n = 0;
	*err = 0;
	pins_path(path, sizeof(path), pin_dir, sub, NULL);
	d = opendir(path);
	if (!d) {
		*err = -errno;
		return NULL;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (*n == cap) {
			struct pin_name *g = realloc(v, (cap = cap ? cap * 2 : 32) * sizeof(*v));

			if (!g) {
				*err = -ENOMEM;
				break;
			}
			v = g;
		}
		snprintf(v[(*n)++].name, sizeof(v->name), "%s", de->d_name);
	}
	closedir(d);
	if (*err) {
		free(v);
		*n = 0;
		return NULL;
	}
	return v ? v : calloc(1, sizeof(*v));    /* an empty directory is not an error */
}

int pins_remove_all(const char *pin_dir)
{
	char path[PATH_MAX];
	int err, e2;

	/* Links first: detaching before the maps vanish keeps programs from running on
	 * half-removed state (they hold their own map references anyway). */
	pins_path(path, sizeof(path), pin_dir, SHUNT_PIN_LINKS, NULL);
	err = remove_dir_entries(path);
	pins_path(path, sizeof(path), pin_dir, SHUNT_PIN_PROGS, NULL);
	e2 = remove_dir_entries(path);
	if (!err)
		err = e2;
	pins_path(path, sizeof(path), pin_dir, SHUNT_PIN_MAPS, NULL);
	e2 = remove_dir_entries(path);
	if (!err)
		err = e2;
	if (rmdir(pin_dir) && errno != ENOENT) {
		if (!err)
			err = -errno;
		log_err("cannot remove %s: %s (files not made by shunt?)", pin_dir, strerror(errno));
	}
	return err;
}

__u64 pins_cgroup_id(const char *pin_dir)
{
	struct bpf_link_info li = { 0 };
	__u32 len = sizeof(li);
	char path[PATH_MAX];
	int fd;

	pins_path(path, sizeof(path), pin_dir, SHUNT_PIN_LINKS, "shunt_connect4");
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &li, &len) || li.type != BPF_LINK_TYPE_CGROUP)
		li.cgroup.cgroup_id = 0;
	close(fd);
	return li.cgroup.cgroup_id;
}
