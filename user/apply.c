// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* See apply.h. The live slot is never written: a failure leaves the running policy as is. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "apply.h"
#include "log.h"
#include "pins.h"
#include "policy.h"
#include "shunt_decide.h"
#include "workload.h"

static void link_pin_path(char *buf, size_t len, const char *pin_dir, __u64 cookie)
{
	char name[64];

	snprintf(name, sizeof(name), SHUNT_PIN_SK_LOOKUP_PREFIX "%" PRIu64, (uint64_t)cookie);
	pins_path(buf, len, pin_dir, SHUNT_PIN_LINKS, name);
}

/* The pod's sk_lookup link, pinned by its cookie; 0 when it is there (already or now). */
static int attach_inbound(const struct apply_target *t, int nsfd, __u64 cookie, const char *label)
{
	char path[PATH_MAX];
	int link, err = 0;

	link_pin_path(path, sizeof(path), t->pin_dir, cookie);
	if (!access(path, F_OK))
		return 0;
	link = bpf_link_create(t->sk_lookup_fd, nsfd, BPF_SK_LOOKUP, NULL);
	if (link < 0 || bpf_obj_pin(link, path)) {
		err = -errno;
		log_fields(LOG_WARN, LOG_F({ "event", "refused" }, { "netns", label },
					   { "reason", strerror(-err) }),
			   "cannot attach inbound capture to netns %s: %s", label, strerror(-err));
	} else {
		char c[24];

		snprintf(c, sizeof(c), "%" PRIu64, (uint64_t)cookie);
		log_fields(LOG_INFO, LOG_F({ "event", "meshed" }, { "netns", label },
					   { "netns_cookie", c }),
			   "inbound capture attached to netns %s (cookie %s)", label, c);
	}
	if (link >= 0)
		close(link);
	return err;
}

/* One meshed pod: its sk_lookup link, its listener, its inode in the workload entry. */
static void reconcile_pod(const struct apply_target *t, const struct netns_seen *ns,
			  struct shunt_workload *wl)
{
	char path[PATH_MAX];
	__u64 sock_cookie, k6 = ns->cookie | SHUNT_LISTEN_V6;
	int nsfd, fd;

	link_pin_path(path, sizeof(path), t->pin_dir, ns->cookie);
	if (access(path, F_OK)) {
		nsfd = open(ns->path, O_RDONLY | O_CLOEXEC);
		if (nsfd < 0)
			log_warn("cannot open netns %s: %s", ns->path, strerror(errno));
		else
			attach_inbound(t, nsfd, ns->cookie, ns->path);
		if (nsfd >= 0)
			close(nsfd);
	}
	/* A proxy that was listening before shunt: take its listener over. Later restarts
	 * are handled in the kernel (sockops at listen()). */
	if (ns->inbound_sock_ino &&
	    bpf_map_lookup_elem(t->m->fd[MAP_LISTEN], &ns->cookie, &sock_cookie) &&
	    bpf_map_lookup_elem(t->m->fd[MAP_LISTEN], &k6, &sock_cookie)) {
		fd = workload_take_listener(ns);
		if (fd >= 0) {
			struct sockaddr_storage ss = { 0 };
			socklen_t len = sizeof(ss);
			__u64 v = (__u64)fd, key = ns->cookie;

			if (!getsockname(fd, (struct sockaddr *)&ss, &len) && ss.ss_family == AF_INET6)
				key |= SHUNT_LISTEN_V6;
			if (bpf_map_update_elem(t->m->fd[MAP_LISTEN], &key, &v, BPF_ANY))
				log_warn("cannot hand the inbound listener of %s to sk_lookup: %s",
					 ns->path, strerror(errno));
			close(fd);
		}
	}
	if (wl->netns_ino != ns->ino) {
		wl->netns_ino = ns->ino;
		bpf_map_update_elem(t->m->fd[MAP_NETNS], &ns->cookie, wl, BPF_EXIST);
	}
}

