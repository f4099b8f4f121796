// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* BPF lifecycle; see loader.h. The skeleton is the only place the BPF object comes from. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "shunt.skel.h"
#include "apply.h"
#include "cgroup.h"
#include "loader.h"
#include "log.h"
#include "maps.h"
#include "pins.h"

#ifndef CAP_BPF
#define CAP_BPF 39
#endif

static int has_cap(const struct __user_cap_data_struct *d, int cap)
{
	return (d[cap / 32].effective >> (cap % 32)) & 1;
}

static char preflight_why[256];

const char *loader_preflight_why(void)
{
	return preflight_why;
}

static bool preflight_quiet;

static void preflight_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void preflight_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(preflight_why, sizeof(preflight_why), fmt, ap);
	va_end(ap);
	if (!preflight_quiet)
		log_err("%s", preflight_why);
}

int loader_preflight(bool quiet)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2] = { { 0 } };
	static const struct {
		enum bpf_prog_type type;
		const char *hook;
	} hooks[] = {
		{ BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "cgroup sock_addr (connect4/6, getpeername)" },
		{ BPF_PROG_TYPE_CGROUP_SOCK, "cgroup sock (post_bind)" },
		{ BPF_PROG_TYPE_SOCK_OPS, "sockops" },
		{ BPF_PROG_TYPE_CGROUP_SOCKOPT, "cgroup getsockopt" },
	};

	preflight_quiet = quiet;
	preflight_why[0] = '\0';
	if (syscall(SYS_capget, &hdr, data) == 0 && !has_cap(data, CAP_SYS_ADMIN) &&
	    !(has_cap(data, CAP_BPF) && has_cap(data, CAP_NET_ADMIN))) {
		preflight_fail("this needs root (CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN)");
		return -EPERM;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		preflight_fail("this kernel has no BTF (/sys/kernel/btf/vmlinux is missing); shunt needs "
			"CONFIG_DEBUG_INFO_BTF=y");
		return -ENOTSUP;
	}
	/* A seccomp profile or a missing capability makes every probe below fail as if the
	 * kernel lacked the hook: tell that apart first. */
	{
		int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 4, 1, NULL);

		if (fd < 0) {
			preflight_fail("the bpf() system call is refused here (%s): in a container, shunt "
				"needs CAP_SYS_ADMIN and CAP_SYS_PTRACE and a seccomp profile that "
				"allows bpf() with them (the runtime's default does)", strerror(errno));
			return -EPERM;
		}
		close(fd);
	}
	for (size_t i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++) {
		if (libbpf_probe_bpf_prog_type(hooks[i].type, NULL) != 1) {
			preflight_fail("this kernel lacks the %s BPF hook shunt needs", hooks[i].hook);
			return -ENOTSUP;
		}
	}
	return 0;
}

/* Does the running kernel have this kfunc? Looked up in its BTF (vmlinux), which is where
 * libbpf would resolve the call; no version number is trusted. */
static bool kernel_has_kfunc(const char *name)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	bool found;

	if (!vmlinux)
		return false;
	found = btf__find_by_name_kind(vmlinux, name, BTF_KIND_FUNC) >= 0;
	btf__free(vmlinux);
	return found;
}

/* Choose between program variants before the load: only the chosen one is loaded. */
static struct bpf_program *choose_variants(struct shunt_bpf *skel)
{
	bool cast = kernel_has_kfunc("bpf_rdonly_cast");

	bpf_program__set_autoload(skel->progs.shunt_sk_msg, cast);
	bpf_program__set_autoload(skel->progs.shunt_sk_msg_pr, !cast);
	if (!cast)
		log_info("this kernel has no bpf_rdonly_cast kfunc (before 6.2): the fast path reads "
			 "peer sockets with bpf_probe_read_kernel (shunt_sk_msg_pr, ~150 ns more per "
			 "message); nothing else changes");
	return cast ? skel->progs.shunt_sk_msg : skel->progs.shunt_sk_msg_pr;
}

/* The maps --max-connections sizes (SHUNT_MAP_PER_CONN in abi.h's list): every
 * per-connection map has the same room, as one connection can need an entry in each. */
