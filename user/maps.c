// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Reading and writing shunt's maps through their fds; see maps.h. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "log.h"
#include "maps.h"
#include "pins.h"

const struct shunt_map_desc shunt_maps_desc[MAP_COUNT] = {
#define X(id, n, key, value, sz, lbl) [MAP_##id] = { n, key, value, sz, lbl },
	SHUNT_MAP_LIST(X)
#undef X
};

const char *const shunt_map_names[MAP_COUNT] = {
#define X(id, n, key, value, sz, lbl) [MAP_##id] = n,
	SHUNT_MAP_LIST(X)
#undef X
};

void maps_init(struct shunt_maps *m)
{
	for (int i = 0; i < MAP_COUNT; i++)
		m->fd[i] = -1;
}

void maps_close(struct shunt_maps *m)
{
	for (int i = 0; i < MAP_COUNT; i++) {
		if (m->fd[i] >= 0)
			close(m->fd[i]);
		m->fd[i] = -1;
	}
}

int maps_open_pinned(struct shunt_maps *m, const char *pin_dir)
{
	struct shunt_state st;
	char path[PATH_MAX];
	int err;

	maps_init(m);
	for (int i = 0; i < MAP_COUNT; i++) {
		struct bpf_map_info info = { 0 };
		__u32 len = sizeof(info);

		pins_path(path, sizeof(path), pin_dir, SHUNT_PIN_MAPS, shunt_map_names[i]);
		m->fd[i] = bpf_obj_get(path);
		if (m->fd[i] < 0) {
			err = -errno;
			log_err("cannot open pinned map %s: %s (a shunt of another version? unload it with "
				"that version)", path, strerror(-err));
			goto fail;
		}
		/* libbpf would reuse a same-sized map without noticing a new layout: check. */
		if (bpf_obj_get_info_by_fd(m->fd[i], &info, &len) ||
		    info.key_size != shunt_maps_desc[i].key_size ||
		    info.value_size != shunt_maps_desc[i].value_size) {
			log_err("pinned map %s has key/value sizes %u/%u, this shunt expects %u/%u: it "
				"was made by another version (unload it with that version)", path,
				info.key_size, info.value_size, shunt_maps_desc[i].key_size,
				shunt_maps_desc[i].value_size);
			err = -EPROTO;
			goto fail;
		}
	}
	err = maps_read_state(m, SHUNT_OWNER_DEFAULT, &st);
	if (!err && st.abi_version != SHUNT_ABI_VERSION) {
		log_err("the shunt loaded at %s speaks ABI %u, this one ABI %u: unload it with its own "
			"version first", pin_dir, st.abi_version, SHUNT_ABI_VERSION);
		err = -EPROTO;
	}
	if (!err)
		return 0;
fail:
	maps_close(m);
	return err;
}

int maps_read_state(const struct shunt_maps *m, __u64 owner, struct shunt_state *st)
{
	if (bpf_map_lookup_elem(m->fd[MAP_STATE], &owner, st))
		return -errno;
	return 0;
}

int maps_read_cfg(const struct shunt_maps *m, __u64 owner, __u32 slot, struct shunt_cfg *cfg)
{
	struct shunt_pol_key k = { .owner = owner, .slot = slot };

	if (bpf_map_lookup_elem(m->fd[MAP_CFG], &k, cfg))
		return -errno;
	return 0;
}

/* Every key of a map that keep() accepts, as one array of key_size records: collected
 * first, because a walk does not survive deletions under it. */
static void *collect_keys(int fd, size_t key_size, bool (*keep)(const void *key, void *arg),
			  void *arg, size_t *n_out)
{
	char key[256], next[256];
	void *prev = NULL;
	char *keys = NULL;
	size_t n = 0, cap = 0;

	*n_out = 0;
	if (key_size > sizeof(key))
		return NULL;
	while (!bpf_map_get_next_key(fd, prev, next)) {
		if (!keep || keep(next, arg)) {
			if (n == cap) {
				char *g = realloc(keys, (cap = cap ? cap * 2 : 256) * key_size);

				if (!g) {
					free(keys);
					return NULL;
				}
				keys = g;
			}
			memcpy(keys + n++ * key_size, next, key_size);
		}
		memcpy(key, next, key_size);
		prev = key;
	}
	*n_out = n;
	return keys ? keys : calloc(1, 1);
}