/* Links of pods that are gone or no longer meshed. */
static void prune_links(const struct apply_target *t, const __u64 *keep, size_t n_keep)
{
	char dir[PATH_MAX], path[PATH_MAX + 256];
	size_t plen = strlen(SHUNT_PIN_SK_LOOKUP_PREFIX);
	struct dirent *de;
	DIR *d;

	pins_path(dir, sizeof(dir), t->pin_dir, SHUNT_PIN_LINKS, NULL);
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		__u64 cookie;
		bool kept = false;

		if (strncmp(de->d_name, SHUNT_PIN_SK_LOOKUP_PREFIX, plen))
			continue;
		cookie = strtoull(de->d_name + plen, NULL, 10);
		for (size_t i = 0; i < n_keep; i++)
			kept |= keep[i] == cookie;
		if (kept)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (unlink(path))
			log_warn("cannot remove %s: %s", path, strerror(errno));
		else
			log_fields(LOG_INFO, LOG_F({ "event", "unmeshed" },
						   { "netns_cookie", de->d_name + plen }),
				   "inbound capture detached from netns cookie %" PRIu64,
				   (uint64_t)cookie);
	}
	closedir(d);
}

static int reconcile_inbound(const struct apply_target *t, const struct netns_census *census)
{
	struct shunt_state st;
	struct shunt_cfg cfg;
	__u64 *keep;
	size_t n_keep = 0;
	int meshed = 0;

	if (maps_read_state(t->m, SHUNT_OWNER_DEFAULT, &st) ||
	    maps_read_cfg(t->m, SHUNT_OWNER_DEFAULT, st.active_slot, &cfg))
		return -errno;
	keep = calloc(census->n + 1, sizeof(*keep));
	if (!keep)
		return -ENOMEM;
	for (size_t i = 0; i < census->n; i++) {
		const struct netns_seen *ns = &census->v[i];
		struct shunt_workload wl;

		if (bpf_map_lookup_elem(t->m->fd[MAP_NETNS], &ns->cookie, &wl) ||
		    !shunt_workload_meshed(&cfg, wl.flags, st.active_slot))
			continue;
		meshed++;
		keep[n_keep++] = ns->cookie;
		if (t->sk_lookup_fd >= 0)
			reconcile_pod(t, ns, &wl);
	}
	if (t->sk_lookup_fd >= 0)
		prune_links(t, keep, n_keep);
	free(keep);
	return meshed;
}

/* Own policies of config workloads: all of them on an apply (the config may have changed),
 * on a refresh only those not written yet (a listed netns that appeared since). */
static int write_workload_policies(const struct apply_target *t, const struct resolved_workload *wl,
				   size_t n, bool all)
{
	for (size_t i = 0; i < n; i++) {
		struct shunt_workload v;
		struct shunt_state st;
		int err;

		if (!wl[i].policy)
			continue;
		if (!bpf_map_lookup_elem(t->m->fd[MAP_NETNS], &wl[i].cookie, &v) &&
		    (v.flags & SHUNT_WL_POD_INIT)) {
			log_warn("workload %s registered itself with pod-init: its own policy stays, "
				 "the config's is not applied", wl[i].policy->source);
			continue;
		}
		if (!all && !maps_read_state(t->m, wl[i].cookie, &st))
			continue;
		err = maps_set_policy(t->m, wl[i].cookie, wl[i].policy, NULL);
		if (err) {
			log_err("cannot write the policy of workload %s: %s", wl[i].policy->source,
				strerror(-err));
			return err;
		}
	}
	return 0;
}