static bool per_connection_map(const struct shunt_bpf *skel, const struct bpf_map *map)
{
	(void)skel;
	for (int i = 0; i < MAP_COUNT; i++)
		if (shunt_maps_desc[i].sizing == SHUNT_MAP_PER_CONN &&
		    !strcmp(bpf_map__name(map), shunt_maps_desc[i].name))
			return true;
	return false;
}

/* sk_msg runs on sends of sockets in the sockhash. A sockmap bpf_link (kernel 6.10+) can be
 * pinned like the others; older kernels only have bpf_prog_attach, which lasts as long as
 * the (pinned) map does. libbpf 1.1 has no helper for either: use the raw calls. */
static int attach_sk_msg(struct shunt_bpf *skel, struct bpf_program *prog, const char *pin_dir)
{
	int prog_fd = bpf_program__fd(prog);
	int map_fd = bpf_map__fd(skel->maps.shunt_socks_v1);
	char path[PATH_MAX];
	int link_fd, err;

	link_fd = bpf_link_create(prog_fd, map_fd, BPF_SK_MSG_VERDICT, NULL);
	if (link_fd >= 0) {
		pins_path(path, sizeof(path), pin_dir, SHUNT_PIN_LINKS, "shunt_sk_msg");
		err = bpf_obj_pin(link_fd, path) ? -errno : 0;
		close(link_fd);
		if (err)
			log_err("cannot pin link at %s: %s", path, strerror(-err));
		return err;
	}
	log_debug("no sockmap bpf_link (%s): attaching sk_msg with bpf_prog_attach",
		  strerror(errno));
	if (bpf_prog_attach(prog_fd, map_fd, BPF_SK_MSG_VERDICT, 0)) {
		err = -errno;
		log_err("cannot attach %s to the sockhash: %s", bpf_program__name(prog), strerror(-err));
		return err;
	}
	return 0;
}

int loader_load(const struct shunt_config *conf, const struct loader_opts *o,
		struct config_errors *errs)
{
	static const char *const subdirs[] = { SHUNT_PIN_MAPS, SHUNT_PIN_LINKS, SHUNT_PIN_PROGS };
	struct bpf_link *links[16] = { 0 };
	struct apply_target target;
	struct shunt_bpf *skel = NULL;
	struct bpf_program *prog, *sk_msg;
	struct shunt_maps m;
	char cgpath[PATH_MAX], path[PATH_MAX];
	struct stat cgst;
	size_t n_links = 0;
	int cgfd, lockfd = -1, err;
	bool pinned = false;

	maps_init(&m);
	cgfd = cgroup_open(o->cgroup, cgpath, sizeof(cgpath));
	if (cgfd < 0)
		return cgfd;
	err = pins_prepare_bpffs(o->pin_dir);
	if (err)
		goto out;
	if (pins_loaded(o->pin_dir)) {
		log_err("shunt is already loaded at %s (use 'shunt apply' to change the policy, "
			"'shunt unload' to remove it)", o->pin_dir);
		err = -EEXIST;
		goto out;
	}
	lockfd = pins_lock(o->pin_dir, true);
	if (lockfd < 0) {
		err = lockfd;
		goto out;
	}
	if (pins_loaded(o->pin_dir)) { /* lost a race with another load */
		log_err("shunt is already loaded at %s", o->pin_dir);
		err = -EEXIST;
		goto out_unlock;
	}
	pinned = true; /* from here on, failure removes what we made */

