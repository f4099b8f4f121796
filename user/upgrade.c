// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Replacing a loaded shunt of another ABI in place (see upgrade.h): plan (which pinned maps
 * are kept, which are new, which go), load the new programs on the kept maps, write the
 * policy, move every pinned link with bpf_link_update, unpin what this build lacks; put the
 * moved links back on failure. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
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
#include "upgrade.h"


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

/* One in-place upgrade: what each step found, for the next step and for the way back. */
struct upgrade {
	const struct loader_opts *o;
	struct shunt_bpf *skel;
	struct shunt_maps m;           /* the new object's maps (kept ones are the pinned) */
	struct shunt_state st;         /* the node's state as found: the old ABI */
	int state_fd, cgfd;
	bool pinned_new[64];           /* per non-internal map, in object order: new in this ABI */
	struct pin_name *gone;         /* pinned maps this build lacks (n_gone) */
	struct old_link *links;        /* the pinned links as found (n_links) */
	size_t n_gone, n_links, kept, fresh, moved;
};

#define UPGRADE_MAPS (sizeof(((struct upgrade *)0)->pinned_new) / sizeof(bool))

/* 1. Plan: open the new object on this kernel; every map it uses is the pinned one of the
 * same name and layout (its entries are the connections in flight, the pods and their
 * policies) or new; another layout under the same name, or a sockhash this build lacks,
 * stops the upgrade before anything changed. */
static int upgrade_plan(struct upgrade *u)
{
	const struct loader_opts *o = u->o;
	char path[PATH_MAX], why[512];
	struct bpf_map *map;
	size_t mi = 0;
	int err = 0;

	u->skel = shunt_bpf__open();
	if (!u->skel) {
		err = -errno;
		log_err("cannot open the BPF object: %s", strerror(-err));
		return err;
	}
	loader_choose_variants(u->skel);   /* the sk_msg variant this kernel takes */
	/* The old programs did not mark the sockets they gave a fast-path address entry
	 * (sockops.bpf.c): until those entries are gone, every close deletes. */
	u->skel->bss->shunt_skaddr_unmarked = 1;
	u->skel->rodata->shunt_abi_lo = u->st.abi_version < SHUNT_ABI_VERSION ?
					u->st.abi_version : SHUNT_ABI_VERSION;
	u->skel->rodata->shunt_abi_hi = u->st.abi_version > SHUNT_ABI_VERSION ?
					u->st.abi_version : SHUNT_ABI_VERSION;
	bpf_object__for_each_map(map, u->skel->obj) {
		int fd;

		if (bpf_map__is_internal(map) || mi >= UPGRADE_MAPS)
			continue;
		pins_path(path, sizeof(path), o->pin_dir, SHUNT_PIN_MAPS, bpf_map__name(map));
		fd = bpf_obj_get(path);
		if (fd < 0) {
			u->pinned_new[mi++] = true; /* new in this ABI: starts empty */
			u->fresh++;
			if (o->max_conns && loader_per_connection_map(map))
				bpf_map__set_max_entries(map, o->max_conns);
			continue;
		}
		if (!same_layout(fd, u->skel->obj, map, why, sizeof(why))) {
			log_err("pinned map %s changed layout between ABI %u and %u (%s) and this shunt "
				"has no converter for it: nothing was changed; upgrade with 'shunt unload' "
				"(old binary) and 'shunt load' (a window without capture)",
				bpf_map__name(map), u->st.abi_version, SHUNT_ABI_VERSION, why);
			err = -EPROTO;
		} else if (bpf_map__reuse_fd(map, fd)) {
			err = -errno;
			log_err("cannot reuse pinned map %s: %s", path, strerror(-err));
		}
		close(fd);
		mi++;
		u->kept++;
	}
	if (!err)
		err = old_only_maps(o->pin_dir, u->skel->obj, &u->gone, &u->n_gone);
	return err;
}