/* Census, resolve, write the workloads' own policies, sync the workload entries of `slot`. */
static int sync_pods(const struct apply_target *t, const struct shunt_config *conf, __u32 slot,
		     bool strict, struct netns_census *census, struct config_errors *errs)
{
	struct resolved_workload *wl = NULL;
	__u64 *live = NULL;
	size_t n_wl = 0, n_live = 0;
	int err;

	struct census_scope scope;

	err = workload_scope(t->cgroup_id, &scope);
	if (err)
		log_warn("no cgroup2 mount: only listed workloads and the kernel's detections count");
	err = workload_census(conf, &scope, census);
	if (err) {
		log_err("cannot list network namespaces: %s", strerror(-err));
		return err;
	}
	err = workload_resolve(conf, census, slot, strict, errs, &wl, &n_wl, &live, &n_live);
	if (err)
		return err;
	if (conf->draining) {
		/* shunt uninstall: a scan keeps the pods it meshed, it finds no new one */
		size_t k = 0;

		for (size_t i = 0; i < n_wl; i++) {
			struct shunt_workload v;

			if ((wl[i].flags & SHUNT_WL_SCANNED) &&
			    bpf_map_lookup_elem(t->m->fd[MAP_NETNS], &wl[i].cookie, &v)) {
				free(wl[i].addrs);
				continue;
			}
			wl[k++] = wl[i];
		}
		n_wl = k;
	}
	err = write_workload_policies(t, wl, n_wl, strict);
	if (!err)
		err = maps_sync_workloads(t->m, slot, wl, n_wl, live, n_live);
	if (err)
		log_err("cannot update the meshed workloads: %s", strerror(-err));
	workload_resolved_free(wl, n_wl);
	free(live);
	return err;
}

int apply_config(const struct apply_target *t, const struct shunt_config *conf,
		 struct config_errors *errs, __u32 *generation_out)
{
	struct netns_census census = { 0 };
	struct shunt_policy pol = { 0 };
	__u32 slot, generation;
	int err;

	maps_next_slot(t->m, SHUNT_OWNER_DEFAULT, &slot, &generation);
	err = policy_compile(conf, SHUNT_OWNER_DEFAULT, slot, generation, &pol);
	if (err)
		return err;
	/* The workloads before the policy: their errors are config errors, reported before
	 * any map is written (sync writes only after every workload resolved). */
	err = sync_pods(t, conf, slot, true, &census, errs);
	if (err)
		goto out;
	err = maps_write_slot(t->m, slot, &pol);
	if (err) {
		log_err("cannot write policy slot %u: %s", slot, strerror(-err));
		goto out;
	}
	err = maps_flip(t->m, SHUNT_OWNER_DEFAULT, slot, generation);
	if (err) {
		log_err("cannot switch to policy slot %u: %s", slot, strerror(-err));
		goto out;
	}
	err = reconcile_inbound(t, &census);
	if (err >= 0) {
		char g[12];

		snprintf(g, sizeof(g), "%u", generation);
		log_fields(LOG_INFO, LOG_F({ "event", "policy_applied" }, { "generation", g }),
			   "policy generation %s live (slot %u): %zu CIDR entries, %d meshed pods", g,
			   slot, pol.n_cidrs, err);
		err = 0;
		if (generation_out)
			*generation_out = generation;
	}
out:
	policy_free(&pol);
	workload_census_free(&census);
	return err;
}

int apply_refresh(const struct apply_target *t, const struct shunt_config *conf)
{
	struct config_errors errs = { 0 };
	struct netns_census census = { 0 };
	struct shunt_state st;
	int err;

	err = maps_read_state(t->m, SHUNT_OWNER_DEFAULT, &st);
	if (!err)
		err = sync_pods(t, conf, st.active_slot, false, &census, &errs);
	if (errs.n) {
		/* An explicit workload's netns went away: say so, keep running. */
		config_errors_print(&errs);
		config_errors_free(&errs);
	}
	if (!err)
		err = reconcile_inbound(t, &census);
	workload_census_free(&census);
	return err;
}