	skel = shunt_bpf__open();
	if (!skel) {
		err = -errno;
		log_err("cannot open the BPF object: %s", strerror(-err));
		goto out_unlock;
	}
	sk_msg = choose_variants(skel);
	skel->rodata->shunt_abi_lo = SHUNT_ABI_VERSION;   /* the policy this binary writes */
	skel->rodata->shunt_abi_hi = SHUNT_ABI_VERSION;
	if (o->max_conns) {
		struct bpf_map *map;

		bpf_object__for_each_map(map, skel->obj)
			if (per_connection_map(skel, map))
				bpf_map__set_max_entries(map, o->max_conns);
	}
	err = shunt_bpf__load(skel);
	if (err) {
		log_err("the kernel refused shunt's BPF programs: %s%s", strerror(-err),
			log_verbosity >= LOG_DEBUG ? "" : " (run with -vv for the verifier log)");
		goto out_unlock;
	}
	for (int i = 0; i < MAP_COUNT; i++) {
		struct bpf_map *map = bpf_object__find_map_by_name(skel->obj, shunt_map_names[i]);

		m.fd[i] = map ? dup(bpf_map__fd(map)) : -1;
		if (m.fd[i] < 0) {
			log_err("map %s missing from the BPF object", shunt_map_names[i]);
			err = -ENOENT;
			goto out_unlock;
		}
	}
	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		pins_path(path, sizeof(path), o->pin_dir, subdirs[i], NULL);
		if (mkdir(path, 0700) && errno != EEXIST) {
			err = -errno;
			log_err("cannot create %s: %s", path, strerror(-err));
			goto out_unlock;
		}
	}
	for (int i = 0; i < MAP_COUNT; i++) {
		struct bpf_map *map = bpf_object__find_map_by_name(skel->obj, shunt_map_names[i]);

		pins_path(path, sizeof(path), o->pin_dir, SHUNT_PIN_MAPS, shunt_map_names[i]);
		err = bpf_map__pin(map, path);
		if (err) {
			log_err("cannot pin map at %s: %s", path, strerror(-err));
			goto out_unlock;
		}
	}
	/* sk_lookup is attached per pod netns, by this and later shunts: pin the program. */
	pins_path(path, sizeof(path), o->pin_dir, SHUNT_PIN_PROGS, "shunt_sk_lookup");
	err = bpf_program__pin(skel->progs.shunt_sk_lookup, path);
	if (err) {
		log_err("cannot pin program at %s: %s", path, strerror(-err));
		goto out_unlock;
	}
	/* Policy before attach: the first connect a program sees already has one. */
	target.m = &m;
	target.pin_dir = o->pin_dir;
	target.sk_lookup_fd = bpf_program__fd(skel->progs.shunt_sk_lookup);
	target.cgroup_id = fstat(cgfd, &cgst) ? 0 : (__u64)cgst.st_ino;
	err = apply_config(&target, conf, errs, NULL);
	if (err)
		goto out_unlock;

	bpf_object__for_each_program(prog, skel->obj) {
		struct bpf_link *link;

		if (bpf_program__type(prog) == BPF_PROG_TYPE_SK_MSG ||
		    bpf_program__type(prog) == BPF_PROG_TYPE_SK_LOOKUP)
			continue; /* to the sockhash and to each pod's netns, not the cgroup */
		link = bpf_program__attach_cgroup(prog, cgfd);

		if (!link) {
			err = -errno;
			log_err("cannot attach %s to cgroup %s: %s", bpf_program__name(prog), cgpath,
				strerror(-err));
			goto out_unlock;
		}
		if (n_links == sizeof(links) / sizeof(links[0])) {
			bpf_link__destroy(link);
			log_err("more cgroup programs than this loader expects");
			err = -E2BIG;
			goto out_unlock;
		}
		links[n_links++] = link;
		pins_path(path, sizeof(path), o->pin_dir, SHUNT_PIN_LINKS, bpf_program__name(prog));
		err = bpf_link__pin(link, path);
		if (err) {
			log_err("cannot pin link at %s: %s", path, strerror(-err));
			goto out_unlock;
		}
		log_debug("attached %s to %s", bpf_program__name(prog), cgpath);
	}
	err = attach_sk_msg(skel, sk_msg, o->pin_dir);
	if (err)
		goto out_unlock;
	log_info("loaded: %zu programs attached to %s, sk_msg to the sockhash, pinned under %s",
		 n_links, cgpath, o->pin_dir);
	pinned = false;

out_unlock:
	if (pinned)
		pins_remove_all(o->pin_dir);
	for (size_t i = 0; i < n_links; i++)
		bpf_link__destroy(links[i]); /* closes our fd; a pinned link stays attached */
	maps_close(&m);
	shunt_bpf__destroy(skel);
	pins_unlock(lockfd);
out:
	close(cgfd);
	return err;
}

int loader_unload(const struct loader_opts *o)
{
	int lockfd, err;

	if (!pins_loaded(o->pin_dir)) {
		log_err("shunt is not loaded at %s", o->pin_dir);
		return -ENOENT;
	}
	lockfd = pins_lock(o->pin_dir, false);
	if (lockfd < 0)
		return lockfd;
	err = pins_remove_all(o->pin_dir);
	pins_unlock(lockfd);
	if (!err)
		log_info("unloaded: programs detached, %s removed", o->pin_dir);
	return err;
}

