// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shunt: transparent TCP capture for service-mesh sidecars with BPF instead of iptables.
 * This file is the command line only: parse arguments, call the module that does the job,
 * map the outcome to an exit code (0 ok, 1 failed, 2 bad usage or bad configuration).
 */
#include <arpa/inet.h>
#include <limits.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "apply.h"
#include "cni_install.h"
#include "config.h"
#include "daemon.h"
#include "doctor.h"
#include "explain.h"
#include "httpd.h"
#include "loader.h"
#include "log.h"
#include "maps.h"
#include "pins.h"
#include "podinit.h"
#include "trace.h"
#include "report.h"

#define SHUNT_VERSION "0.1.0"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

static const char usage_text[] =
	"Usage: shunt [OPTIONS] COMMAND\n"
	"\n"
	"Transparent TCP capture for service-mesh sidecars, with BPF instead of iptables.\n"
	"\n"
	"Commands:\n"
	"  check              validate the configuration and print what it means; changes nothing\n"
	"  load               load and attach the programs, pin them, fill the maps from the\n"
	"                     configuration; returns, the programs stay attached\n"
	"  apply              replace the running policy with the configuration, atomically\n"
	"  status             what is attached, the policy generation, the counters\n"
	"  dump               the decoded contents of every map; --pod, --addr, --port keep the\n"
	"                     rows about one pod, address or port\n"
	"  run                load (unless loaded) and stay in the foreground, meshing pods as\n"
	"                     their namespaces come and go; re-reads the configuration on SIGHUP\n"
	"                     and when its file changes (a ConfigMap update); SIGTERM exits and\n"
	"                     leaves everything attached\n"
	"  unload             detach everything and remove the pins\n"
	"  doctor             check that this node can run shunt and that the loaded one is\n"
	"                     healthy: kernel features (probed), cgroup2, bpffs, pins, other\n"
	"                     programs on shunt's hooks, each meshed pod (proxy listening,\n"
	"                     inbound link, iptables rules left by istio-init); the fix for each\n"
	"                     problem; exit 1 if one failed\n"
	"  trace              decisions as they happen, a line each: outbound capture or bypass\n"
	"                     and the rule, inbound steering or refusal, SO_ORIGINAL_DST answers,\n"
	"                     fast-path entries and fallbacks, pods meshed; --pod, --addr,\n"
	"                     --port, --verdict narrow it, --json for scripts; Ctrl-C stops and\n"
	"                     switches tracing off (nothing is traced, or paid, before)\n"
	"  explain [SRC] DST  what would happen to a connection to DST (ADDR:PORT, [ADDR6]:PORT)\n"
	"                     from a pod, decided from the live maps as the kernel decides it:\n"
	"                     meshed or not, which policy, which rule, where it goes, what the\n"
	"                     proxy reads as the original destination, whether the fast path\n"
	"                     carries it. SRC: the address the socket is bound to (127.0.0.6 is\n"
	"                     the proxy's passthrough)\n"
	"  cni-install        put the CNI plugin in place on this node, as istio-cni's installer\n"
	"                     does: shunt-cni into --cni-bin-dir (atomically), appended to the\n"
	"                     first network configuration of --cni-conf-dir (a .conf wrapped into\n"
	"                     a .conflist); with --uninstall, remove both\n"
	"  pod-init [FLAGS]   in a pod's init container: mesh this pod fail-closed with the policy\n"
	"                     of istio-iptables' (or Linkerd proxy-init's) flags, through the\n"
	"                     node's `shunt run`; 'shunt pod-init --help' lists the flags\n"
	"\n"
	"Options:\n"
	"  -c, --config FILE  route configuration (default " CONFIG_DEFAULT_PATH ", else the\n"
	"                     embedded Istio defaults); 'check FILE' and 'apply FILE' also work\n"
	"  -p, --pin-dir DIR  where programs and maps are pinned (default " PINS_DEFAULT_DIR ");\n"
	"                     bpffs is mounted at /sys/fs/bpf when missing\n"
	"  -g, --cgroup DIR   cgroup v2 directory to attach to (default: the cgroup2 root\n"
	"                     from /proc/mounts); it must contain the apps and the proxies\n"
	"  -s, --socket PATH  run, cni-install: where pod-init and the CNI plugin reach shunt run\n"
	"                     (default " PODINIT_SOCKET_DEFAULT ")\n"
	"      --cni-bin-dir DIR\n"
	"                     run, cni-install: where the container runtime finds CNI plugins\n"
	"                     (default " CNI_BIN_DIR_DEFAULT ")\n"
	"      --cni-conf-dir DIR\n"
	"                     run, cni-install: the runtime's CNI network configurations (default\n"
	"                     " CNI_CONF_DIR_DEFAULT ")\n"
	"      --cni-install  run: install the CNI plugin and keep it installed (appended again\n"
	"                     when another agent rewrites the file); /readyz is false until it is\n"
	"      --uninstall    cni-install: remove the plugin's entry and binary instead\n"
	"      --max-connections N\n"
	"                     load, run: room for N connections at once in each per-connection\n"
	"                     map (default 262144, 64..16777216); fixed until unload. A\n"
	"                     meshed connect beyond it is refused (EPERM) and counted\n"
	"      --kubeconfig FILE\n"
	"                     run: the Kubernetes API server for CNI mode (server, CA, token;\n"
	"                     http:// and insecure-skip-tls-verify accepted); default: in-cluster\n"
	"                     (KUBERNETES_SERVICE_HOST and the ServiceAccount's token)\n"
	"      --kube-timeout SECONDS\n"
	"                     run: how long a CNI ADD retries the API server (default 30)\n"
	"      --node-name NAME\n"
	"                     run: this node's name in the cluster (default $NODE_NAME); with it,\n"
	"                     CNI mode meshes the node's pods that started before the plugin\n"
	"  -l, --listen ADDR:PORT\n"
	"                     run: serve /healthz, /readyz and /metrics (Prometheus) over HTTP,\n"
	"                     e.g. 127.0.0.1:9402 or [::1]:9402; off by default\n"
	"      --pod NETNS    explain, dump, trace: the pod, by its netns (a name under /run/netns or a\n"
	"                     path such as /proc/PID/ns/net); explain without it: any meshed pod\n"
	"      --addr ADDR, --port N\n"
	"                     dump, trace: only the rows about that address / port\n"
	"      --verdict NAME\n"
	"                     trace: only events with that verdict or counter name (or a\n"
	"                     prefix of it: 'redirect', 'fallback', 'inbound_refused')\n"
	"      --uid N, --gid N\n"
	"                     explain: the connecting process's ids (default: an app's, not the\n"
	"                     proxy's)\n"
	"      --proxy        explain: the connecting process is the proxy\n"
	"      --udp          explain: a UDP datagram (only DNS is ever captured)\n"
	"  -j, --json         status, explain, doctor, trace: JSON output\n"
	"  -v, --verbose      say what is done; twice for libbpf's messages and verifier log\n"
	"  -h, --help         this text\n"
	"  -V, --version      print the version\n"
	"\n"
	"Exit status: 0 done, 1 failed, 2 bad usage or bad configuration (FILE:LINE:COL: ...).\n";

