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
struct bpf_program *loader_choose_variants(struct shunt_bpf *skel)
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
bool loader_per_connection_map(const struct bpf_map *map)
{
	for (int i = 0; i < MAP_COUNT; i++)
		if (shunt_maps_desc[i].sizing == SHUNT_MAP_PER_CONN &&
		    !strcmp(bpf_map__name(map), shunt_maps_desc[i].name))
			return true;
	return false;
}

/* sk_msg runs on sends of sockets in the sockhash. A sockmap bpf_link (kernel 6.10+) can be
 * pinned like the others; older kernels only have bpf_prog_attach, which lasts as long as
 * the (pinned) map does. libbpf 1.1 has no helper for either: use the raw calls. */
int loader_attach_sk_msg(struct shunt_bpf *skel, struct bpf_program *prog, const char *pin_dir)
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
	sk_msg = loader_choose_variants(skel);
	skel->rodata->shunt_abi_lo = SHUNT_ABI_VERSION;   /* the policy this binary writes */
	skel->rodata->shunt_abi_hi = SHUNT_ABI_VERSION;
	if (o->max_conns) {
		struct bpf_map *map;

		bpf_object__for_each_map(map, skel->obj)
			if (loader_per_connection_map(map))
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
	err = loader_attach_sk_msg(skel, sk_msg, o->pin_dir);
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
