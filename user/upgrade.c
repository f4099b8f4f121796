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
	loader_choose_variants(skel);   /* the sk_msg variant this kernel takes */
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
			if (o->max_conns && loader_per_connection_map(map))
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
			err = loader_attach_sk_msg(skel, prog, o->pin_dir);
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