/* `shunt COMMAND --help`: the command's entry of usage_text and the options that apply to it
 * (those whose text starts "cmd[, cmd...]:" naming it, and the general ones), so the two
 * never disagree. Returns false for an unknown command. */
static bool command_usage(const char *cmd, FILE *out)
{
	const char *p = strstr(usage_text, "Commands:\n"), *opts = strstr(usage_text, "Options:\n");
	const char *end = strstr(usage_text, "\nExit status:");
	size_t clen = strlen(cmd);
	bool found = false;

	/* the command: "  cmd ..." and its continuation lines (indented 21) */
	for (p = strchr(p, '\n') + 1; p < opts; p = strchr(p, '\n') + 1) {
		bool entry = p[0] == ' ' && p[1] == ' ' && p[2] != ' ';

		if (entry)
			found = !strncmp(p + 2, cmd, clen) && (p[2 + clen] == ' ' || p[2 + clen] == '\n');
		if (found) {
			if (entry)
				fprintf(out, "Usage: shunt [OPTIONS] %s\n\n", cmd);
			fwrite(p, 1, (size_t)(strchr(p, '\n') + 1 - p), out);
		}
		if (found && !entry && p[21] == ' ')
			break;
	}
	found = false;
	for (p = strstr(usage_text, "Usage:"); p < opts; p = strchr(p, '\n') + 1)
		if (p[0] == ' ' && p[1] == ' ' && !strncmp(p + 2, cmd, clen) &&
		    (p[2 + clen] == ' ' || p[2 + clen] == '\n'))
			found = true;
	if (!found)
		return false;
	fputs("\nOptions:\n", out);
	/* each option entry: a line starting "  -" or "      --", then continuation lines */
	for (p = strchr(opts, '\n') + 1; p < end;) {
		const char *q = strchr(p, '\n') + 1, *desc, *colon;
		bool general = true, mine = false;

		while (q < end && !strncmp(q, "                     ", 21))
			q = strchr(q, '\n') + 1;
		/* the description starts at column 21: on the first line when the option ends
		 * before it, else on the next */
		desc = (strchr(p, '\n') - p > 21 && p[19] == ' ' && p[20] == ' ') ? p + 21 :
		       strchr(p, '\n') + 1 + 21;
		colon = strchr(desc, ':');
		if (colon && colon < q && strcspn(desc, "(\n") > (size_t)(colon - desc)) {
			/* "run:", "load, run:", "explain, dump, trace:" name the commands */
			const char *w = desc;

			general = false;
			while (w < colon) {
				size_t n = strcspn(w, ",:");

				if (n == clen && !strncmp(w, cmd, clen))
					mine = true;
				if (strspn(w, "abcdefghijklmnopqrstuvwxyz-") != n)
					general = true; /* not a list of command names after all */
				w += n;
				w += strspn(w, ", ");
			}
		}
		if (general || mine)
			fwrite(p, 1, (size_t)(q - p), out);
		p = q;
	}
	fputs("\nExit status: 0 done, 1 failed, 2 bad usage or bad configuration.\n", out);
	return true;
}