/* Unpin what upgrade_load pinned (the maps new in this ABI, the staged sk_lookup program). */
static void upgrade_unpin(struct upgrade *u)
{
	char path[PATH_MAX];
	struct bpf_map *map;
	size_t mi = 0;

	pins_path(path, sizeof(path), u->o->pin_dir, SHUNT_PIN_PROGS, "shunt_sk_lookup_new");
	unlink(path);
	bpf_object__for_each_map(map, u->skel->obj) {
		if (bpf_map__is_internal(map) || mi >= UPGRADE_MAPS)
			continue;
		if (u->pinned_new[mi++]) {
			pins_path(path, sizeof(path), u->o->pin_dir, SHUNT_PIN_MAPS, bpf_map__name(map));
			unlink(path);
		}
	}
}

/* 2. Load: the new programs on the kept maps; the new maps pinned, the new sk_lookup program
 * staged beside the old one. Nothing runs the new programs yet. */
static int upgrade_load(struct upgrade *u)
{
	char path[PATH_MAX];
	struct bpf_map *map;
	size_t mi = 0;
	int err;

	err = shunt_bpf__load(u->skel);
	if (err) {
		log_err("the kernel refused shunt's BPF programs: %s", strerror(-err));
		return err;
	}
	for (int i = 0; i < MAP_COUNT; i++) {
		map = bpf_object__find_map_by_name(u->skel->obj, shunt_map_names[i]);
		u->m.fd[i] = map ? dup(bpf_map__fd(map)) : -1;
		if (u->m.fd[i] < 0) {
			log_err("map %s missing from the BPF object", shunt_map_names[i]);
			return -ENOENT;
		}
	}
	bpf_object__for_each_map(map, u->skel->obj) {
		if (bpf_map__is_internal(map) || mi >= UPGRADE_MAPS)
			continue;
		if (u->pinned_new[mi++]) {
			pins_path(path, sizeof(path), u->o->pin_dir, SHUNT_PIN_MAPS, bpf_map__name(map));
			err = bpf_map__pin(map, path);
			if (err) {
				log_err("cannot pin map at %s: %s", path, strerror(-err));
				return err;
			}
		}
	}
	pins_path(path, sizeof(path), u->o->pin_dir, SHUNT_PIN_PROGS, "shunt_sk_lookup_new");
	unlink(path);
	err = bpf_program__pin(u->skel->progs.shunt_sk_lookup, path);
	if (err)
		log_err("cannot pin the new sk_lookup program at %s: %s", path, strerror(-err));
	return err;
}

/* The pinned link a new program takes over: a cgroup link of its attach type, or the sk_msg
 * link; NULL when the old shunt had none (the hook is new). */
static struct old_link *link_for(struct upgrade *u, struct bpf_program *prog)
{
	enum bpf_prog_type type = bpf_program__type(prog);

	for (size_t i = 0; i < u->n_links; i++) {
		struct old_link *l = &u->links[i];

		if (l->fd < 0 || l->matched)
			continue;
		if (type == BPF_PROG_TYPE_SK_MSG ? !strcmp(l->name, "shunt_sk_msg") :
		    (l->type == BPF_LINK_TYPE_CGROUP &&
		     l->attach_type == bpf_program__expected_attach_type(prog)))
			return l;
	}
	return NULL;
}

/* A hook the old shunt did not have: attached now, its link pinned. */
static int attach_fresh(struct upgrade *u, struct bpf_program *prog)
{
	char path[PATH_MAX];
	struct bpf_link *link;
	int err;

	if (bpf_program__type(prog) == BPF_PROG_TYPE_SK_MSG)
		/* attached with bpf_prog_attach (before 6.10): attaching again replaces it;
		 * sockets already in the sockhash keep the program they started with */
		return loader_attach_sk_msg(u->skel, prog, u->o->pin_dir);
	link = bpf_program__attach_cgroup(prog, u->cgfd);
	if (!link) {
		err = -errno;
		log_err("cannot attach %s: %s", bpf_program__name(prog), strerror(-err));
		return err;
	}
	pins_path(path, sizeof(path), u->o->pin_dir, SHUNT_PIN_LINKS, bpf_program__name(prog));
	err = bpf_link__pin(link, path);
	bpf_link__destroy(link);
	if (err)
		log_err("cannot pin link at %s: %s", path, strerror(-err));
	return err;
}