int apply_register_pod(const struct apply_target *t, int nsfd, const struct netns_seen *ns,
		       const struct shunt_config *policy, __u32 *generation)
{
	struct shunt_workload v = { 0 };
	struct timespec ts;
	char label[64];
	int err;

	if (t->sk_lookup_fd < 0)
		return -ENOENT;    /* no inbound program: the pod could not be fail-closed */
	/* Its policy first: the entry that points at it comes after. */
	err = maps_set_policy(t->m, ns->cookie, policy, generation);
	if (err)
		return err;
	if (bpf_map_lookup_elem(t->m->fd[MAP_NETNS], &ns->cookie, &v)) {
		clock_gettime(CLOCK_BOOTTIME, &ts);
		v.since_ns = (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
	}
	v.flags = (v.flags & ~SHUNT_WL_POLICY_FROM_CONFIG) | SHUNT_WL_POD_INIT | SHUNT_WL_OWN_POLICY;
	v.netns_ino = ns->ino;
	err = maps_record_addrs(t->m, ns->cookie, ns->addrs, ns->n_addrs);
	if (err)
		return err;
	snprintf(label, sizeof(label), "inode %" PRIu64, (uint64_t)ns->ino);
	err = attach_inbound(t, nsfd, ns->cookie, label);
	if (err)
		return err;
	/* The one write that meshes it: from here its connections are captured. */
	if (bpf_map_update_elem(t->m->fd[MAP_NETNS], &ns->cookie, &v, BPF_ANY))
		return -errno;
	return 0;
}

int apply_unregister_pod(const struct apply_target *t, __u64 cookie)
{
	char path[PATH_MAX];
	int err = maps_forget_pod(t->m, cookie);

	link_pin_path(path, sizeof(path), t->pin_dir, cookie);
	if (unlink(path) && errno != ENOENT && !err)
		err = -errno;
	return err;
}

bool apply_links_defunct(const struct apply_target *t)
{
	char dir[PATH_MAX], path[PATH_MAX + 256];
	struct dirent *de;
	bool gone = false;
	DIR *d;

	pins_path(dir, sizeof(dir), t->pin_dir, SHUNT_PIN_LINKS, NULL);
	d = opendir(dir);
	if (!d)
		return false;
	while (!gone && (de = readdir(d))) {
		struct bpf_link_info info = { 0 };
		__u32 len = sizeof(info);
		int fd;

		if (strncmp(de->d_name, SHUNT_PIN_SK_LOOKUP_PREFIX, strlen(SHUNT_PIN_SK_LOOKUP_PREFIX)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		/* the kernel detaches a netns link when its namespace is destroyed */
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) && !info.netns.netns_ino)
			gone = true;
		close(fd);
	}
	closedir(d);
	return gone;
}

int apply_target_open(struct apply_target *t, struct shunt_maps *m, const char *pin_dir)
{
	int err = maps_open_pinned(m, pin_dir);

	*t = (struct apply_target){ .pin_dir = pin_dir, .sk_lookup_fd = -1 };
	if (err)
		return err;
	t->m = m;
	t->sk_lookup_fd = pins_open_prog(pin_dir, "shunt_sk_lookup");
	t->cgroup_id = pins_cgroup_id(pin_dir);
	return 0;
}

void apply_target_close(struct apply_target *t, struct shunt_maps *m)
{
	if (t->sk_lookup_fd >= 0)
		close(t->sk_lookup_fd);
	t->sk_lookup_fd = -1;
	maps_close(m);
}

int apply_pinned(const char *pin_dir, const struct shunt_config *conf, struct config_errors *errs,
		 __u32 *generation)
{
	struct apply_target t;
	struct shunt_maps m;
	int lockfd, err;

	if (!pins_loaded(pin_dir)) {
		log_err("shunt is not loaded at %s (run 'shunt load' first)", pin_dir);
		return -ENOENT;
	}
	lockfd = pins_lock(pin_dir, false);
	if (lockfd < 0)
		return lockfd;
	err = apply_target_open(&t, &m, pin_dir);
	if (!err) {
		err = apply_config(&t, conf, errs, generation);
		apply_target_close(&t, &m);
	}
	pins_unlock(lockfd);
	return err;
}