/* ---- Replacing a loaded shunt of another ABI in place ------------------------------------ */

/* A map's layout in BTF, written out canonically: members by name, offset and shape, through
 * typedefs and qualifiers, so two builds agree exactly when the bytes mean the same. */
static void btf_shape(const struct btf *btf, __u32 id, char *buf, size_t len, int depth)
{
	const struct btf_type *t;
	size_t used;

	if (!len)
		return;
	buf[0] = '\0';
	if (depth > 8) {
		snprintf(buf, len, "...");
		return;
	}
	id = btf__resolve_type(btf, id) < 0 ? id : (__u32)btf__resolve_type(btf, id);
	t = btf__type_by_id(btf, id);
	if (!t) {
		snprintf(buf, len, "?");
		return;
	}
	switch (btf_kind(t)) {
	case BTF_KIND_INT:
		snprintf(buf, len, "i%u", t->size);
		return;
	case BTF_KIND_ENUM:
	case BTF_KIND_ENUM64:
		snprintf(buf, len, "e%u", t->size);
		return;
	case BTF_KIND_PTR:
		snprintf(buf, len, "p");
		return;
	case BTF_KIND_ARRAY: {
		const struct btf_array *a = btf_array(t);
		int n = snprintf(buf, len, "[%u]", a->nelems);

		if (n > 0 && (size_t)n < len)
			btf_shape(btf, a->type, buf + n, len - n, depth + 1);
		return;
	}
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION: {
		const struct btf_member *m = btf_members(t);

		snprintf(buf, len, "%c%u{", btf_kind(t) == BTF_KIND_STRUCT ? 's' : 'u', t->size);
		for (__u16 i = 0; i < btf_vlen(t); i++, m++) {
			used = strlen(buf);
			snprintf(buf + used, len - used, "%s@%u:", btf__name_by_offset(btf, m->name_off),
				 btf_member_bit_offset(t, i));
			used = strlen(buf);
			btf_shape(btf, m->type, buf + used, len - used, depth + 1);
			used = strlen(buf);
			snprintf(buf + used, len - used, ",");
		}
		used = strlen(buf);
		snprintf(buf + used, len - used, "}");
		return;
	}
	default:
		snprintf(buf, len, "k%u", btf_kind(t));
	}
}

/* Does the pinned map fd have the layout this build gives map? Sizes and type always; the
 * key and value shapes too where both sides carry BTF. why says what differs. */
static bool same_layout(int fd, const struct bpf_object *obj, const struct bpf_map *map,
			char *why, size_t why_len)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	const struct btf *nbtf = bpf_object__btf(obj);
	struct btf *obtf;
	char a[1024], b[1024];
	bool same = true;

	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		snprintf(why, why_len, "cannot read it: %s", strerror(errno));
		return false;
	}
	/* Preallocation is how the kernel allocates, not what the entries mean. */
	if (info.type != bpf_map__type(map) || info.key_size != bpf_map__key_size(map) ||
	    info.value_size != bpf_map__value_size(map) ||
	    (info.map_flags ^ bpf_map__map_flags(map)) & ~(__u32)BPF_F_NO_PREALLOC) {
		snprintf(why, why_len, "type/key/value/flags %u/%u/%u/%#x, this shunt's %u/%u/%u/%#x",
			 info.type, info.key_size, info.value_size, info.map_flags, bpf_map__type(map),
			 bpf_map__key_size(map), bpf_map__value_size(map), bpf_map__map_flags(map));
		return false;
	}
	if (!info.btf_id || !nbtf || !bpf_map__btf_value_type_id(map))
		return true; /* sizes are all either side can tell */
	obtf = btf__load_from_kernel_by_id(info.btf_id);
	if (!obtf)
		return true;
	for (int k = 0; k < 2 && same; k++) {
		__u32 oid = k ? info.btf_value_type_id : info.btf_key_type_id;
		__u32 nid = k ? bpf_map__btf_value_type_id(map) : bpf_map__btf_key_type_id(map);

		if (!oid || !nid)
			continue;
		btf_shape(obtf, oid, a, sizeof(a), 0);
		btf_shape(nbtf, nid, b, sizeof(b), 0);
		if (strcmp(a, b)) {
			snprintf(why, why_len, "its %s is %.200s, this shunt's %.200s", k ? "value" : "key",
				 a, b);
			same = false;
		}
	}
	btf__free(obtf);
	return same;
}