/* Chunks a slot's record can have (SHUNT_MAX_CIDRS keys). */
#define SHUNT_MAX_CIDR_CHUNKS ((1u << 20) / SHUNT_SLOTKEYS_PER_CHUNK + 1)

struct owner_slot {
	__u64 owner;
	__u32 slot;
};

static bool cidr_in_slot(const void *key, void *arg)
{
	const struct shunt_cidr_key *k = key;
	const struct owner_slot *os = arg;

	return k->owner == os->owner && k->slot == os->slot;
}

/* Remove every CIDR of one slot of one owner (walks the whole trie: the fallback when the
 * slot's record cannot be trusted). */
static int cidrs_clear_slot(int fd, __u64 owner, __u32 slot)
{
	struct owner_slot os = { owner, slot };
	size_t n;
	struct shunt_cidr_key *doomed = collect_keys(fd, sizeof(*doomed), cidr_in_slot, &os, &n);
	int err = 0;

	if (!doomed)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (bpf_map_delete_elem(fd, &doomed[i]) && errno != ENOENT) {
			err = -errno;
			break;
		}
	}
	free(doomed);
	return err;
}

/* The record of what `slot` holds, if it is valid for generation `gen`; NULL otherwise. */
static struct shunt_cidr_key *slotkeys_read(const struct shunt_maps *m, __u64 owner, __u32 slot,
					    __u32 gen, size_t *n_out)
{
	struct shunt_slotkeys_key k = { .owner = owner, .slot = slot, .chunk = 0 };
	struct shunt_slotkeys *rec = malloc(sizeof(*rec));
	struct shunt_cidr_key *keys = NULL;
	size_t total, got = 0;

	if (!rec || bpf_map_lookup_elem(m->fd[MAP_SLOTKEYS], &k, rec) || rec->generation != gen)
		goto none;
	total = rec->total;
	keys = malloc((total ? total : 1) * sizeof(*keys));
	if (!keys)
		goto none;
	for (;;) {
		if (rec->generation != gen || rec->n > SHUNT_SLOTKEYS_PER_CHUNK || got + rec->n > total)
			goto none;
		memcpy(keys + got, rec->keys, rec->n * sizeof(*keys));
		got += rec->n;
		if (got == total)
			break;
		k.chunk++;
		if (bpf_map_lookup_elem(m->fd[MAP_SLOTKEYS], &k, rec))
			goto none;
	}
	free(rec);
	*n_out = total;
	return keys;
none:
	free(rec);
	free(keys);
	return NULL;
}

/* Record what `slot` now holds (sorted keys), valid for `gen`. Chunk 0 last: it carries
 * the total, and a record is only believed when every chunk has the same generation. */
static int slotkeys_write(const struct shunt_maps *m, __u64 owner, __u32 slot, __u32 gen,
			  const struct shunt_cidr_key *keys, size_t n)
{
	struct shunt_slotkeys *rec = calloc(1, sizeof(*rec));
	size_t chunks = (n + SHUNT_SLOTKEYS_PER_CHUNK - 1) / SHUNT_SLOTKEYS_PER_CHUNK;
	int err = 0;

	if (!rec)
		return -ENOMEM;
	if (!chunks)
		chunks = 1;
	for (size_t c = chunks; c-- > 0;) {
		struct shunt_slotkeys_key k = { .owner = owner, .slot = slot, .chunk = (__u32)c };
		size_t off = c * SHUNT_SLOTKEYS_PER_CHUNK;

		rec->generation = gen;
		rec->total = (__u32)n;
		rec->n = (__u32)(n - off < SHUNT_SLOTKEYS_PER_CHUNK ? n - off : SHUNT_SLOTKEYS_PER_CHUNK);
		memcpy(rec->keys, keys + off, rec->n * sizeof(*keys));
		if (bpf_map_update_elem(m->fd[MAP_SLOTKEYS], &k, rec, BPF_ANY)) {
			err = -errno;
			break;
		}
	}
	free(rec);
	return err;
}

