// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* See doctor.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "shunt.skel.h"
#include "cgroup.h"
#include "config.h"
#include "doctor.h"
#include "jsonw.h"
#include "maps.h"
#include "pins.h"
#include "report.h"
#include "workload.h"

#ifndef CAP_BPF
#define CAP_BPF 39
#endif

enum { OK, INFO, FAIL };
static const char *const status_word[] = { "ok", "info", "FAIL" };

struct finding {
	int status;
	char check[32];
	char detail[512];
	char fix[384];
};

struct doctor {
	struct finding *v;
	size_t n, cap;
	int failed;
};

static void say(struct doctor *d, int status, const char *check, const char *fix,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void say(struct doctor *d, int status, const char *check, const char *fix,
		const char *fmt, ...)
{
	struct finding *f;
	va_list ap;

	if (d->n == d->cap) {
		struct finding *g = realloc(d->v, (d->cap = d->cap ? d->cap * 2 : 32) * sizeof(*g));

		if (!g)
			return;
		d->v = g;
	}
	f = &d->v[d->n++];
	f->status = status;
	snprintf(f->check, sizeof(f->check), "%s", check);
	snprintf(f->fix, sizeof(f->fix), "%s", fix ? fix : "");
	va_start(ap, fmt);
	vsnprintf(f->detail, sizeof(f->detail), fmt, ap);
	va_end(ap);
	if (status == FAIL)
		d->failed++;
}

static void print_findings(const struct doctor *d, bool json)
{
	if (json) {
		struct jw w;

		jw_init(&w, stdout);
		jw_obj(&w);
		jw_kbool(&w, "ok", !d->failed);
		jw_ki64(&w, "failed", d->failed);
		jw_karr(&w, "checks");
		for (size_t i = 0; i < d->n; i++) {
			jw_obj(&w);
			jw_kstr(&w, "check", d->v[i].check);
			jw_kstr(&w, "status", status_word[d->v[i].status]);
			jw_kstr(&w, "detail", d->v[i].detail);
			jw_kstr(&w, "fix", d->v[i].fix);
			jw_end(&w);
		}
		jw_end(&w);
		jw_end(&w);
		return;
	}
	for (size_t i = 0; i < d->n; i++) {
		printf("%-5s %-13s %s\n", status_word[d->v[i].status], d->v[i].check, d->v[i].detail);
		if (d->v[i].fix[0])
			printf("%-5s %-13s fix: %s\n", "", "", d->v[i].fix);
	}
	printf("%s\n", d->failed ? "" : "all checks passed");
	if (d->failed)
		printf("%d check%s failed\n", d->failed, d->failed == 1 ? "" : "s");
}

#define SHUNT_FN_NAME(x) [BPF_FUNC_##x] = #x
static const char *const helper_names[] = { __BPF_FUNC_MAPPER(SHUNT_FN_NAME) };

/* Does the kernel take a trivial program of this type for this attach type? */
static bool probe_attach(enum bpf_prog_type type, enum bpf_attach_type attach)
{
	struct bpf_insn insns[2] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = attach);
	int fd = bpf_prog_load(type, NULL, "GPL", insns, 2, &opts);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static void check_platform(struct doctor *d)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct caps[2] = { { 0 } };
	struct utsname u;
	int fd;

	if (!uname(&u))
		say(d, OK, "kernel", NULL, "Linux %s %s", u.release, u.machine);
	if (!syscall(SYS_capget, &hdr, caps) && !((caps[0].effective >> CAP_SYS_ADMIN) & 1) &&
	    !(((caps[1].effective >> (CAP_BPF - 32)) & 1) && ((caps[0].effective >> CAP_NET_ADMIN) & 1)))
		say(d, FAIL, "privileges", "run as root (in a container: CAP_SYS_ADMIN and CAP_SYS_PTRACE)",
		    "neither CAP_SYS_ADMIN nor CAP_BPF with CAP_NET_ADMIN");
	else
		say(d, OK, "privileges", NULL, "enough to load BPF programs");
	if (access("/sys/kernel/btf/vmlinux", R_OK))
		say(d, FAIL, "btf", "a kernel built with CONFIG_DEBUG_INFO_BTF=y (Debian's are)",
		    "/sys/kernel/btf/vmlinux is missing: shunt's programs are CO-RE");
	else
		say(d, OK, "btf", NULL, "/sys/kernel/btf/vmlinux");
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 4, 1, NULL);
	if (fd < 0)
		say(d, FAIL, "bpf-syscall", "in a container: CAP_SYS_ADMIN and the runtime's default "
		    "seccomp profile (it allows bpf() with CAP_SYS_ADMIN)", "bpf() refused: %s",
		    strerror(errno));
	else {
		close(fd);
		say(d, OK, "bpf-syscall", NULL, "allowed");
	}
	fd = open("/proc/sys/kernel/bpf_stats_enabled", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		char c = '0';

		if (read(fd, &c, 1) != 1)
			c = '0';
		close(fd);
		say(d, INFO, "bpf-stats", c == '1' ? NULL : "sysctl -w kernel.bpf_stats_enabled=1 (costs "
		    "~20 ns a program run)", "%s: per-program run counts and time in /metrics %s",
		    c == '1' ? "on" : "off", c == '1' ? "are live" : "stay 0");
	}
}