/* A pinned link and what it was when the upgrade began, to put it back on failure. */
struct old_link {
	char name[NAME_MAX + 1];
	int fd;
	int prog_fd;            /* the program it ran before */
	__u32 type, attach_type;
	bool moved;             /* bpf_link_update'd to a new program */
	bool matched;           /* a new program took it over */
};

static int read_links(const char *pin_dir, struct old_link **out, size_t *n_out)
{
	char path[PATH_MAX];
	struct old_link *v;
	struct pin_name *names;
	size_t n;
	int err;

	names = pins_list(pin_dir, SHUNT_PIN_LINKS, &n, &err);
	if (!names)
		return err;
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v) {
		free(names);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct bpf_link_info li = { 0 };
		__u32 len = sizeof(li);
		struct old_link *l = &v[i];

		snprintf(l->name, sizeof(l->name), "%s", names[i].name);
		pins_path(path, sizeof(path), pin_dir, SHUNT_PIN_LINKS, l->name);
		l->fd = bpf_obj_get(path);
		l->prog_fd = -1;
		if (l->fd < 0) {
			log_warn("cannot open pinned link %s: %s", path, strerror(errno));
			continue;
		}
		if (!bpf_obj_get_info_by_fd(l->fd, &li, &len)) {
			l->type = li.type;
			l->attach_type = li.type == BPF_LINK_TYPE_CGROUP ? li.cgroup.attach_type : 0;
			l->prog_fd = bpf_prog_get_fd_by_id(li.prog_id);
		}
	}
	free(names);
	*out = v;
	*n_out = n;
	return 0;
}

static void free_links(struct old_link *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i].fd >= 0)
			close(v[i].fd);
		if (v[i].prog_fd >= 0)
			close(v[i].prog_fd);
	}
	free(v);
}

static int move_link(struct old_link *l, int prog_fd)
{
	if (bpf_link_update(l->fd, prog_fd, NULL)) {
		int err = -errno;

		log_err("cannot move link %s to the new program: %s", l->name, strerror(-err));
		return err;
	}
	l->moved = true;
	return 0;
}

/* Names of pinned maps this build does not have (moved to the front of *names, *n_gone of
 * them): unpinned once nothing runs on them. A sockhash among them stops the upgrade. */
static int old_only_maps(const char *pin_dir, struct bpf_object *obj, struct pin_name **names,
			 size_t *n_gone)
{
	char path[PATH_MAX];
	size_t n;
	int err;

	*n_gone = 0;
	*names = pins_list(pin_dir, SHUNT_PIN_MAPS, &n, &err);
	if (!*names)
		return err;
	for (size_t i = 0; i < n; i++) {
		struct bpf_map_info info = { 0 };
		__u32 len = sizeof(info);
		const char *name = (*names)[i].name;
		int fd;

		if (bpf_object__find_map_by_name(obj, name))
			continue;
		pins_path(path, sizeof(path), pin_dir, SHUNT_PIN_MAPS, name);
		fd = bpf_obj_get(path);
		if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len) &&
		    (info.type == BPF_MAP_TYPE_SOCKHASH || info.type == BPF_MAP_TYPE_SOCKMAP)) {
			/* Dropping it would drop the bytes queued on its sockets. */
			log_err("pinned sockhash %s has no successor in this shunt: its fast-path "
				"sockets would lose queued bytes; unload with the old shunt, then load",
				name);
			err = -EPROTO;
		}
		if (fd >= 0)
			close(fd);
		(*names)[(*n_gone)++] = (*names)[i];
	}
	return err;
}