/* Forget the record first: a crash between here and slotkeys_write() leaves no record,
 * and the next apply rewrites the slot in full instead of trusting a stale one. */
static void slotkeys_invalidate(const struct shunt_maps *m, __u64 owner, __u32 slot)
{
	struct shunt_slotkeys_key k = { .owner = owner, .slot = slot, .chunk = 0 };

	bpf_map_delete_elem(m->fd[MAP_SLOTKEYS], &k);
}

/* Every chunk of a slot's record (after its keys are gone). */
static void slotkeys_delete(const struct shunt_maps *m, __u64 owner, __u32 slot)
{
	struct shunt_slotkeys_key k = { .owner = owner, .slot = slot };

	for (k.chunk = 0; k.chunk < SHUNT_MAX_CIDR_CHUNKS; k.chunk++)
		if (bpf_map_delete_elem(m->fd[MAP_SLOTKEYS], &k) && errno == ENOENT && k.chunk)
			break;
}

/* Make the CIDR entries of `slot` equal to want[] (sorted): only the difference when the
 * slot's record is valid, else clear the slot and write all. Returns syscalls' -errno. */
static int cidrs_sync_slot(const struct shunt_maps *m, __u64 owner, __u32 slot, __u32 old_gen,
			   const struct shunt_cidr_key *want, size_t n_want)
{
	struct shunt_cidr_val one = { 0 };
	struct shunt_cidr_key *have;
	size_t n_have = 0, i = 0, j = 0;
	int fd = m->fd[MAP_CIDRS], err;

	for (size_t k = 1; k < n_want; k++)
		if (policy_key_cmp(&want[k - 1], &want[k]) >= 0)
			return -EINVAL; /* a caller bug: policy_compile() sorts and dedups */
	have = slotkeys_read(m, owner, slot, old_gen, &n_have);
	/* The merge needs strictly ascending lists on both sides. A record that is not (one
	 * written before duplicates were removed) is not trusted: the slot is rewritten. */
	for (size_t k = 1; have && k < n_have; k++) {
		if (policy_key_cmp(&have[k - 1], &have[k]) >= 0) {
			free(have);
			have = NULL;
		}
	}
	slotkeys_invalidate(m, owner, slot);
	if (!have) {
		err = cidrs_clear_slot(fd, owner, slot);
		if (err)
			return err;
		n_have = 0;
	}
	/* merge two sorted lists: delete what is only in have, insert what is only in want */
	while (i < n_have || j < n_want) {
		int c = i == n_have ? 1 : j == n_want ? -1 : policy_key_cmp(&have[i], &want[j]);

		if (c < 0) {
			if (bpf_map_delete_elem(fd, &have[i]) && errno != ENOENT)
				goto fail;
			i++;
		} else if (c > 0) {
			if (bpf_map_update_elem(fd, &want[j], &one, BPF_ANY)) {
				if (errno == ENOSPC || errno == E2BIG)
					log_err("the CIDR map is full");
				goto fail;
			}
			j++;
		} else {
			i++;
			j++;
		}
	}
	free(have);
	return 0;
fail:
	err = -errno;
	free(have);
	return err;
}