struct cli {
	const char *command;
	const char *config;
	const char *pin_dir;
	const char *cgroup;
	const char *socket;
	unsigned long max_conns;   /* 0: not given */
	const char *listen;        /* run --listen */
	const char *kubeconfig;    /* run --kubeconfig */
	const char *node_name;     /* run --node-name */
	struct cni_install_opts cni;  /* cni-install, run --cni-install */
	bool cni_install, uninstall;
	unsigned kube_timeout;     /* run --kube-timeout, 0 = default */
	bool json;
	struct explain_opts ex;    /* explain's own options */
};

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (log_verbosity < LOG_DEBUG + 1 && level != LIBBPF_WARN)
		return 0;
	if (log_verbosity < LOG_DEBUG && level == LIBBPF_WARN)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* --config, else the default path if it exists, else the embedded default. */
static int read_config(const struct cli *c, struct shunt_config *conf, bool *explicit_file)
{
	struct config_errors errs = { 0 };
	int err;

	*explicit_file = true;
	if (c->config)
		err = config_load_file(c->config, conf, &errs);
	else if (!access(CONFIG_DEFAULT_PATH, F_OK))
		err = config_load_file(CONFIG_DEFAULT_PATH, conf, &errs);
	else {
		*explicit_file = false;
		err = config_load_default(conf, &errs);
	}
	config_errors_print(&errs);
	config_errors_free(&errs);
	if (err)
		config_free(conf);
	return err;
}

/* 2 only when the configuration was at fault (errs has its FILE:LINE:COL lines); any
 * other failure, a verifier rejection's -EINVAL included, is 1. */
static int exit_code(int err, const struct config_errors *errs)
{
	if (!err)
		return EXIT_OK;
	return errs->n ? EXIT_USAGE : EXIT_FAIL;
}

/* Every problem with the configuration, an unreadable file included, is exit 2. */
static int config_exit_code(int err)
{
	return err ? EXIT_USAGE : EXIT_OK;
}