/* What shunt's own object uses, each thing probed on this kernel. */
static void check_features(struct doctor *d)
{
	struct shunt_bpf *skel = shunt_bpf__open();
	struct bpf_program *prog;
	struct bpf_map *map;
	char missing[400] = "";
	int n_progs = 0, n_helpers = 0, n_maps = 0, failed = d->failed;
	static bool seen[__BPF_FUNC_MAX_ID][64];
	struct btf *vmlinux;

	if (!skel) {
		say(d, FAIL, "bpf-object", NULL, "cannot open shunt's BPF object: %s", strerror(errno));
		return;
	}
	bpf_object__for_each_program(prog, skel->obj) {
		enum bpf_prog_type type = bpf_program__type(prog);
		enum bpf_attach_type at = bpf_program__expected_attach_type(prog);
		const struct bpf_insn *insn = bpf_program__insns(prog);
		size_t cnt = bpf_program__insn_cnt(prog);

		n_progs++;
		if (!probe_attach(type, at)) {
			say(d, FAIL, "program", "a newer kernel (shunt needs 5.15 or later; see README)",
			    "%s: program type %s, attach type %s: refused by this kernel",
			    bpf_program__name(prog), libbpf_bpf_prog_type_str(type),
			    libbpf_bpf_attach_type_str(at));
			continue;
		}
		for (size_t i = 0; i < cnt; i++) {
			int id = insn[i].imm;

			if (insn[i].code != (BPF_JMP | BPF_CALL) || insn[i].src_reg != 0 || id <= 0 ||
			    id >= __BPF_FUNC_MAX_ID || (int)type >= 64 || seen[id][type])
				continue;
			seen[id][type] = true;
			n_helpers++;
			if (libbpf_probe_bpf_helper(type, id, NULL) != 1 && strlen(missing) < 300) {
				snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing),
					 "%sbpf_%s in %s", missing[0] ? ", " : "", helper_names[id] ? helper_names[id] : "?",
					 libbpf_bpf_prog_type_str(type));
			}
		}
	}
	if (missing[0])
		say(d, FAIL, "helpers", "a newer kernel (see README for the minimum)", "missing: %s",
		    missing);
	bpf_object__for_each_map(map, skel->obj) {
		if (bpf_map__is_internal(map))
			continue;
		n_maps++;
		if (libbpf_probe_bpf_map_type(bpf_map__type(map), NULL) != 1)
			say(d, FAIL, "maps", "a newer kernel", "map type %s (%s) not supported",
			    libbpf_bpf_map_type_str(bpf_map__type(map)), bpf_map__name(map));
	}
	if (d->failed == failed)
		say(d, OK, "bpf-features", NULL, "%d programs (type and attach type), %d helper uses, "
		    "%d map types: all accepted by this kernel (probed)", n_progs, n_helpers, n_maps);
	vmlinux = btf__load_vmlinux_btf();
	if (vmlinux && btf__find_by_name_kind(vmlinux, "bpf_rdonly_cast", BTF_KIND_FUNC) >= 0)
		say(d, OK, "kfuncs", NULL, "bpf_rdonly_cast: the fast path reads peer sockets directly");
	else
		say(d, INFO, "kfuncs", NULL, "no bpf_rdonly_cast (before 6.2): the fast path reads peer "
		    "sockets with bpf_probe_read_kernel (~150 ns more a message)");
	btf__free(vmlinux);
	shunt_bpf__destroy(skel);
}