/* The port blocks of one slot equal to p's lists: non-empty blocks written, others deleted. */
static int ports_sync_slot(const struct shunt_maps *m, __u64 owner, __u32 slot,
			   const struct shunt_policy *p)
{
	for (__u32 l = 0; l < SHUNT_PORT_LISTS; l++) {
		for (__u32 b = 0; b < SHUNT_PORT_BLOCKS; b++) {
			struct shunt_port_key k = { .owner = owner, .slot = (__u8)slot,
						    .list = (__u8)l, .block = (__u16)b };
			const __u64 *w = &p->ports[l].bits[b * SHUNT_PORT_BLOCK_WORDS];
			bool any = false;

			for (int i = 0; i < SHUNT_PORT_BLOCK_WORDS; i++)
				any |= w[i] != 0;
			if (any) {
				if (bpf_map_update_elem(m->fd[MAP_PORTS], &k, w, BPF_ANY))
					return -errno;
			} else if (bpf_map_delete_elem(m->fd[MAP_PORTS], &k) && errno != ENOENT) {
				return -errno;
			}
		}
	}
	return 0;
}

int maps_write_slot(const struct shunt_maps *m, __u32 slot, const struct shunt_policy *p)
{
	struct shunt_cfg old = { 0 };
	struct shunt_pol_key k = { .owner = p->owner, .slot = slot };
	int err;

	/* the generation the slot's record must carry to be trusted */
	bpf_map_lookup_elem(m->fd[MAP_CFG], &k, &old);
	err = cidrs_sync_slot(m, p->owner, slot, old.generation, p->cidrs, p->n_cidrs);
	if (err)
		return err;
	err = ports_sync_slot(m, p->owner, slot, p);
	if (err)
		return err;
	if (bpf_map_update_elem(m->fd[MAP_CFG], &k, &p->cfg, BPF_ANY))
		return -errno;
	return slotkeys_write(m, p->owner, slot, p->cfg.generation, p->cidrs, p->n_cidrs);
}

int maps_flip(const struct shunt_maps *m, __u64 owner, __u32 slot, __u32 generation)
{
	struct shunt_state st = { .abi_version = SHUNT_ABI_VERSION, .active_slot = slot,
				  .generation = generation };
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	st.applied_ns = (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
	if (bpf_map_update_elem(m->fd[MAP_STATE], &owner, &st, BPF_ANY))
		return -errno;
	return 0;
}

void maps_next_slot(const struct shunt_maps *m, __u64 owner, __u32 *slot, __u32 *generation)
{
	struct shunt_state st;

	*slot = 0;
	*generation = 1;
	if (!maps_read_state(m, owner, &st) && st.generation) {
		*slot = (st.active_slot & (SHUNT_SLOTS - 1)) ^ 1;
		*generation = st.generation + 1;
	}
}

int maps_set_policy(const struct shunt_maps *m, __u64 owner, const struct shunt_config *conf,
		    __u32 *generation_out)
{
	struct shunt_policy *pol = malloc(sizeof(*pol));
	__u32 slot, gen;
	int err;

	if (!pol)
		return -ENOMEM;
	maps_next_slot(m, owner, &slot, &gen);
	err = policy_compile(conf, owner, slot, gen, pol);
	if (!err)
		err = maps_write_slot(m, slot, pol);
	if (!err)
		err = maps_flip(m, owner, slot, gen);
	if (!err && generation_out)
		*generation_out = gen;
	policy_free(pol);
	free(pol);
	return err;
}

int maps_delete_policy(const struct shunt_maps *m, __u64 owner)
{
	struct shunt_policy *empty;
	int err = 0;

	if (owner == SHUNT_OWNER_DEFAULT)
		return -EINVAL;
	/* The state first: from here on every decision for this pod takes the default. */
	if (bpf_map_delete_elem(m->fd[MAP_STATE], &owner) && errno != ENOENT)
		return -errno;
	empty = calloc(1, sizeof(*empty));
	if (!empty)
		return -ENOMEM;
	empty->owner = owner;
	for (__u32 slot = 0; slot < SHUNT_SLOTS; slot++) {
		struct shunt_pol_key k = { .owner = owner, .slot = slot };
		struct shunt_cfg old = { 0 };
		int e;

		bpf_map_lookup_elem(m->fd[MAP_CFG], &k, &old);
		e = cidrs_sync_slot(m, owner, slot, old.generation, NULL, 0);
		if (!e)
			e = ports_sync_slot(m, owner, slot, empty);
		if (!e && bpf_map_delete_elem(m->fd[MAP_CFG], &k) && errno != ENOENT)
			e = -errno;
		slotkeys_delete(m, owner, slot);
		if (e && !err)
			err = e;
	}
	free(empty);
	return err;
}

static int cookie_in(__u64 c, const __u64 *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == c)
			return 1;
	return 0;
}