static void print_ports(const char *label, const struct config_port_list *l)
{
	printf("  %-24s ", label);
	if (l->all)
		printf("*");
	for (size_t i = 0; i < l->n; i++)
		printf("%s%u", i ? "," : "", l->v[i]);
	printf("%s\n", !l->all && !l->n ? "-" : "");
}

static void print_cidrs(const char *label, const struct config_cidr_list *l)
{
	char buf[64];

	printf("  %-24s ", label);
	if (l->all)
		printf("*");
	/* a long list (a *_cidrs_from file) is summarised, not printed whole */
	for (size_t i = 0; i < l->n && i < 8; i++)
		printf("%s%s", i ? "," : "", config_cidr_str(&l->v[i], buf, sizeof(buf)));
	if (l->n > 8)
		printf(",... (%zu entries)", l->n);
	printf("%s\n", !l->all && !l->n ? "-" : "");
}

static int cmd_check(const struct cli *c)
{
	struct shunt_config conf;
	bool file;
	int err = read_config(c, &conf, &file);

	if (err)
		return config_exit_code(err);
	config_errors_print(&conf.warnings);
	printf("%s: valid\n", conf.source);
	printf("  %-24s %u\n", "proxy.uid", conf.proxy_uid);
	if (conf.has_gid)
		printf("  %-24s %u\n", "proxy.gid", conf.proxy_gid);
	printf("  %-24s %u\n  %-24s %u\n  %-24s %u\n", "proxy.outbound_port", conf.outbound_port,
	       "proxy.inbound_port", conf.inbound_port, "proxy.tunnel_port", conf.tunnel_port);
	print_cidrs("outbound.include_cidrs", &conf.out_include_cidrs);
	print_cidrs("outbound.exclude_cidrs", &conf.out_exclude_cidrs);
	print_ports("outbound.include_ports", &conf.out_include_ports);
	print_ports("outbound.exclude_ports", &conf.out_exclude_ports);
	print_ports("inbound.include_ports", &conf.in_include_ports);
	print_ports("inbound.exclude_ports", &conf.in_exclude_ports);
	print_cidrs("inbound.exclude_source_cidrs", &conf.in_exclude_src_cidrs);
	printf("  %-24s %s\n  %-24s %u bytes\n  %-24s %s\n  %-24s %s\n", "acceleration",
	       config_accel_name(conf.acceleration), "acceleration_queue_limit",
	       conf.accel_queue_limit, "mesh.auto_detect", conf.auto_detect ? "true" : "false",
	       "mesh.flavor", conf.flavor == CONFIG_FLAVOR_LINKERD ? "linkerd" : "istio");
	if (conf.dns_capture) {
		printf("  %-24s true, to port %u\n", "dns.capture", conf.dns_port);
		if (conf.dns_all)
			printf("  %-24s *\n", "dns.servers");
		else
			print_cidrs("dns.servers", &conf.dns_servers);
	} else {
		printf("  %-24s false\n", "dns.capture");
	}
	for (size_t i = 0; i < conf.n_workloads; i++) {
		const struct config_workload *w = &conf.workloads[i];
		int accel = w->acceleration >= 0 ? w->acceleration : conf.acceleration;

		/* what the pod gets: its own switch over the node's, and whose policy */
		printf("  workload %-15s %s (acceleration %s%s; %s)\n", w->name, w->netns,
		       config_accel_name(accel), w->acceleration >= 0 ? ", its own" : "",
		       w->policy ? "a policy of its own: the node's with its keys over it"
				 : "the node's policy");
	}
	config_free(&conf);
	return EXIT_OK;
}

/* Preflight and load conf, printing its workload errors. Shared by load and run. A shunt
 * already loaded with another ABI is replaced in place; one of this ABI is an error, unless
 * adopt (run takes it over as it is). Returns the exit code. */