/* The cgroup shunt attaches (or would attach) to; -1 if none. */
static int check_cgroup(struct doctor *d, const char *opt, __u64 pinned_id)
{
	char path[PATH_MAX];
	struct statfs sf;
	struct stat st;
	int fd;

	if (opt)
		snprintf(path, sizeof(path), "%s", opt);
	else if (cgroup2_root(path, sizeof(path))) {
		say(d, FAIL, "cgroup2", "mount -t cgroup2 none /sys/fs/cgroup (or the unified "
		    "hierarchy of a hybrid setup)", "no cgroup2 filesystem in /proc/mounts");
		return -1;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstatfs(fd, &sf) || sf.f_type != CGROUP2_SUPER_MAGIC || fstat(fd, &st)) {
		say(d, FAIL, "cgroup2", "pass --cgroup a cgroup v2 directory", "%s is not a cgroup v2 "
		    "directory", path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (pinned_id && pinned_id != (__u64)st.st_ino)
		say(d, INFO, "cgroup2", NULL, "%s (the loaded shunt is attached to cgroup id %llu, "
		    "not this one: pass its --cgroup)", path, (unsigned long long)pinned_id);
	else
		say(d, OK, "cgroup2", NULL, "%s", path);
	return fd;
}

static const enum bpf_attach_type hook_types[] = {
	BPF_CGROUP_INET4_CONNECT, BPF_CGROUP_INET6_CONNECT, BPF_CGROUP_UDP4_SENDMSG,
	BPF_CGROUP_UDP6_SENDMSG, BPF_CGROUP_UDP4_RECVMSG, BPF_CGROUP_UDP6_RECVMSG,
	BPF_CGROUP_INET4_GETPEERNAME, BPF_CGROUP_INET6_GETPEERNAME, BPF_CGROUP_SOCK_OPS,
	BPF_CGROUP_GETSOCKOPT, BPF_CGROUP_INET4_POST_BIND, BPF_CGROUP_INET6_POST_BIND,
	BPF_CGROUP_INET_SOCK_RELEASE,
};

static const char *foreign_meaning(enum bpf_attach_type t)
{
	switch (t) {
	case BPF_CGROUP_INET4_CONNECT:
	case BPF_CGROUP_INET6_CONNECT:
		return "both rewrite connect()'s destination (Cilium's socket LB translates service "
		       "IPs here): whichever runs later sees the other's rewrite, so the proxy may read "
		       "a backend, not the service, as the original destination, or a connection may "
		       "skip the proxy";
	case BPF_CGROUP_SOCK_OPS:
		return "another sockops program: fine unless it also manages a sockmap for the same "
		       "sockets";
	case BPF_CGROUP_GETSOCKOPT:
		return "another getsockopt program can change what SO_ORIGINAL_DST returns";
	default:
		return "it sees and may change the same sockets";
	}
}

/* Cilium's socket LB (programs cil_sock*): with socketLB.hostNamespaceOnly=true its agent
 * compiles them with ENABLE_SOCKET_LB_HOST_ONLY and they return at once outside the host's
 * network namespace, so pods' connects reach shunt untranslated (Cilium's guide for Istio
 * asks for exactly that); with ENABLE_SOCKET_LB_FULL they translate a pod's service connect
 * to a backend first. The running datapath's choice is in the agent's node_config.h (the
 * ConfigMap may say otherwise until the agent restarts). 1 host only, 0 full, -1 unknown. */
static int cilium_host_only(char *path, size_t len)
{
	const char *dir = getenv("SHUNT_CILIUM_STATE_DIR");
	char line[512];
	int found = -1;
	FILE *f;

	snprintf(path, len, "%s/globals/node_config.h", dir && *dir ? dir : "/var/run/cilium/state");
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f) && found < 0) {
		if (!strncmp(line, "#define ENABLE_SOCKET_LB_HOST_ONLY", 34))
			found = 1;
		else if (!strncmp(line, "#define ENABLE_SOCKET_LB_FULL", 29))
			found = 0;
	}
	fclose(f);
	return found;
}