/* A local-address key whose netns has no workload entry (any more). */
static bool netns_gone(const void *key, void *netns_fd)
{
	struct shunt_workload v;

	return bpf_map_lookup_elem(*(int *)netns_fd, &((const struct shunt_local_key *)key)->netns_cookie, &v) != 0;
}

#define WL_REASONS (SHUNT_WL_AUTO | SHUNT_WL_SCANNED | SHUNT_WL_POD_INIT | \
		    SHUNT_WL_EXPLICIT_SLOT(0) | SHUNT_WL_EXPLICIT_SLOT(1))
#define WL_CONF_POLICY (SHUNT_WL_OWN_POLICY | SHUNT_WL_POLICY_FROM_CONFIG)

static bool local_of(const void *key, void *cookie)
{
	return ((const struct shunt_local_key *)key)->netns_cookie == *(__u64 *)cookie;
}

int maps_forget_pod(const struct shunt_maps *m, __u64 cookie)
{
	__u64 k6 = cookie | SHUNT_LISTEN_V6, owner;
	struct shunt_local_key *addrs;
	size_t n;
	int err = 0;

	/* the entry first: from here its connections are not captured */
	if (bpf_map_delete_elem(m->fd[MAP_NETNS], &cookie) && errno != ENOENT)
		return -errno;
	bpf_map_delete_elem(m->fd[MAP_PODNAME], &cookie);
	err = maps_delete_policy(m, cookie);
	bpf_map_delete_elem(m->fd[MAP_LISTEN], &cookie);
	bpf_map_delete_elem(m->fd[MAP_LISTEN], &k6);
	addrs = collect_keys(m->fd[MAP_LOCAL], sizeof(*addrs), local_of, &cookie, &n);
	if (!addrs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		bpf_map_delete_elem(m->fd[MAP_LOCAL], &addrs[i]);
		if (!bpf_map_lookup_elem(m->fd[MAP_PODIP], &addrs[i].ip, &owner) && owner == cookie)
			bpf_map_delete_elem(m->fd[MAP_PODIP], &addrs[i].ip);
	}
	free(addrs);
	return err;
}

int maps_record_addrs(const struct shunt_maps *m, __u64 cookie, const struct shunt_ip *addrs,
		      size_t n)
{
	int err = 0;

	for (size_t a = 0; a < n; a++) {
		struct shunt_local_key lk = { .netns_cookie = cookie, .ip = addrs[a] };
		__u32 one = 1;

		if (bpf_map_update_elem(m->fd[MAP_LOCAL], &lk, &one, BPF_ANY) ||
		    bpf_map_update_elem(m->fd[MAP_PODIP], &addrs[a], &cookie, BPF_ANY))
			err = -errno;
	}
	return err;
}