/* 3. Move: each pinned link to its new program in one bpf_link_update, so at every instant a
 * hook runs the old program or the new one, never none, and both read the policy in force
 * (the new ones accept the old ABI's, whose layout they checked). Then the pods' sk_lookup
 * links. A failure leaves the links moved so far for upgrade_rollback. */
static int upgrade_move_links(struct upgrade *u)
{
	const char *pin_dir = u->o->pin_dir;
	size_t plen = strlen(SHUNT_PIN_SK_LOOKUP_PREFIX);
	char path[PATH_MAX], tmp[PATH_MAX];
	struct bpf_program *prog;
	int err;

	u->cgfd = cgroup_open(u->o->cgroup, path, sizeof(path));
	if (u->cgfd < 0)
		return u->cgfd;
	err = read_links(pin_dir, &u->links, &u->n_links);
	if (err) {
		log_err("cannot read the pinned links of %s: %s", pin_dir, strerror(-err));
		return err;
	}
	bpf_object__for_each_program(prog, u->skel->obj) {
		enum bpf_prog_type type = bpf_program__type(prog);
		struct old_link *l;

		if (type == BPF_PROG_TYPE_SK_LOOKUP || !bpf_program__autoload(prog))
			continue;
		l = link_for(u, prog);
		if (!l) {
			err = attach_fresh(u, prog);
			if (err)
				return err;
			if (type == BPF_PROG_TYPE_SK_MSG)
				u->moved++;
			else
				u->fresh++;
			continue;
		}
		l->matched = true;
		err = move_link(l, bpf_program__fd(prog));
		if (err)
			return err;
		u->moved++;
		if (strcmp(l->name, bpf_program__name(prog)) && type != BPF_PROG_TYPE_SK_MSG) {
			pins_path(path, sizeof(path), pin_dir, SHUNT_PIN_LINKS, l->name);
			pins_path(tmp, sizeof(tmp), pin_dir, SHUNT_PIN_LINKS, bpf_program__name(prog));
			if (rename(path, tmp))
				log_warn("cannot rename %s to %s: %s", path, tmp, strerror(errno));
		}
	}
	for (size_t i = 0; i < u->n_links; i++) {
		struct old_link *l = &u->links[i];

		if (l->fd < 0 || l->matched || strncmp(l->name, SHUNT_PIN_SK_LOOKUP_PREFIX, plen))
			continue;
		l->matched = true;
		err = move_link(l, bpf_program__fd(u->skel->progs.shunt_sk_lookup));
		if (err)
			return err;
		u->moved++;
	}
	return 0;
}

/* Every link is on the new programs now, so no unmarked fast-path entry can be added any
 * more: with none left, closes may trust the mark. Entries left stay deleted at every close
 * until the next load (a few hundred nanoseconds a meshed connection, never a leak). */
static void upgrade_mark_skaddr(struct upgrade *u)
{
	struct shunt_tuple key;

	if (bpf_map_get_next_key(u->m.fd[MAP_SKADDR], NULL, &key) && errno == ENOENT) {
		u->skel->bss->shunt_skaddr_unmarked = 0;
		return;
	}
	log_debug("fast-path sockets from the old programs are open: each socket close "
		  "deletes its address entry as before until the next load");
}

/* 4. Commit: only new programs run now. The node policy as this build writes it, every
 * other owner's policy and state relabelled with this ABI (same layout, checked in the
 * plan), the staged sk_lookup program in place for later pods (one rename), and what this
 * build lacks unpinned. Only the policy write can fail, before anything else here. */
static int upgrade_commit(struct upgrade *u, const struct shunt_config *conf,
			  struct config_errors *errs)
{
	const char *pin_dir = u->o->pin_dir;
	struct apply_target target = { .m = &u->m, .pin_dir = pin_dir };
	char path[PATH_MAX], tmp[PATH_MAX];
	int err;