/* Programs on shunt's hooks of this cgroup (and inherited from its ancestors) that are not
 * shunt's. ours: program ids of the pinned links. */
static void check_foreign(struct doctor *d, int cgfd, const __u32 *ours, size_t n_ours)
{
	char cfg[PATH_MAX];
	int found = 0, cilium = -2, cilium_progs = 0;

	for (size_t h = 0; h < sizeof(hook_types) / sizeof(hook_types[0]); h++) {
		__u32 ids[64], cnt = 64, flags = 0;

		if (bpf_prog_query(cgfd, hook_types[h], BPF_F_QUERY_EFFECTIVE, &flags, ids, &cnt))
			continue;
		for (__u32 i = 0; i < cnt; i++) {
			struct bpf_prog_info pi = { 0 };
			__u32 len = sizeof(pi);
			bool mine = false;
			int fd;

			for (size_t j = 0; j < n_ours && !mine; j++)
				mine = ours[j] == ids[i];
			if (mine)
				continue;
			fd = bpf_prog_get_fd_by_id(ids[i]);
			if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &pi, &len))
				pi.name[0] = '\0';
			if (fd >= 0)
				close(fd);
			if (!strncmp(pi.name, "cil_sock", 8)) {
				if (cilium == -2)
					cilium = cilium_host_only(cfg, sizeof(cfg));
				cilium_progs++;
				if (cilium == 1)
					continue;   /* harmless: said once below */
				found++;
				say(d, FAIL, "foreign-prog", cilium == 0 ?
				    "set socketLB.hostNamespaceOnly=true in Cilium's Helm values (as its Istio "
				    "guide asks) and restart the cilium DaemonSet: the agent compiles it in at "
				    "start" : "make sure Cilium runs with socketLB.hostNamespaceOnly=true (cilium-dbg "
				    "status --verbose: 'Socket LB Coverage: Hostns-only'); set "
				    "SHUNT_CILIUM_STATE_DIR if its state directory is not /var/run/cilium/state",
				    "cgroup %s also runs Cilium's socket LB (program %u '%s'), %s: %s",
				    libbpf_bpf_attach_type_str(hook_types[h]), ids[i], pi.name,
				    cilium == 0 ? "for pods too (ENABLE_SOCKET_LB_FULL in its node_config.h)"
						: "and its node_config.h cannot be read to tell whether it spares pods",
				    foreign_meaning(hook_types[h]));
				continue;
			}
			found++;
			say(d, FAIL, "foreign-prog", "run one redirector on these hooks, or check with its "
			    "owner that the two compose (bpftool cgroup tree shows who attached what)",
			    "cgroup %s also runs program %u '%s': %s", libbpf_bpf_attach_type_str(hook_types[h]),
			    ids[i], pi.name, foreign_meaning(hook_types[h]));
		}
	}
	if (cilium == 1)
		say(d, OK, "foreign-prog", NULL, "Cilium's socket LB (%d programs on shunt's hooks) runs "
		    "in the host's network namespace only (ENABLE_SOCKET_LB_HOST_ONLY in %s, "
		    "socketLB.hostNamespaceOnly=true): pods' connects reach shunt untranslated",
		    cilium_progs, cfg);
	if (!found && cilium != 1)
		say(d, OK, "foreign-prog", NULL, "no other program on shunt's cgroup hooks");
}

