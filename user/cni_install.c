// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* See cni_install.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <json-c/json.h>
#include "cni_install.h"

#define PLUGIN_TYPE "shunt-cni"

static int msgf(char *msg, size_t len, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int msgf(char *msg, size_t len, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	return ret;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_conf(const struct dirent *d)
{
	return d->d_name[0] != '.' && (ends_with(d->d_name, ".conflist") ||
				       ends_with(d->d_name, ".conf") || ends_with(d->d_name, ".json"));
}

/* Write text to path atomically (a temporary file in the same directory, renamed), mode. */
static int write_atomic(const char *path, const void *buf, size_t n, mode_t mode)
{
	char tmp[PATH_MAX];
	const char *p = buf;
	int fd, err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.shunt-tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	while (n && !err) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno != EINTR)
			err = -errno;
		else if (w > 0) {
			p += w;
			n -= (size_t)w;
		}
	}
	if (!err && (fchmod(fd, mode) || fsync(fd)))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

static int copy_plugin(const char *src, const char *bin_dir, char *msg, size_t len)
{
	char dst[PATH_MAX];
	struct stat st;
	char *buf;
	ssize_t n;
	int fd, err;

	fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st))
		return msgf(msg, len, -errno, "cannot read the plugin %s: %s", src, strerror(errno));
	buf = malloc((size_t)st.st_size + 1);
	n = buf ? read(fd, buf, (size_t)st.st_size) : -1;
	close(fd);
	if (n != st.st_size) {
		free(buf);
		return msgf(msg, len, -EIO, "cannot read the plugin %s", src);
	}
	snprintf(dst, sizeof(dst), "%s/" PLUGIN_TYPE, bin_dir);
	/* the same bytes already there: leave the file (and its inode) alone */
	fd = open(dst, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		struct stat ds;
		char *old = NULL;
		bool same = !fstat(fd, &ds) && ds.st_size == st.st_size && (old = malloc((size_t)n + 1)) &&
			    read(fd, old, (size_t)n) == n && !memcmp(old, buf, (size_t)n);

		free(old);
		close(fd);
		if (same) {
			free(buf);
			return 1;
		}
	}
	err = write_atomic(dst, buf, (size_t)n, 0755);
	free(buf);
	if (err)
		return msgf(msg, len, err, "cannot install the plugin as %s: %s", dst, strerror(-err));
	return 0;
}

/* The plugin next to this binary (the image ships both in one directory). */
static const char *default_plugin(char *buf, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return NULL;
	self[n] = '\0';
	snprintf(buf, len, "%s/" PLUGIN_TYPE, dirname(self));
	return buf;
}

static struct json_object *our_entry(const struct cni_install_opts *o)
{
	struct json_object *e = json_object_new_object(), *ex = json_object_new_array();

	json_object_object_add(e, "type", json_object_new_string(PLUGIN_TYPE));
	json_object_object_add(e, "socket", json_object_new_string(o->socket));
	json_object_array_add(ex, json_object_new_string("kube-system"));
	json_object_object_add(e, "exclude_namespaces", ex);
	json_object_object_add(e, "log_level", json_object_new_string("info"));
	if (o->log_json)
		json_object_object_add(e, "log_format", json_object_new_string("json"));
	return e;
}

static bool is_ours(struct json_object *plugin)
{
	struct json_object *t;

	return json_object_object_get_ex(plugin, "type", &t) &&
	       json_object_is_type(t, json_type_string) &&
	       !strcmp(json_object_get_string(t), PLUGIN_TYPE);
}

/* Remove every shunt-cni entry of a plugins array; how many went. */
static int drop_ours(struct json_object *plugins)
{
	int n = 0;

	for (size_t i = json_object_array_length(plugins); i-- > 0;) {
		if (is_ours(json_object_array_get_idx(plugins, i))) {
			json_object_array_del_idx(plugins, i, 1);
			n++;
		}
	}
	return n;
}

/* The first network configuration by name, as the runtime picks it: its path. */
static int first_conf(const char *dir, char *path, size_t len, char *msg, size_t mlen)
{
	struct dirent **names;
	int n = scandir(dir, &names, is_conf, by_name);

	if (n < 0)
		return msgf(msg, mlen, -errno, "cannot read the CNI configuration directory %s: %s",
			    dir, strerror(errno));
	if (n == 0) {
		free(names);
		return msgf(msg, mlen, -ENOENT, "no CNI network configuration in %s yet: the "
			    "cluster's network plugin writes one first", dir);
	}
	snprintf(path, len, "%s/%s", dir, names[0]->d_name);
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return 0;
}

static int load(const char *path, struct json_object **obj, struct stat *st, char *msg, size_t len)
{
	if (stat(path, st))
		return msgf(msg, len, -errno, "%s: %s", path, strerror(errno));
	*obj = json_object_from_file(path);
	if (!*obj || !json_object_is_type(*obj, json_type_object)) {
		json_object_put(*obj);
		return msgf(msg, len, -EINVAL, "%s is not a JSON object: not touching it", path);
	}
	return 0;
}

static int store(const char *path, struct json_object *obj, mode_t mode, char *msg, size_t len)
{
	const char *text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_NOSLASHESCAPE);
	int err = write_atomic(path, text, strlen(text), mode);

	return err ? msgf(msg, len, err, "cannot write %s: %s", path, strerror(-err)) : 0;
}