	target.sk_lookup_fd = bpf_program__fd(u->skel->progs.shunt_sk_lookup);
	target.cgroup_id = pins_cgroup_id(pin_dir);
	err = apply_config(&target, conf, errs, NULL);
	if (err)
		return err;
	relabel_abi(&u->m);
	pins_path(path, sizeof(path), pin_dir, SHUNT_PIN_PROGS, "shunt_sk_lookup");
	pins_path(tmp, sizeof(tmp), pin_dir, SHUNT_PIN_PROGS, "shunt_sk_lookup_new");
	if (rename(tmp, path)) {
		log_warn("cannot replace the pinned sk_lookup program %s: %s (pods meshed from now "
			 "on get the old one)", path, strerror(errno));
		unlink(tmp);
	}
	for (size_t i = 0; i < u->n_links; i++) {   /* hooks the new build no longer has */
		if (u->links[i].fd < 0 || u->links[i].matched)
			continue;
		pins_path(path, sizeof(path), pin_dir, SHUNT_PIN_LINKS, u->links[i].name);
		log_info("detaching %s: this shunt has no program for it", u->links[i].name);
		unlink(path);
	}
	for (size_t i = 0; i < u->n_gone; i++) {
		pins_path(path, sizeof(path), pin_dir, SHUNT_PIN_MAPS, u->gone[i].name);
		unlink(path);
	}
	upgrade_mark_skaddr(u);
	log_info("replaced the shunt at %s: ABI %u -> %u, %zu links moved to new programs "
		 "atomically, %zu maps kept with their entries, %zu new, %zu dropped",
		 pin_dir, u->st.abi_version, SHUNT_ABI_VERSION, u->moved, u->kept, u->fresh,
		 u->n_gone);
	return 0;
}

/* The way back from a failed move or commit: every moved link on its old program again, the
 * node's state saying the old ABI. */
static void upgrade_rollback(struct upgrade *u)
{
	__u64 owner = SHUNT_OWNER_DEFAULT;

	for (size_t i = 0; i < u->n_links; i++) {
		struct old_link *l = &u->links[i];

		if (l->moved && l->prog_fd >= 0 && bpf_link_update(l->fd, l->prog_fd, NULL))
			log_err("cannot move link %s back to its old program: %s", l->name,
				strerror(errno));
	}
	bpf_map_update_elem(u->state_fd, &owner, &u->st, BPF_ANY);
}

int loader_upgrade(const struct shunt_config *conf, const struct loader_opts *o,
		   struct config_errors *errs)
{
	struct upgrade u = { .o = o, .state_fd = -1, .cgfd = -1 };
	__u64 owner = SHUNT_OWNER_DEFAULT;
	char path[PATH_MAX];
	int lockfd, err;

	maps_init(&u.m);
	lockfd = pins_lock(o->pin_dir, false);
	if (lockfd < 0)
		return lockfd;
	pins_path(path, sizeof(path), o->pin_dir, SHUNT_PIN_MAPS, shunt_map_names[MAP_STATE]);
	u.state_fd = bpf_obj_get(path);
	if (u.state_fd < 0 || bpf_map_lookup_elem(u.state_fd, &owner, &u.st)) {
		log_err("cannot read the ABI of the shunt loaded at %s (%s: %s); unload it with the "
			"shunt that loaded it", o->pin_dir, path, strerror(errno));
		err = -EPROTO;
	} else if (u.st.abi_version == SHUNT_ABI_VERSION) {
		err = 1; /* ours: nothing to replace */
	} else {
		log_info("the shunt loaded at %s speaks ABI %u, this one ABI %u: replacing its "
			 "programs in place", o->pin_dir, u.st.abi_version, SHUNT_ABI_VERSION);
		err = upgrade_plan(&u);
		if (!err) {
			err = upgrade_load(&u);
			if (!err) {
				err = upgrade_move_links(&u);
				if (!err)
					err = upgrade_commit(&u, conf, errs);
				if (err)
					upgrade_rollback(&u);
			}
			if (err)
				upgrade_unpin(&u);
		}
	}
	free_links(u.links, u.n_links);
	free(u.gone);
	maps_close(&u.m);
	shunt_bpf__destroy(u.skel);
	if (u.cgfd >= 0)
		close(u.cgfd);
	if (u.state_fd >= 0)
		close(u.state_fd);
	pins_unlock(lockfd);
	return err;
}