/* Run argv inside the netns at path; its stdout into buf. */
static int run_in_netns(const char *path, char *const argv[], char *buf, size_t len)
{
	int p[2], status = 0, nsfd = open(path, O_RDONLY | O_CLOEXEC);
	size_t used = 0;
	ssize_t n;
	pid_t pid;

	buf[0] = '\0';
	if (nsfd < 0 || pipe2(p, O_CLOEXEC)) {
		if (nsfd >= 0)
			close(nsfd);
		return -errno;
	}
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(p[1], 1);
		if (null >= 0)
			dup2(null, 2);
		if (setns(nsfd, CLONE_NEWNET))
			_exit(126);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	close(nsfd);
	while (pid > 0 && (n = read(p[0], buf + used, len - 1 - used)) > 0)
		used += (size_t)n;
	buf[used] = '\0';
	close(p[0]);
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -EINTR;
}

/* nat rules an istio-init container or istio-cni left in the pod (or Linkerd's proxy-init). */
static void check_pod_iptables(struct doctor *d, const char *label, const char *path)
{
	static const char *const saves[] = { "iptables-save", "ip6tables-save" };
	static char out[65536];

	for (size_t i = 0; i < 2; i++) {
		char *const argv[] = { (char *)saves[i], "-t", "nat", NULL };
		char *line, *save = NULL;
		int rules = 0;
		char first[160] = "";

		if (run_in_netns(path, argv, out, sizeof(out)) != 0)
			continue;
		for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			if (strncmp(line, "-A ", 3) || (!strstr(line, "REDIRECT") && !strstr(line, "ISTIO") &&
							!strstr(line, "PROXY_INIT") && !strstr(line, "TPROXY")))
				continue;
			if (!rules++)
				snprintf(first, sizeof(first), "%s", line);
		}
		if (rules)
			say(d, FAIL, "pod-iptables", "remove the iptables mesh setup from this pod (istio-init "
			    "container, istio-cni, linkerd proxy-init): shunt already captures, the rules "
			    "capture again and the proxy reads its own port as the destination",
			    "%s: %d %s nat rule%s of a mesh left in the pod (%s)", label, rules, saves[i],
			    rules == 1 ? "" : "s", first);
	}
}

struct pod_seen {
	__u64 cookie;
	struct shunt_workload wl;
};