static int load_config(const struct cli *c, const struct shunt_config *conf, bool adopt)
{
	struct loader_opts o = { .pin_dir = c->pin_dir, .cgroup = c->cgroup,
				 .max_conns = (__u32)c->max_conns };
	struct config_errors errs = { 0 };
	int err = loader_preflight();

	if (!err && pins_loaded(c->pin_dir)) {
		/* Of another ABI: replaced in place. Of ours: 'already loaded' below. */
		err = loader_upgrade(conf, &o, &errs);
		if (err <= 0 || adopt) {
			err = err > 0 ? 0 : err; /* ours: adopted as it is */
			goto out;
		}
		err = 0;   /* ours: loader_load says it is already loaded */
	}
	if (!err)
		err = loader_load(conf, &o, &errs);
out:
	config_errors_print(&errs);
	err = exit_code(err, &errs);
	config_errors_free(&errs);
	return err;
}

static int cmd_load(const struct cli *c)
{
	struct shunt_config conf;
	bool file;
	int err = read_config(c, &conf, &file);

	if (err)
		return config_exit_code(err);
	if (!file)
		log_info("no %s: using the embedded Istio defaults", CONFIG_DEFAULT_PATH);
	err = load_config(c, &conf, false);
	config_free(&conf);
	return err;
}

static int cmd_apply(const struct cli *c)
{
	struct config_errors errs = { 0 };
	struct shunt_config conf;
	struct shunt_state st;
	struct shunt_maps m;
	bool file;
	int lockfd, err = read_config(c, &conf, &file);

	if (err)
		return config_exit_code(err);
	err = loader_preflight();
	if (err)
		goto out;
	if (!pins_loaded(c->pin_dir)) {
		log_err("shunt is not loaded at %s (run 'shunt load' first)", c->pin_dir);
		err = -ENOENT;
		goto out;
	}
	lockfd = pins_lock(c->pin_dir, false);
	if (lockfd < 0) {
		err = lockfd;
		goto out;
	}
	err = maps_open_pinned(&m, c->pin_dir);
	if (!err) {
		err = maps_read_state(&m, SHUNT_OWNER_DEFAULT, &st);
		if (!err) {
			struct apply_target t = { .m = &m, .pin_dir = c->pin_dir,
						  .sk_lookup_fd = pins_open_prog(c->pin_dir, "shunt_sk_lookup"),
						  .cgroup_id = pins_cgroup_id(c->pin_dir) };

			err = apply_config(&t, &conf, st.active_slot ^ 1, st.generation + 1, &errs);
			if (t.sk_lookup_fd >= 0)
				close(t.sk_lookup_fd);
		}
		if (!err)
			printf("applied %s: policy generation %u\n", conf.source, st.generation + 1);
		maps_close(&m);
	}
	pins_unlock(lockfd);
out:
	config_errors_print(&errs);
	err = exit_code(err, &errs);
	config_errors_free(&errs);
	config_free(&conf);
	return err;
}

static int cmd_run(const struct cli *c)
{
	struct daemon_opts d = { .pin_dir = c->pin_dir, .socket_path = c->socket,
				 .listen = c->listen, .version = SHUNT_VERSION,
				 .kubeconfig = c->kubeconfig, .kube_timeout_s = c->kube_timeout,
				 .cni = c->cni_install ? &c->cni : NULL,
				 .node_name = c->node_name ? c->node_name : getenv("NODE_NAME") };
	struct shunt_config conf;
	char *path;
	bool file;
	int err = read_config(c, &conf, &file);

	if (err)
		return config_exit_code(err);
	if (log_verbosity < LOG_INFO)
		log_verbosity = LOG_INFO;   /* a daemon says what it does */
	/* its own copy: conf.source goes with conf when a reload replaces it */
	path = file ? strdup(conf.source) : NULL;
	if (file && !path) {
		config_free(&conf);
		return EXIT_FAIL;
	}
	d.config_path = path;
	if (!pins_loaded(c->pin_dir)) {
		err = load_config(c, &conf, false);
	} else {
		err = load_config(c, &conf, true);
		d.adopt = true;
		if (c->max_conns)
			log_warn("--max-connections is ignored: shunt is already loaded at %s and its "
				 "maps keep their size until unload ('shunt status' shows it)",
				 c->pin_dir);
	}
	if (!err)
		err = daemon_run(&d, &conf) ? EXIT_FAIL : EXIT_OK;
	config_free(&conf);
	free(path);
	return err;
}