int maps_sync_workloads(const struct shunt_maps *m, __u32 slot,
			const struct resolved_workload *wl, size_t n,
			const __u64 *live, size_t n_live)
{
	int fd = m->fd[MAP_NETNS];
	__u64 *keys;
	size_t nk;
	struct timespec ts;
	int err = 0, e;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	/* Add and update first, so a workload never blinks out of the mesh. */
	for (size_t i = 0; i < n; i++) {
		struct shunt_workload v = { 0 };

		if (bpf_map_lookup_elem(fd, &wl[i].cookie, &v))
			v.since_ns = (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
		v.flags |= wl[i].flags;
		/* A pod that registered itself keeps the policy it asked for. */
		if (wl[i].policy && !(v.flags & SHUNT_WL_POD_INIT))
			v.flags |= WL_CONF_POLICY;
		if (wl[i].workload_id)
			v.workload_id = wl[i].workload_id;
		if (bpf_map_update_elem(fd, &wl[i].cookie, &v, BPF_ANY))
			return -errno;
		e = maps_record_addrs(m, wl[i].cookie, wl[i].addrs, wl[i].n_addrs);
		if (e) {
			err = e;
			log_warn("cannot record a local address of netns %llu: %s",
				 (unsigned long long)wl[i].cookie, strerror(-err));
		}
	}
	keys = collect_keys(fd, sizeof(*keys), NULL, NULL, &nk);
	if (!keys)
		return -ENOMEM;
	for (size_t k = 0; k < nk; k++) {
		struct shunt_workload v;
		__u32 explicit_now = 0, before;
		bool conf_policy = false;

		if (bpf_map_lookup_elem(fd, &keys[k], &v))
			continue;
		before = v.flags;
		for (size_t i = 0; i < n; i++) {
			if (wl[i].cookie == keys[k]) {
				explicit_now = wl[i].flags & SHUNT_WL_EXPLICIT_SLOT(slot);
				conf_policy = wl[i].policy != NULL;
			}
		}
		v.flags = (v.flags & ~SHUNT_WL_EXPLICIT_SLOT(slot)) | explicit_now;
		/* The config no longer gives this workload a policy of its own. */
		if ((v.flags & SHUNT_WL_POLICY_FROM_CONFIG) && !conf_policy)
			v.flags &= ~WL_CONF_POLICY;
		if (live && !cookie_in(keys[k], live, n_live))
			v.flags = 0;  /* the netns is gone: cookies are never reused */
		if (!(v.flags & WL_REASONS)) {
			if (bpf_map_delete_elem(fd, &keys[k]) && errno != ENOENT)
				err = -errno;
			bpf_map_delete_elem(m->fd[MAP_PODNAME], &keys[k]);
			v.flags = 0;
		} else if (v.flags != before &&
			   bpf_map_update_elem(fd, &keys[k], &v, BPF_EXIST) && errno != ENOENT) {
			err = -errno;
		}
	}
	free(keys);

	/* Own policies whose workload entry is gone or no longer points at them: the pod left,
	 * the config dropped its keys, or a writer died between the policy and the entry. */
	keys = collect_keys(m->fd[MAP_STATE], sizeof(*keys), NULL, NULL, &nk);
	if (!keys)
		return -ENOMEM;
	for (size_t k = 0; k < nk; k++) {
		struct shunt_workload v;

		if (keys[k] == SHUNT_OWNER_DEFAULT)
			continue;
		if (!bpf_map_lookup_elem(fd, &keys[k], &v) && (v.flags & SHUNT_WL_OWN_POLICY))
			continue;
		e = maps_delete_policy(m, keys[k]);
		if (e) {
			log_warn("cannot remove the policy of netns cookie %llu: %s",
				 (unsigned long long)keys[k], strerror(-e));
			err = e;
		}
	}
	free(keys);

	/* Local addresses whose netns left the mesh. */
	{
		size_t nd;
		struct shunt_local_key *doomed = collect_keys(m->fd[MAP_LOCAL], sizeof(*doomed),
							      netns_gone, (void *)&fd, &nd);

		if (!doomed)
			return -ENOMEM;
		for (size_t i = 0; i < nd; i++) {
			__u64 owner;

			bpf_map_delete_elem(m->fd[MAP_LOCAL], &doomed[i]);
			/* The address may already belong to a new pod (same refresh, reused
			 * IP): only the gone pod's own entry goes. */
			if (!bpf_map_lookup_elem(m->fd[MAP_PODIP], &doomed[i].ip, &owner) &&
			    owner == doomed[i].netns_cookie)
				bpf_map_delete_elem(m->fd[MAP_PODIP], &doomed[i].ip);
		}
		free(doomed);
	}
	return err;
}

int maps_read_counters(const struct shunt_maps *m, __u64 *out)
{
	int ncpu = libbpf_num_possible_cpus();
	struct shunt_counter_val *vals;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	vals = calloc((size_t)ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (__u32 i = 0; i < SHUNT_COUNTERS; i++) {
		out[i] = 0;
		if (bpf_map_lookup_elem(m->fd[MAP_STATS], &i, vals)) {
			int err = -errno;

			free(vals);
			return err;
		}
		for (int c = 0; c < ncpu; c++)
			out[i] += vals[c].count;
	}
	free(vals);
	return 0;
}

__u32 maps_max_entries(int fd)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.max_entries;
}

long maps_count_entries(int fd, size_t key_size)
{
	char key[256], next[256];
	void *prev = NULL;
	long n = 0;

	if (key_size > sizeof(key))
		return -EINVAL;
	while (!bpf_map_get_next_key(fd, prev, next)) {
		n++;
		memcpy(key, next, key_size);
		prev = key;
	}
	return n;
}

int maps_find_netns(const struct shunt_maps *m, const char *path, __u64 *cookie)
{
	struct shunt_workload wl;
	__u64 key, next;
	void *prev = NULL;
	struct stat st;

	if (stat(path, &st))
		return -errno;
	while (!bpf_map_get_next_key(m->fd[MAP_NETNS], prev, &next)) {
		if (!bpf_map_lookup_elem(m->fd[MAP_NETNS], &next, &wl) && wl.netns_ino == st.st_ino) {
			*cookie = next;
			return 0;
		}
		key = next;
		prev = &key;
	}
	return -ESRCH;
}

int maps_set_podname(const struct shunt_maps *m, __u64 cookie, const char *ns, const char *name)
{
	struct shunt_podname v;

	memset(&v, 0, sizeof(v));
	if (!ns || !name || !*ns || !*name || strlen(ns) >= sizeof(v.ns) ||
	    strlen(name) >= sizeof(v.name))
		return -EINVAL;
	strcpy(v.ns, ns);
	strcpy(v.name, name);
	return bpf_map_update_elem(m->fd[MAP_PODNAME], &cookie, &v, BPF_ANY) ? -errno : 0;
}

int maps_podname(const struct shunt_maps *m, __u64 cookie, char *buf, size_t len)
{
	struct shunt_podname v;

	if (m->fd[MAP_PODNAME] < 0 || bpf_map_lookup_elem(m->fd[MAP_PODNAME], &cookie, &v))
		return -ENOENT;
	v.ns[sizeof(v.ns) - 1] = v.name[sizeof(v.name) - 1] = '\0';
	snprintf(buf, len, "%s/%s", v.ns, v.name);
	return 0;
}

int maps_find_pod(const struct shunt_maps *m, const char *pod, __u64 *cookie, char *what,
		  size_t len)
{
	const char *slash = strchr(pod, '/');
	__u64 key, next;
	void *prev = NULL;

	if (!slash || pod[0] == '/') {
		/* a netns: a /run/netns name, or a path */
		snprintf(what, len, slash ? "%s" : "/run/netns/%s", pod);
		return maps_find_netns(m, what, cookie);
	}
	/* NAMESPACE/NAME: the pods shunt was told the names of */
	snprintf(what, len, "pod %s", pod);
	while (!bpf_map_get_next_key(m->fd[MAP_PODNAME], prev, &next)) {
		char name[sizeof(struct shunt_podname) + 2];

		if (!maps_podname(m, next, name, sizeof(name)) && !strcmp(name, pod)) {
			*cookie = next;
			return 0;
		}
		key = next;
		prev = &key;
	}
	return -ESRCH;
}