static void check_pods(struct doctor *d, const struct shunt_maps *m, const char *pin_dir)
{
	struct shunt_config conf;
	struct config_errors errs = { 0 };
	struct census_scope sc = { .whole_node = true, .cgroup_id = 1 };
	struct netns_census census = { 0 };
	__u64 key, next;
	void *prev = NULL;
	int pods = 0, bad = d->failed;

	if (config_load_default(&conf, &errs)) {
		config_errors_free(&errs);
		return;
	}
	config_errors_free(&errs);
	workload_census(&conf, &sc, &census);
	while (!bpf_map_get_next_key(m->fd[MAP_NETNS], prev, &next)) {
		struct shunt_workload wl;
		struct shunt_state st;
		struct shunt_cfg cfg;
		const struct netns_seen *ns = NULL;
		__u64 owner = SHUNT_OWNER_DEFAULT;
		char label[PATH_MAX + 64], path[PATH_MAX];
		size_t addrs = 0;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(m->fd[MAP_NETNS], &key, &wl))
			continue;
		pods++;
		for (size_t i = 0; i < census.n && !ns; i++)
			if (census.v[i].cookie == key)
				ns = &census.v[i];
		if (!ns) {
			say(d, INFO, "pod", NULL, "netns cookie %llu: meshed, but its netns is gone (shunt "
			    "run prunes it)", (unsigned long long)key);
			continue;
		}
		snprintf(label, sizeof(label), "%s (cookie %llu)", ns->path, (unsigned long long)key);
		if (wl.flags & SHUNT_WL_OWN_POLICY)
			owner = key;
		if (maps_read_state(m, owner, &st) || maps_read_cfg(m, owner, st.active_slot, &cfg)) {
			say(d, FAIL, "pod", "shunt apply (or pod-init again)", "%s: no live policy", label);
			continue;
		}
		/* the pod's own ports and proxy uid, as its policy says */
		{
			struct shunt_config pc = conf;
			struct netns_seen seen = { 0 };
			int fd = open(ns->path, O_RDONLY | O_CLOEXEC);

			pc.proxy_uid = cfg.proxy_uid;
			pc.outbound_port = cfg.outbound_port;
			pc.inbound_port = cfg.inbound_port;
			if (fd >= 0 && !workload_visit(fd, &pc, &seen)) {
				if (!seen.proxy_listening)
					say(d, FAIL, "pod-proxy", "start the proxy (or check its uid is proxy.uid)",
					    "%s: no process of uid %u listens on the outbound port %u: the pod's "
					    "connections are refused (fail-closed)", label, cfg.proxy_uid,
					    cfg.outbound_port);
				if (!seen.inbound_sock_ino)
					say(d, FAIL, "pod-proxy", "start the proxy (or check its uid is proxy.uid)",
					    "%s: no process of uid %u listens on the inbound port %u: connections "
					    "to the pod are refused (fail-closed)", label, cfg.proxy_uid,
					    cfg.inbound_port);
				addrs = seen.n_addrs;
				free(seen.addrs);
			}
			if (fd >= 0)
				close(fd);
		}
		snprintf(path, sizeof(path), "%s/%s/" SHUNT_PIN_SK_LOOKUP_PREFIX "%" PRIu64, pin_dir,
			 SHUNT_PIN_LINKS, (uint64_t)key);
		if (access(path, F_OK))
			say(d, FAIL, "pod-inbound", "shunt run attaches it when the proxy listens; check its "
			    "log", "%s: no sk_lookup link: inbound connections are not steered", label);
		{
			struct shunt_local_key lk, lnext;
			void *lprev = NULL;
			size_t known = 0;

			while (!bpf_map_get_next_key(m->fd[MAP_LOCAL], lprev, &lnext)) {
				if (lnext.netns_cookie == key)
					known++;
				lk = lnext;
				lprev = &lk;
			}
			if (addrs && !known)
				say(d, FAIL, "pod-addrs", "shunt run records them within 2 s; is it running?",
				    "%s: has %zu addresses, shunt knows none (own-pod-IP rules would not apply)",
				    label, addrs);
		}
		check_pod_iptables(d, label, ns->path);
	}
	if (pods && bad == d->failed)
		say(d, OK, "pods", NULL, "%d meshed pod%s: proxies listening, inbound links attached, "
		    "addresses known, no iptables mesh rules", pods, pods == 1 ? "" : "s");
	else if (!pods)
		say(d, INFO, "pods", NULL, "no pod is meshed yet");
	workload_census_free(&census);
	config_free(&conf);
}

/* The pin directory: present, ABI, a link per program, links alive. Fills ours with the
 * programs the links run. */