bool cni_installed(const struct cni_install_opts *o, char *path, size_t len)
{
	char msg[256];
	struct json_object *obj = NULL, *plugins;
	struct stat st;
	bool ok = false;
	size_t n;

	if (first_conf(o->conf_dir, path, len, msg, sizeof(msg)) || !ends_with(path, ".conflist") ||
	    load(path, &obj, &st, msg, sizeof(msg)))
		return false;
	/* last in the chain: it sees the pod's interface set up */
	if (json_object_object_get_ex(obj, "plugins", &plugins) &&
	    json_object_is_type(plugins, json_type_array) && (n = json_object_array_length(plugins)))
		ok = is_ours(json_object_array_get_idx(plugins, n - 1));
	json_object_put(obj);
	return ok;
}

int cni_install(const struct cni_install_opts *o, char *msg, size_t len)
{
	char path[PATH_MAX], plugin_buf[PATH_MAX];
	const char *plugin = o->plugin ? o->plugin : default_plugin(plugin_buf, sizeof(plugin_buf));
	struct json_object *obj = NULL, *plugins;
	struct stat st;
	int err, copied;

	if (!plugin)
		return msgf(msg, len, -ENOENT, "cannot tell where the shunt-cni plugin is");
	/* nothing at all until there is a configuration to add it to */
	err = first_conf(o->conf_dir, path, sizeof(path), msg, len);
	if (err)
		return err;
	copied = copy_plugin(plugin, o->bin_dir, msg, len);
	if (copied < 0)
		return copied;
	if (cni_installed(o, path, sizeof(path)))
		return copied == 1 ? msgf(msg, len, 1, "shunt-cni is in place in %s", path)
				   : msgf(msg, len, 0, "plugin updated in %s; the entry is in %s",
					  o->bin_dir, path);
	err = first_conf(o->conf_dir, path, sizeof(path), msg, len);
	if (!err)
		err = load(path, &obj, &st, msg, len);
	if (err)
		return err;
	if (json_object_object_get_ex(obj, "plugins", &plugins)) {
		if (!json_object_is_type(plugins, json_type_array)) {
			json_object_put(obj);
			return msgf(msg, len, -EINVAL, "%s: 'plugins' is not a list: not touching it",
				    path);
		}
		drop_ours(plugins);
		json_object_array_add(plugins, our_entry(o));
		err = store(path, obj, st.st_mode & 07777, msg, len);
		if (!err)
			msgf(msg, len, 0, "shunt-cni appended to %s", path);
	} else {
		/* a single-plugin .conf: wrap it into a .conflist, the plugin appended */
		struct json_object *list = json_object_new_object(), *arr = json_object_new_array();
		struct json_object *v;
		char out[PATH_MAX + 16];

		if (json_object_object_get_ex(obj, "cniVersion", &v))
			json_object_object_add(list, "cniVersion", json_object_get(v));
		if (json_object_object_get_ex(obj, "name", &v))
			json_object_object_add(list, "name", json_object_get(v));
		json_object_array_add(arr, json_object_get(obj));
		json_object_array_add(arr, our_entry(o));
		json_object_object_add(list, "plugins", arr);
		/* name.conf or name.json -> name.conflist */
		snprintf(out, sizeof(out), "%.*s.conflist", (int)(strrchr(path, '.') - path), path);
		err = store(out, list, st.st_mode & 07777, msg, len);
		if (!err && strcmp(out, path) && unlink(path))
			err = msgf(msg, len, -errno, "cannot remove %s: %s", path, strerror(errno));
		if (!err)
			msgf(msg, len, 0, "%s wrapped into %s with shunt-cni appended", path, out);
		json_object_put(list);
	}
	json_object_put(obj);
	return err;
}

int cni_uninstall(const struct cni_install_opts *o, char *msg, size_t len)
{
	struct dirent **names;
	char path[PATH_MAX], bin[PATH_MAX];
	int n = scandir(o->conf_dir, &names, is_conf, by_name), removed = 0, err = 0;

	if (n < 0)
		return msgf(msg, len, -errno, "cannot read %s: %s", o->conf_dir, strerror(errno));
	for (int i = 0; i < n; i++) {
		struct json_object *obj = NULL, *plugins;
		struct stat st;
		char m[256];

		snprintf(path, sizeof(path), "%s/%s", o->conf_dir, names[i]->d_name);
		free(names[i]);
		if (load(path, &obj, &st, m, sizeof(m)))
			continue;
		if (json_object_object_get_ex(obj, "plugins", &plugins) &&
		    json_object_is_type(plugins, json_type_array) && drop_ours(plugins)) {
			if (store(path, obj, st.st_mode & 07777, m, sizeof(m)) && !err)
				err = msgf(msg, len, -EIO, "%s", m);
			else
				removed++;
		}
		json_object_put(obj);
	}
	free(names);
	snprintf(bin, sizeof(bin), "%s/" PLUGIN_TYPE, o->bin_dir);
	if (unlink(bin) && errno != ENOENT && !err)
		err = msgf(msg, len, -errno, "cannot remove %s: %s", bin, strerror(errno));
	if (!err)
		msgf(msg, len, 0, "shunt-cni removed from %d configuration(s) and %s", removed, o->bin_dir);
	return err;
}