static int cmd_unload(const struct cli *c)
{
	struct loader_opts o = { .pin_dir = c->pin_dir };
	int err = loader_preflight();

	if (!err)
		err = loader_unload(&o);
	return err ? EXIT_FAIL : EXIT_OK;
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "shunt: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'shunt --help'.\n");
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "pin-dir", required_argument, NULL, 'p' },
		{ "cgroup", required_argument, NULL, 'g' }, { "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },      { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },      { "socket", required_argument, NULL, 's' },
		{ "max-connections", required_argument, NULL, 'M' },
		{ "listen", required_argument, NULL, 'l' },
		{ "kubeconfig", required_argument, NULL, 'K' },
		{ "cni-bin-dir", required_argument, NULL, 'B' },
		{ "cni-conf-dir", required_argument, NULL, 'N' },
		{ "cni-install", no_argument, NULL, 'I' },
		{ "uninstall", no_argument, NULL, 'Z' },
		{ "kube-timeout", required_argument, NULL, 'T' },
		{ "node-name", required_argument, NULL, 'W' },
		{ "pod", required_argument, NULL, 'P' },    { "uid", required_argument, NULL, 'U' },
		{ "gid", required_argument, NULL, 'G' },    { "proxy", no_argument, NULL, 'X' },
		{ "udp", no_argument, NULL, 'D' },
		{ "addr", required_argument, NULL, 'A' },   { "port", required_argument, NULL, 'O' },
		{ "verdict", required_argument, NULL, 'R' },
		{ 0 },
	};
	struct cli c = { .pin_dir = PINS_DEFAULT_DIR, .socket = PODINIT_SOCKET_DEFAULT,
			 .ex = { .uid = -1, .gid = -1 } };
	bool explain_opt = false;
	struct report_filter df = { 0 };
	const char *verdict = NULL;
	int opt, err;

	/* pod-init has istio-iptables' flags, not ours */
	if (argc >= 2 && !strcmp(argv[1], "pod-init")) {
		struct podinit_opts po;
		char msg[512];

		if (podinit_parse(argc - 2, argv + 2, getenv, &po, msg, sizeof(msg))) {
			fprintf(stderr, "shunt pod-init: %s\nTry 'shunt pod-init --help'.\n", msg);
			return EXIT_USAGE;
		}
		if (po.help) {
			podinit_usage(stdout);
			return EXIT_OK;
		}
		err = podinit_run(&po);
		config_free(&po.policy);
		return err;
	}
	while ((opt = getopt_long(argc, argv, "c:p:g:s:l:jvhV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			c.config = optarg;
			break;
		case 'p':
			c.pin_dir = optarg;
			break;
		case 'g':
			c.cgroup = optarg;
			break;
		case 'j':
			c.json = true;
			break;
		case 's':
			c.socket = optarg;
			break;
		case 'l': {
			struct sockaddr_storage ss;

			if (httpd_parse_listen(optarg, &ss))
				return usage_error("--listen takes ADDR:PORT (127.0.0.1:9402, [::1]:9402), "
						   "not '%s'", optarg);
			c.listen = optarg;
			break;
		}
		case 'K':
			c.kubeconfig = optarg;
			break;
		case 'W':
			c.node_name = optarg;
			break;
		case 'B':
			c.cni.bin_dir = optarg;
			break;
		case 'N':
			c.cni.conf_dir = optarg;
			break;
		case 'I':
			c.cni_install = true;
			break;
		case 'Z':
			c.uninstall = true;
			break;
		case 'T': {
			char *end;
			unsigned long t;

			errno = 0;
			t = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-' || t < 1 || t > 600)
				return usage_error("--kube-timeout takes seconds from 1 to 600, not '%s'",
						   optarg);
			c.kube_timeout = (unsigned)t;
			break;
		}
		case 'M': {
			char *end;

			errno = 0;
			c.max_conns = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-' ||
			    c.max_conns < LOADER_MIN_CONNS || c.max_conns > LOADER_MAX_CONNS)
				return usage_error("--max-connections takes a number from %u to %u, not '%s'",
						   LOADER_MIN_CONNS, LOADER_MAX_CONNS, optarg);
			break;
		}
		case 'P':
			c.ex.pod = optarg;
			break;
		case 'U':
		case 'G': {
			char *end;
			long long id;

			errno = 0;
			id = strtoll(optarg, &end, 10);
			if (errno || end == optarg || *end || id < 0 || id > 0xfffffffeLL)
				return usage_error("--%s takes a number, not '%s'", opt == 'U' ? "uid" : "gid",
						   optarg);
			*(opt == 'U' ? &c.ex.uid : &c.ex.gid) = id;
			explain_opt = true;
			break;
		}
		case 'X':
			c.ex.proxy = explain_opt = true;
			break;
		case 'A': {
			struct in6_addr a6;

			memset(&df.ip, 0, sizeof(df.ip));
			if (inet_pton(AF_INET, optarg, df.ip.addr) == 1) {
				df.ip.family = SHUNT_AF_INET;
			} else if (inet_pton(AF_INET6, optarg, &a6) == 1) {
				df.ip.family = SHUNT_AF_INET6;
				memcpy(df.ip.addr, &a6, 16);
			} else {
				return usage_error("--addr takes an IPv4 or IPv6 address, not '%s'", optarg);
			}
			df.addr = true;
			break;
		}
		case 'R':
			verdict = optarg;
			break;
		case 'O': {
			char *end;
			unsigned long p;

			errno = 0;
			p = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || p == 0 || p > 65535)
				return usage_error("--port takes a port from 1 to 65535, not '%s'", optarg);
			df.port = (__u16)p;
			break;
		}
		case 'D':
			c.ex.udp = explain_opt = true;
			break;
		case 'v':
			log_verbosity = log_verbosity < LOG_INFO ? LOG_INFO : log_verbosity + 1;
			break;
		case 'h':
			/* 'shunt COMMAND --help': that command's part */
			for (int i = 1; i < argc; i++)
				if (argv[i][0] != '-' && command_usage(argv[i], stdout))
					return EXIT_OK;
			fputs(usage_text, stdout);
			return EXIT_OK;
		case 'V':
			printf("shunt %s (ABI %u)\n", SHUNT_VERSION, SHUNT_ABI_VERSION);
			return EXIT_OK;
		default:
			fprintf(stderr, "Try 'shunt --help'.\n");
			return EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return usage_error("no command given");
	c.command = argv[optind++];
	/* 'check FILE' / 'apply FILE' as a shorthand for --config FILE. */
	if (optind < argc && (!strcmp(c.command, "check") || !strcmp(c.command, "apply") ||
			      !strcmp(c.command, "load") || !strcmp(c.command, "run"))) {
		if (c.config)
			return usage_error("give the configuration once, not as both --config and an argument");
		c.config = argv[optind++];
	}
	if (!strcmp(c.command, "explain")) {
		if (argc - optind == 2)
			c.ex.src = argv[optind++];
		if (argc - optind != 1)
			return usage_error("explain takes [SRC] DST, e.g. 'explain --pod NAME 10.0.0.5:80'");
		c.ex.dst = argv[optind++];
	} else if (explain_opt) {
		return usage_error("--uid, --gid, --proxy and --udp go with 'explain'");
	} else if (c.ex.pod && strcmp(c.command, "dump") && strcmp(c.command, "trace")) {
		return usage_error("--pod goes with 'explain', 'dump' or 'trace'");
	}
	if ((df.addr || df.port) && strcmp(c.command, "dump") && strcmp(c.command, "trace"))
		return usage_error("--addr and --port go with 'dump' or 'trace'");
	if (verdict && strcmp(c.command, "trace"))
		return usage_error("--verdict goes with 'trace'");
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (c.pin_dir[0] != '/')
		return usage_error("--pin-dir must be an absolute path, not '%s'", c.pin_dir);
	if (c.json && strcmp(c.command, "status") && strcmp(c.command, "explain") &&
	    strcmp(c.command, "doctor") && strcmp(c.command, "trace"))
		return usage_error("--json goes with 'status', 'explain', 'doctor' or 'trace'");
	if (c.max_conns && strcmp(c.command, "load") && strcmp(c.command, "run"))
		return usage_error("--max-connections goes with 'load' or 'run'");
	if (c.listen && strcmp(c.command, "run"))
		return usage_error("--listen goes with 'run'");
	if ((c.kubeconfig || c.kube_timeout || c.node_name) && strcmp(c.command, "run"))
		return usage_error("--kubeconfig, --kube-timeout and --node-name go with 'run'");
	if (c.cni_install && strcmp(c.command, "run"))
		return usage_error("--cni-install goes with 'run' (or use 'shunt cni-install')");
	if (c.uninstall && strcmp(c.command, "cni-install"))
		return usage_error("--uninstall goes with 'cni-install'");
	if ((c.cni.bin_dir || c.cni.conf_dir) && !c.cni_install && strcmp(c.command, "cni-install"))
		return usage_error("--cni-bin-dir and --cni-conf-dir go with 'cni-install' or 'run "
				   "--cni-install'");
	if (!c.cni.bin_dir)
		c.cni.bin_dir = CNI_BIN_DIR_DEFAULT;
	if (!c.cni.conf_dir)
		c.cni.conf_dir = CNI_CONF_DIR_DEFAULT;
	c.cni.socket = c.socket;
	if (c.socket[0] != '/')
		return usage_error("--socket must be an absolute path, not '%s'", c.socket);
	libbpf_set_print(libbpf_print);

	if (!strcmp(c.command, "check"))
		return cmd_check(&c);
	if (!strcmp(c.command, "load"))
		return cmd_load(&c);
	if (!strcmp(c.command, "apply"))
		return cmd_apply(&c);
	if (!strcmp(c.command, "unload"))
		return cmd_unload(&c);
	if (!strcmp(c.command, "run"))
		return cmd_run(&c);
	if (!strcmp(c.command, "cni-install")) {
		char msg[1024];

		err = c.uninstall ? cni_uninstall(&c.cni, msg, sizeof(msg))
				  : cni_install(&c.cni, msg, sizeof(msg));
		if (err < 0) {
			fprintf(stderr, "shunt: %s\n", msg);
			return EXIT_FAIL;
		}
		printf("%s\n", msg);
		return EXIT_OK;
	}
	if (!strcmp(c.command, "status")) {
		err = report_status(c.pin_dir, c.json);
		return err ? EXIT_FAIL : EXIT_OK;
	}
	if (!strcmp(c.command, "dump")) {
		char podpath[PATH_MAX];

		if (c.ex.pod) {
			snprintf(podpath, sizeof(podpath), strchr(c.ex.pod, '/') ? "%s" : "/run/netns/%s",
				 c.ex.pod);
			df.pod = true;
			df.pod_path = podpath;
		}
		err = report_dump(c.pin_dir, &df);
		return err ? EXIT_FAIL : EXIT_OK;
	}
	if (!strcmp(c.command, "trace")) {
		struct trace_opts to = { .pin_dir = c.pin_dir, .pod = c.ex.pod, .addr = df.addr,
					 .ip = df.ip, .port = df.port, .verdict = verdict,
					 .json = c.json };

		if (verdict && !report_counter_known_prefix(verdict))
			return usage_error("--verdict: no verdict or counter starts with '%s' (shunt "
					   "status lists them)", verdict);
		return trace_run(&to) ? EXIT_FAIL : EXIT_OK;
	}
	if (!strcmp(c.command, "doctor")) {
		struct doctor_opts dopt = { .pin_dir = c.pin_dir, .cgroup = c.cgroup, .json = c.json };

		return doctor_run(&dopt) ? EXIT_FAIL : EXIT_OK;
	}
	if (!strcmp(c.command, "explain")) {
		c.ex.pin_dir = c.pin_dir;
		c.ex.json = c.json;
		err = explain_outbound(&c.ex);
		return err == -EINVAL ? EXIT_USAGE : err ? EXIT_FAIL : EXIT_OK;
	}
	if (!strcmp(c.command, "help")) {
		fputs(usage_text, stdout);
		return EXIT_OK;
	}
	return usage_error("unknown command '%s'", c.command);
}