/* Every policy and state entry says this ABI: each one's layout was checked to be ours. */
static void relabel_abi(const struct shunt_maps *m)
{
	struct shunt_pol_key pk, pnext;
	__u64 key, next;
	void *prev = NULL;

	while (!bpf_map_get_next_key(m->fd[MAP_CFG], prev, &pnext)) {
		struct shunt_cfg c;

		if (!bpf_map_lookup_elem(m->fd[MAP_CFG], &pnext, &c) && c.abi_version != SHUNT_ABI_VERSION) {
			c.abi_version = SHUNT_ABI_VERSION;
			bpf_map_update_elem(m->fd[MAP_CFG], &pnext, &c, BPF_EXIST);
		}
		pk = pnext;
		prev = &pk;
	}
	prev = NULL;
	while (!bpf_map_get_next_key(m->fd[MAP_STATE], prev, &next)) {
		struct shunt_state s;

		if (!bpf_map_lookup_elem(m->fd[MAP_STATE], &next, &s) && s.abi_version != SHUNT_ABI_VERSION) {
			s.abi_version = SHUNT_ABI_VERSION;
			bpf_map_update_elem(m->fd[MAP_STATE], &next, &s, BPF_EXIST);
		}
		key = next;
		prev = &key;
	}
}

int loader_upgrade(const struct shunt_config *conf, const struct loader_opts *o,
		   struct config_errors *errs)
{
	struct shunt_bpf *skel = NULL;
	struct old_link *links = NULL;
	struct pin_name *gone = NULL;
	struct bpf_program *prog;
	struct bpf_map *map;
	struct shunt_maps m;
	struct shunt_state st;
	struct apply_target target;
	char path[PATH_MAX], tmp[PATH_MAX], why[512];
	size_t n_links = 0, n_gone = 0, kept = 0, fresh = 0, moved = 0;
	bool pinned_new[64] = { false };
	int lockfd, state_fd, cgfd = -1, err, mi;
	__u64 owner = SHUNT_OWNER_DEFAULT;

	maps_init(&m);
	lockfd = pins_lock(o->pin_dir, false);
	if (lockfd < 0)
		return lockfd;
	pins_path(path, sizeof(path), o->pin_dir, SHUNT_PIN_MAPS, shunt_map_names[MAP_STATE]);
	state_fd = bpf_obj_get(path);
	if (state_fd < 0 || bpf_map_lookup_elem(state_fd, &owner, &st)) {
		log_err("cannot read the ABI of the shunt loaded at %s (%s: %s); unload it with the "
			"shunt that loaded it", o->pin_dir, path, strerror(errno));
		err = -EPROTO;
		goto out;
	}
	if (st.abi_version == SHUNT_ABI_VERSION) {
		err = 1; /* ours: nothing to replace */
		goto out;
	}
	log_info("the shunt loaded at %s speaks ABI %u, this one ABI %u: replacing its programs "
		 "in place", o->pin_dir, st.abi_version, SHUNT_ABI_VERSION);

	skel = shunt_bpf__open();
	if (!skel) {
		err = -errno;
		log_err("cannot open the BPF object: %s", strerror(-err));
		goto out;
	}
	choose_variants(skel);   /* the sk_msg variant this kernel takes */
	skel->rodata->shunt_abi_lo = st.abi_version < SHUNT_ABI_VERSION ? st.abi_version
								  : SHUNT_ABI_VERSION;
	skel->rodata->shunt_abi_hi = st.abi_version > SHUNT_ABI_VERSION ? st.abi_version
								  : SHUNT_ABI_VERSION;
	/* Every map this build uses: the pinned one of the same name and layout is kept (its
	 * entries are the connections in flight, the pods and their policies); another layout
	 * under the same name stops the upgrade before anything changed. */
	mi = 0;
	err = 0;
	bpf_object__for_each_map(map, skel->obj) {
		int fd;

		if (bpf_map__is_internal(map) || mi >= (int)(sizeof(pinned_new) / sizeof(pinned_new[0])))
			continue;
		pins_path(path, sizeof(path), o->pin_dir, SHUNT_PIN_MAPS, bpf_map__name(map));
		fd = bpf_obj_get(path);
		if (fd < 0) {
			pinned_new[mi++] = true; /* new in this ABI: starts empty */
			fresh++;
			if (o->max_conns && per_connection_map(skel, map))
				bpf_map__set_max_entries(map, o->max_conns);
			continue;
		}
		if (!same_layout(fd, skel->obj, map, why, sizeof(why))) {
			log_err("pinned map %s changed layout between ABI %u and %u (%s) and this shunt "
				"has no converter for it: nothing was changed; upgrade with 'shunt unload' "
				"(old binary) and 'shunt load' (a window without capture)",
				bpf_map__name(map), st.abi_version, SHUNT_ABI_VERSION, why);
			err = -EPROTO;
		} else if (bpf_map__reuse_fd(map, fd)) {
			err = -errno;
			log_err("cannot reuse pinned map %s: %s", path, strerror(-err));
		}
		close(fd);
		mi++;
		kept++;
	}
	if (!err)
		err = old_only_maps(o->pin_dir, skel->obj, &gone, &n_gone);
	if (err)
		goto out;
	err = shunt_bpf__load(skel);
	if (err) {
		log_err("the kernel refused shunt's BPF programs: %s", strerror(-err));
		goto out;
	}
	for (int i = 0; i < MAP_COUNT; i++) {
		map = bpf_object__find_map_by_name(skel->obj, shunt_map_names[i]);
		m.fd[i] = map ? dup(bpf_map__fd(map)) : -1;
		if (m.fd[i] < 0) {
			log_err("map %s missing from the BPF object", shunt_map_names[i]);
			err = -ENOENT;
			goto out_unpin;
		}
	}
	mi = 0;
	bpf_object__for_each_map(map, skel->obj) {
		if (bpf_map__is_internal(map) || mi >= (int)(sizeof(pinned_new) / sizeof(pinned_new[0])))
			continue;
		if (pinned_new[mi++]) {
			pins_path(path, sizeof(path), o->pin_dir, SHUNT_PIN_MAPS, bpf_map__name(map));
			err = bpf_map__pin(map, path);
			if (err) {
				log_err("cannot pin map at %s: %s", path, strerror(-err));
				goto out_unpin;
			}
		}
	}