static int check_pins(struct doctor *d, const char *pin_dir, __u32 *ours, size_t *n_ours,
		      size_t max, __u64 *cgroup_id)
{
	char path[PATH_MAX];
	struct statfs sf;
	struct pin_name *names;
	size_t n;
	int dead = 0, links = 0, fd, err;
	__u64 owner = SHUNT_OWNER_DEFAULT;
	struct shunt_state st;

	if (statfs("/sys/fs/bpf", &sf) || sf.f_type != BPF_FS_MAGIC)
		say(d, FAIL, "bpffs", "mount -t bpf bpf /sys/fs/bpf (shunt load does it when it can; in "
		    "a container, mount the host's /sys/fs/bpf)", "/sys/fs/bpf is not a bpf filesystem: "
		    "nothing shunt pins can outlive its process");
	else
		say(d, OK, "bpffs", NULL, "mounted at /sys/fs/bpf");
	if (!pins_loaded(pin_dir)) {
		say(d, INFO, "pins", NULL, "shunt is not loaded at %s", pin_dir);
		return -ENOENT;
	}
	pins_path(path, sizeof(path), pin_dir, SHUNT_PIN_MAPS, shunt_map_names[MAP_STATE]);
	fd = bpf_obj_get(path);
	if (fd < 0 || bpf_map_lookup_elem(fd, &owner, &st)) {
		say(d, FAIL, "pins", "unload with the shunt that loaded it", "%s: no readable policy "
		    "state (%s)", pin_dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -EPROTO;
	}
	close(fd);
	if (st.abi_version != SHUNT_ABI_VERSION) {
		say(d, FAIL, "pins", "'shunt run' or 'shunt load' with this binary replaces it in place "
		    "when the map layouts match (else unload with the old one, then load)",
		    "%s holds a shunt of ABI %u, this binary speaks ABI %u", pin_dir, st.abi_version,
		    SHUNT_ABI_VERSION);
		return -EPROTO;
	}
	names = pins_list(pin_dir, SHUNT_PIN_LINKS, &n, &err);
	for (size_t i = 0; names && i < n; i++) {
		struct bpf_link_info li = { 0 };
		__u32 len = sizeof(li);

		pins_path(path, sizeof(path), pin_dir, SHUNT_PIN_LINKS, names[i].name);
		fd = bpf_obj_get(path);
		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &li, &len)) {
			dead++;
		} else {
			links++;
			if (*n_ours < max)
				ours[(*n_ours)++] = li.prog_id;
			if (li.type == BPF_LINK_TYPE_CGROUP) {
				if (!li.cgroup.cgroup_id)
					dead++;
				else
					*cgroup_id = li.cgroup.cgroup_id;
			}
		}
		if (fd >= 0)
			close(fd);
	}
	free(names);
	if (!pins_cgroup_id(pin_dir))
		say(d, FAIL, "pins", "shunt unload, then shunt load", "%s: no connect4 link: new "
		    "connections are not captured", pin_dir);
	if (dead)
		say(d, FAIL, "pins", "shunt unload, then shunt load", "%s: %d pinned link%s no longer "
		    "attached (cgroup removed?)", pin_dir, dead, dead == 1 ? "" : "s");
	else
		say(d, OK, "pins", NULL, "%s: ABI %u, policy generation %u, %d links attached", pin_dir,
		    st.abi_version, st.generation, links);
	return 0;
}

int doctor_run(const struct doctor_opts *o)
{
	struct doctor d = { 0 };
	__u32 ours[256];
	size_t n_ours = 0;
	__u64 cgroup_id = 0;
	int cgfd, loaded;

	check_platform(&d);
	check_features(&d);
	loaded = check_pins(&d, o->pin_dir, ours, &n_ours, 256, &cgroup_id) == 0;
	cgfd = check_cgroup(&d, o->cgroup, cgroup_id);
	if (cgfd >= 0) {
		check_foreign(&d, cgfd, ours, n_ours);
		close(cgfd);
	}
	if (loaded) {
		struct shunt_maps m;

		if (!maps_open_pinned(&m, o->pin_dir)) {
			check_pods(&d, &m, o->pin_dir);
			maps_close(&m);
		}
	}
	print_findings(&d, o->json);
	free(d.v);
	return d.failed ? 1 : 0;
}