	pins_path(tmp, sizeof(tmp), o->pin_dir, SHUNT_PIN_PROGS, "shunt_sk_lookup_new");
	unlink(tmp);
	err = bpf_program__pin(skel->progs.shunt_sk_lookup, tmp);
	if (err) {
		log_err("cannot pin the new sk_lookup program at %s: %s", tmp, strerror(-err));
		goto out_unpin;
	}
	cgfd = cgroup_open(o->cgroup, path, sizeof(path));
	if (cgfd < 0) {
		err = cgfd;
		goto out_unpin;
	}
	/* Each pinned link moves to its new program in one bpf_link_update: at every instant a
	 * hook runs either the old program or the new one, never none, and both read the
	 * policy in force (the new ones accept the old ABI's, whose layout they checked). */
	err = read_links(o->pin_dir, &links, &n_links);
	if (err) {
		log_err("cannot read the pinned links of %s: %s", o->pin_dir, strerror(-err));
		goto out_unpin;
	}
	bpf_object__for_each_program(prog, skel->obj) {
		enum bpf_prog_type type = bpf_program__type(prog);
		struct old_link *l = NULL;

		if (type == BPF_PROG_TYPE_SK_LOOKUP || !bpf_program__autoload(prog))
			continue;
		for (size_t i = 0; i < n_links && !l; i++) {
			if (links[i].fd < 0 || links[i].matched)
				continue;
			if (type == BPF_PROG_TYPE_SK_MSG ? !strcmp(links[i].name, "shunt_sk_msg") :
			    (links[i].type == BPF_LINK_TYPE_CGROUP &&
			     links[i].attach_type == bpf_program__expected_attach_type(prog)))
				l = &links[i];
		}
		if (l) {
			l->matched = true;
			err = move_link(l, bpf_program__fd(prog));
			if (err)
				goto out_rollback;
			moved++;
			if (strcmp(l->name, bpf_program__name(prog)) && type != BPF_PROG_TYPE_SK_MSG) {
				pins_path(path, sizeof(path), o->pin_dir, SHUNT_PIN_LINKS, l->name);
				pins_path(tmp, sizeof(tmp), o->pin_dir, SHUNT_PIN_LINKS,
					  bpf_program__name(prog));
				if (rename(path, tmp))
					log_warn("cannot rename %s to %s: %s", path, tmp, strerror(errno));
			}
		} else if (type == BPF_PROG_TYPE_SK_MSG) {
			/* attached with bpf_prog_attach (before 6.10): attaching again replaces
			 * it; sockets already in the sockhash keep the program they started with */
			err = attach_sk_msg(skel, prog, o->pin_dir);
			if (err)
				goto out_rollback;
			moved++;
		} else {
			struct bpf_link *link = bpf_program__attach_cgroup(prog, cgfd);

			if (!link) {
				err = -errno;
				log_err("cannot attach %s: %s", bpf_program__name(prog), strerror(-err));
				goto out_rollback;
			}
			pins_path(path, sizeof(path), o->pin_dir, SHUNT_PIN_LINKS, bpf_program__name(prog));
			err = bpf_link__pin(link, path);
			bpf_link__destroy(link);
			if (err) {
				log_err("cannot pin link at %s: %s", path, strerror(-err));
				goto out_rollback;
			}
			fresh++;
		}
	}
	for (size_t i = 0; i < n_links; i++) {
		struct old_link *l = &links[i];

		if (l->fd < 0 || l->matched)
			continue;
		if (!strncmp(l->name, SHUNT_PIN_SK_LOOKUP_PREFIX, strlen(SHUNT_PIN_SK_LOOKUP_PREFIX))) {
			l->matched = true;
			err = move_link(l, bpf_program__fd(skel->progs.shunt_sk_lookup));
			if (err)
				goto out_rollback;
			moved++;
		}
	}
	/* Only new programs run now: the node policy as this build writes it, then every other
	 * owner's policy and state relabelled with this ABI (same layout, checked above). */
	target.m = &m;
	target.pin_dir = o->pin_dir;
	target.sk_lookup_fd = bpf_program__fd(skel->progs.shunt_sk_lookup);
	target.cgroup_id = pins_cgroup_id(o->pin_dir);
	err = apply_config(&target, conf, errs, NULL);
	if (err)
		goto out_rollback;
	relabel_abi(&m);
	/* Later pods get the new sk_lookup program: its pin replaced in one rename. */
	pins_path(path, sizeof(path), o->pin_dir, SHUNT_PIN_PROGS, "shunt_sk_lookup");
	pins_path(tmp, sizeof(tmp), o->pin_dir, SHUNT_PIN_PROGS, "shunt_sk_lookup_new");
	if (rename(tmp, path)) {
		log_warn("cannot replace the pinned sk_lookup program %s: %s (pods meshed from now "
			 "on get the old one)", path, strerror(errno));
		unlink(tmp);
	}
	/* Hooks the new build no longer has. */
	for (size_t i = 0; i < n_links; i++) {
		if (links[i].fd < 0 || links[i].matched)
			continue;
		pins_path(path, sizeof(path), o->pin_dir, SHUNT_PIN_LINKS, links[i].name);
		log_info("detaching %s: this shunt has no program for it", links[i].name);
		unlink(path);
	}
	for (size_t i = 0; i < n_gone; i++) {
		pins_path(path, sizeof(path), o->pin_dir, SHUNT_PIN_MAPS, gone[i].name);
		unlink(path);
	}
	log_info("replaced the shunt at %s: ABI %u -> %u, %zu links moved to new programs "
		 "atomically, %zu maps kept with their entries, %zu new, %zu dropped",
		 o->pin_dir, st.abi_version, SHUNT_ABI_VERSION, moved, kept, fresh, n_gone);
	goto out;

out_rollback:
	for (size_t i = 0; i < n_links; i++) {
		if (links[i].moved && links[i].prog_fd >= 0 && bpf_link_update(links[i].fd,
									     links[i].prog_fd, NULL))
			log_err("cannot move link %s back to its old program: %s", links[i].name,
				strerror(errno));
	}
	/* the old state says the old ABI again */
	bpf_map_update_elem(state_fd, &owner, &st, BPF_ANY);
out_unpin:
	pins_path(tmp, sizeof(tmp), o->pin_dir, SHUNT_PIN_PROGS, "shunt_sk_lookup_new");
	unlink(tmp);
	mi = 0;
	bpf_object__for_each_map(map, skel->obj) {
		if (bpf_map__is_internal(map) || mi >= (int)(sizeof(pinned_new) / sizeof(pinned_new[0])))
			continue;
		if (pinned_new[mi++]) {
			pins_path(path, sizeof(path), o->pin_dir, SHUNT_PIN_MAPS, bpf_map__name(map));
			unlink(path);
		}
	}
out:
	free_links(links, n_links);
	free(gone);
	maps_close(&m);
	shunt_bpf__destroy(skel);
	if (cgfd >= 0)
		close(cgfd);
	if (state_fd >= 0)
		close(state_fd);
	pins_unlock(lockfd);
	return err;
}
