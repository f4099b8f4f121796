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
#include "uninstall.h"
#include "upgrade.h"
#include "report.h"

#ifndef SHUNT_VERSION
#error "SHUNT_VERSION comes from the file VERSION (the Makefile passes it)"
#endif

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/*
 * The command line, as two tables: every option once (its flag, its argument, its help) and
 * every command once (its arguments, what it does, which options it reads). --help, each
 * 'shunt COMMAND --help' and the "goes with" errors are all printed from them, so a command's
 * help lists exactly the options it reads and nothing else can accept them.
 */
enum opt_id {
	O_CONFIG, O_PIN_DIR, O_CGROUP, O_SOCKET, O_CNI_BIN_DIR, O_CNI_CONF_DIR, O_CNI_INSTALL,
	O_UNINSTALL, O_MAX_CONNS, O_KUBECONFIG, O_KUBE_TIMEOUT, O_NODE_NAME, O_LISTEN, O_POD,
	O_ADDR, O_PORT, O_VERDICT, O_UID, O_GID, O_PROXY, O_UDP, O_TIMEOUT, O_JSON, O_LOG_FORMAT,
	O_VERBOSE,
	O_HELP, O_VERSION, O_COUNT
};
#define B(o) (1u << (o))
/* read by every command */
#define GENERAL_OPTS (B(O_LOG_FORMAT) | B(O_VERBOSE) | B(O_HELP) | B(O_VERSION))

struct opt_doc {
	const char *name;    /* the long name */
	char short_name;     /* 0: none */
	const char *arg;     /* NULL: a switch */
	const char *help;    /* one paragraph, wrapped when printed */
};

static const struct opt_doc opt_docs[O_COUNT] = {
	[O_CONFIG] = { "config", 'c', "FILE", "route configuration (default " CONFIG_DEFAULT_PATH
		       ", else the embedded Istio defaults); 'check FILE', 'load FILE', 'apply FILE' "
		       "and 'run FILE' also work" },
	[O_PIN_DIR] = { "pin-dir", 'p', "DIR", "where programs and maps are pinned (default "
			PINS_DEFAULT_DIR "); bpffs is mounted at /sys/fs/bpf when missing" },
	[O_CGROUP] = { "cgroup", 'g', "DIR", "cgroup v2 directory to attach to (default: the "
		       "cgroup2 root from /proc/mounts); it must contain the apps and the proxies" },
	[O_SOCKET] = { "socket", 's', "PATH", "where pod-init and the CNI plugin reach shunt run "
		       "(default " PODINIT_SOCKET_DEFAULT ")" },
	[O_CNI_BIN_DIR] = { "cni-bin-dir", 0, "DIR", "where the container runtime finds CNI "
			    "plugins (default " CNI_BIN_DIR_DEFAULT "); run: with --cni-install" },
	[O_CNI_CONF_DIR] = { "cni-conf-dir", 0, "DIR", "the runtime's CNI network configurations "
			     "(default " CNI_CONF_DIR_DEFAULT "); run: with --cni-install" },
	[O_CNI_INSTALL] = { "cni-install", 0, NULL, "install the CNI plugin and keep it installed "
			    "(appended again when another agent rewrites the file); /readyz is "
			    "false until it is" },
	[O_UNINSTALL] = { "uninstall", 0, NULL, "remove the plugin's entry and binary instead" },
	[O_MAX_CONNS] = { "max-connections", 0, "N", "room for N connections at once in each "
			  "per-connection map (default 262144, 64..16777216); fixed until unload. "
			  "A meshed connect beyond it is refused (EPERM) and counted" },
	[O_KUBECONFIG] = { "kubeconfig", 0, "FILE", "the Kubernetes API server for CNI mode "
			   "(server, CA, token; http:// and insecure-skip-tls-verify accepted); "
			   "default: in-cluster (KUBERNETES_SERVICE_HOST and the ServiceAccount's "
			   "token)" },
	[O_KUBE_TIMEOUT] = { "kube-timeout", 0, "SECONDS", "how long a CNI ADD retries the API "
			     "server (default 30)" },
	[O_NODE_NAME] = { "node-name", 0, "NAME", "this node's name in the cluster (default "
			  "$NODE_NAME); with it, CNI mode meshes the node's pods that started "
			  "before the plugin" },
	[O_LISTEN] = { "listen", 'l', "ADDR:PORT", "serve /healthz, /readyz and /metrics "
		       "(Prometheus) over HTTP, e.g. 0.0.0.0:15014, 127.0.0.1:9402 or [::1]:9402; "
		       "off by default" },
	[O_POD] = { "pod", 0, "POD", "the pod: NAMESPACE/NAME where shunt knows it (CNI mode, "
		    "pod-init with POD_NAMESPACE and POD_NAME), else its network namespace: a name "
		    "under /run/netns or a path such as /proc/PID/ns/net; explain without it: any "
		    "meshed pod" },
	[O_ADDR] = { "addr", 0, "ADDR", "only the rows about that IPv4 or IPv6 address" },
	[O_PORT] = { "port", 0, "N", "only the rows about that port" },
	[O_VERDICT] = { "verdict", 0, "NAME", "only events with that verdict or counter name (or "
			"a prefix of it: 'redirect', 'fallback', 'inbound_refused')" },
	[O_UID] = { "uid", 0, "N", "the connecting process's user id (default: an app's, not the "
		    "proxy's)" },
	[O_GID] = { "gid", 0, "N", "the connecting process's group id" },
	[O_PROXY] = { "proxy", 0, NULL, "the connecting process is the proxy" },
	[O_UDP] = { "udp", 0, NULL, "a UDP datagram (only DNS is ever captured)" },
	[O_JSON] = { "json", 'j', NULL, "JSON output; errors and warnings on stderr as JSON "
		     "objects too (as --log-format json)" },
	[O_LOG_FORMAT] = { "log-format", 0, "text|json", "how messages on stderr look: 'shunt: "
			   "warning: ...' lines (default), or one JSON object a line (time, level, "
			   "msg and fields such as pod, netns, generation), for log shippers" },
	[O_TIMEOUT] = { "timeout", 0, "SECONDS", "give up after SECONDS with pods still meshed "
			"(exit 1; shunt stays loaded and draining); default: wait as long as it takes" },
	[O_VERBOSE] = { "verbose", 'v', NULL, "say what is done; twice for libbpf's messages and "
			"the verifier log" },
	[O_HELP] = { "help", 'h', NULL, "this text; 'shunt COMMAND --help' for one command" },
	[O_VERSION] = { "version", 'V', NULL, "print the version" },
};

struct cli;
struct cmd {
	const char *name;
	const char *args;    /* after the name in the synopsis, or NULL */
	int (*fn)(struct cli *c);
	unsigned opts;       /* B(O_...) it reads, besides GENERAL_OPTS */
	const char *help;
};

static int cmd_check(struct cli *c);
static int cmd_load(struct cli *c);
static int cmd_apply(struct cli *c);
static int cmd_status(struct cli *c);
static int cmd_dump(struct cli *c);
static int cmd_run(struct cli *c);
static int cmd_unload(struct cli *c);
static int cmd_doctor(struct cli *c);
static int cmd_trace(struct cli *c);
static int cmd_explain(struct cli *c);
static int cmd_cni_install(struct cli *c);
static int cmd_uninstall(struct cli *c);

static const struct cmd cmds[] = {
	{ "check", "[FILE]", cmd_check, B(O_CONFIG),
	  "validate the configuration and print what it means; changes nothing" },
	{ "load", "[FILE]", cmd_load, B(O_CONFIG) | B(O_PIN_DIR) | B(O_CGROUP) | B(O_MAX_CONNS),
	  "load and attach the programs, pin them, fill the maps from the configuration; returns, "
	  "the programs stay attached" },
	{ "apply", "[FILE]", cmd_apply, B(O_CONFIG) | B(O_PIN_DIR),
	  "replace the running policy with the configuration, atomically" },
	{ "status", NULL, cmd_status, B(O_PIN_DIR) | B(O_JSON),
	  "what is attached, the policy generation, the counters" },
	{ "dump", NULL, cmd_dump, B(O_PIN_DIR) | B(O_POD) | B(O_ADDR) | B(O_PORT),
	  "the decoded contents of every map; --pod, --addr, --port keep the rows about one pod, "
	  "address or port" },
	{ "run", "[FILE]", cmd_run,
	  B(O_CONFIG) | B(O_PIN_DIR) | B(O_CGROUP) | B(O_SOCKET) | B(O_MAX_CONNS) | B(O_LISTEN) |
	  B(O_KUBECONFIG) | B(O_KUBE_TIMEOUT) | B(O_NODE_NAME) | B(O_CNI_INSTALL) |
	  B(O_CNI_BIN_DIR) | B(O_CNI_CONF_DIR),
	  "load (unless loaded) and stay in the foreground, meshing pods as their namespaces come "
	  "and go; re-reads the configuration on SIGHUP and when its file changes (a ConfigMap "
	  "update); SIGTERM exits and leaves everything attached" },
	{ "unload", NULL, cmd_unload, B(O_PIN_DIR), "detach everything and remove the pins" },
	{ "doctor", NULL, cmd_doctor, B(O_PIN_DIR) | B(O_CGROUP) | B(O_JSON),
	  "check that this node can run shunt and that the loaded one is healthy: kernel features "
	  "(probed), cgroup2, bpffs, pins, other programs on shunt's hooks, each meshed pod (proxy "
	  "listening, inbound link, iptables rules left by istio-init); the fix for each problem; "
	  "exit 1 if one failed" },
	{ "trace", NULL, cmd_trace,
	  B(O_PIN_DIR) | B(O_POD) | B(O_ADDR) | B(O_PORT) | B(O_VERDICT) | B(O_JSON),
	  "decisions as they happen, a line each: outbound capture or bypass and the rule, inbound "
	  "steering or refusal, SO_ORIGINAL_DST answers, fast-path entries and fallbacks, pods "
	  "meshed; --pod, --addr, --port, --verdict narrow it, --json for scripts; Ctrl-C stops "
	  "and switches tracing off (nothing is traced, or paid, before)" },
	{ "explain", "[SRC] DST", cmd_explain,
	  B(O_PIN_DIR) | B(O_POD) | B(O_UID) | B(O_GID) | B(O_PROXY) | B(O_UDP) | B(O_JSON),
	  "what would happen to a connection to DST (ADDR:PORT, [ADDR6]:PORT) from a pod, decided "
	  "from the live maps as the kernel decides it: meshed or not, which policy, which rule, "
	  "where it goes, what the proxy reads as the original destination, whether the fast path "
	  "carries it. SRC: the address the socket is bound to (127.0.0.6 is the proxy's "
	  "passthrough)" },
	{ "cni-install", NULL, cmd_cni_install,
	  B(O_SOCKET) | B(O_CNI_BIN_DIR) | B(O_CNI_CONF_DIR) | B(O_UNINSTALL),
	  "put the CNI plugin in place on this node, as istio-cni's installer does: shunt-cni into "
	  "--cni-bin-dir (atomically), appended to the first network configuration of "
	  "--cni-conf-dir (a .conf wrapped into a .conflist); with --uninstall, remove both" },
	{ "uninstall", NULL, cmd_uninstall,
	  B(O_CONFIG) | B(O_PIN_DIR) | B(O_SOCKET) | B(O_CNI_BIN_DIR) | B(O_CNI_CONF_DIR) |
	  B(O_TIMEOUT),
	  "take shunt off this node without breaking a running pod (after 'shunt run' is stopped): "
	  "remove the CNI plugin, stop meshing new pods (running ones stay meshed), wait until the "
	  "last meshed pod is deleted, then unload; the DaemonSet's uninstall Job runs it" },
	{ "pod-init", "[FLAGS]", NULL, 0,
	  "in a pod's init container: mesh this pod fail-closed with the policy of "
	  "istio-iptables' (or Linkerd proxy-init's) flags, through the node's `shunt run`; "
	  "'shunt pod-init --help' lists the flags" },
};

#define HELP_COL 21
#define HELP_WIDTH 80

/* text from column HELP_COL, wrapped at HELP_WIDTH; col: where the cursor is now */
static void print_wrapped(FILE *out, int col, const char *prefix, const char *text)
{
	char buf[1024];
	const char *w = buf;

	snprintf(buf, sizeof(buf), "%s%s", prefix, text);
	if (col > HELP_COL - 2) {
		fputc('\n', out);
		col = 0;
	}
	fprintf(out, "%*s", HELP_COL - col, "");
	col = HELP_COL;
	while (*w) {
		size_t n = strcspn(w, " ");

		if (col > HELP_COL && col + 1 + (int)n > HELP_WIDTH) {
			fprintf(out, "\n%*s", HELP_COL, "");
			col = HELP_COL;
		} else if (col > HELP_COL) {
			fputc(' ', out);
			col++;
		}
		fwrite(w, 1, n, out);
		col += (int)n;
		w += n;
		w += strspn(w, " ");
	}
	fputc('\n', out);
}

static void print_command(FILE *out, const struct cmd *k)
{
	int col = fprintf(out, "  %s%s%s", k->name, k->args ? " " : "", k->args ? k->args : "");

	print_wrapped(out, col, "", k->help);
}

/* full: the general --help, each option says which commands read it */
static void print_option(FILE *out, enum opt_id o, bool full)
{
	const struct opt_doc *d = &opt_docs[o];
	char prefix[256] = "";
	int col;

	if (d->short_name)
		col = fprintf(out, "  -%c, --%s", d->short_name, d->name);
	else
		col = fprintf(out, "      --%s", d->name);
	if (d->arg)
		col += fprintf(out, " %s", d->arg);
	if (full && !(GENERAL_OPTS & B(o))) {
		size_t len = 0;

		for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
			if (cmds[i].opts & B(o))
				len += (size_t)snprintf(prefix + len, sizeof(prefix) - len, "%s%s",
							len ? ", " : "", cmds[i].name);
		snprintf(prefix + len, sizeof(prefix) - len, ": ");
	}
	print_wrapped(out, col, prefix, d->help);
}

static const char exit_text[] =
	"Exit status: 0 done, 1 failed, 2 bad usage or bad configuration (FILE:LINE:COL: ...).\n";

static void usage(FILE *out)
{
	fputs("Usage: shunt [OPTIONS] COMMAND\n\n"
	      "Transparent TCP capture for service-mesh sidecars, with BPF instead of iptables.\n\n"
	      "Commands:\n", out);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		print_command(out, &cmds[i]);
	fputs("\nOptions:\n", out);
	for (int o = 0; o < O_COUNT; o++)
		print_option(out, o, true);
	fprintf(out, "\n%s", exit_text);
}

/* `shunt COMMAND --help`: its entry and exactly the options it reads */
static void command_usage(FILE *out, const struct cmd *k)
{
	fprintf(out, "Usage: shunt [OPTIONS] %s%s%s\n\n", k->name, k->args ? " " : "",
		k->args ? k->args : "");
	print_command(out, k);
	fputs("\nOptions:\n", out);
	for (int o = 0; o < O_COUNT; o++)
		if ((k->opts | GENERAL_OPTS) & B(o))
			print_option(out, o, false);
	fprintf(out, "\n%s", exit_text);
}

static const struct cmd *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(cmds[i].name, name))
			return &cmds[i];
	return NULL;
}

struct cli {
	const struct cmd *cmd;
	unsigned given;            /* B(O_...) of the options on the command line */
	const char *config;
	const char *pin_dir;
	const char *cgroup;
	const char *socket;
	unsigned long max_conns;   /* 0: not given */
	const char *listen;        /* run --listen */
	const char *kubeconfig;    /* run --kubeconfig */
	const char *node_name;     /* run --node-name */
	struct cni_install_opts cni;  /* cni-install, run --cni-install */
	unsigned kube_timeout;     /* run --kube-timeout, 0 = default */
	bool json;
	struct explain_opts ex;    /* explain's own options */
	struct report_filter df;   /* dump's and trace's --addr, --port */
	const char *verdict;       /* trace --verdict */
	unsigned timeout;          /* uninstall --timeout, 0 = none */
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

static int cmd_check(struct cli *c)
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

/* Load conf (its caller ran the preflight), printing its workload errors. Shared by load and
 * run. A shunt already loaded with another ABI is replaced in place; one of this ABI is an
 * error, unless adopt (run takes it over as it is). Returns the exit code. */
static int load_config(const struct cli *c, const struct shunt_config *conf, bool adopt)
{
	struct loader_opts o = { .pin_dir = c->pin_dir, .cgroup = c->cgroup,
				 .max_conns = (__u32)c->max_conns };
	struct config_errors errs = { 0 };
	int err = 0;

	if (pins_loaded(c->pin_dir)) {
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

static int cmd_load(struct cli *c)
{
	struct shunt_config conf;
	bool file;
	int err = read_config(c, &conf, &file);

	if (err)
		return config_exit_code(err);
	if (!file)
		log_info("no %s: using the embedded Istio defaults", CONFIG_DEFAULT_PATH);
	err = loader_preflight(false);
	err = err ? EXIT_FAIL : load_config(c, &conf, false);
	config_free(&conf);
	return err;
}

static int cmd_apply(struct cli *c)
{
	struct config_errors errs = { 0 };
	struct shunt_config conf;
	__u32 gen = 0;
	bool file;
	int err = read_config(c, &conf, &file);

	if (err)
		return config_exit_code(err);
	err = loader_preflight(false);
	if (!err)
		err = apply_pinned(c->pin_dir, &conf, &errs, &gen);
	if (!err)
		printf("applied %s: policy generation %u\n", conf.source, gen);
	config_errors_print(&errs);
	err = exit_code(err, &errs);
	config_errors_free(&errs);
	config_free(&conf);
	return err;
}

static int cmd_run(struct cli *c)
{
	struct daemon_opts d = { .pin_dir = c->pin_dir, .socket_path = c->socket,
				 .listen = c->listen, .version = SHUNT_VERSION,
				 .kubeconfig = c->kubeconfig, .kube_timeout_s = c->kube_timeout,
				 .cni = c->given & B(O_CNI_INSTALL) ? &c->cni : NULL,
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
	err = loader_preflight(true);
	if (err) {
		/* the kernel lacks what shunt needs: not-ready, not a crash loop */
		if (err == -ENOTSUP)
			err = daemon_unsupported(&d, loader_preflight_why());
		else
			log_err("%s", loader_preflight_why());
		config_free(&conf);
		free(path);
		return err ? EXIT_FAIL : EXIT_OK;
	}
	d.adopt = pins_loaded(c->pin_dir);
	err = load_config(c, &conf, d.adopt);
	if (d.adopt && c->max_conns)
		log_warn("--max-connections is ignored: shunt is already loaded at %s and its "
			 "maps keep their size until unload ('shunt status' shows it)", c->pin_dir);
	if (!err)
		err = daemon_run(&d, &conf) ? EXIT_FAIL : EXIT_OK;
	config_free(&conf);
	free(path);
	return err;
}

static int cmd_unload(struct cli *c)
{
	struct loader_opts o = { .pin_dir = c->pin_dir };
	int err = loader_preflight(false);

	if (!err)
		err = loader_unload(&o);
	return err ? EXIT_FAIL : EXIT_OK;
}

static int cmd_cni_install(struct cli *c)
{
	char msg[1024];
	int err = c->given & B(O_UNINSTALL) ? cni_uninstall(&c->cni, msg, sizeof(msg))
					     : cni_install(&c->cni, msg, sizeof(msg));

	if (err < 0) {
		log_err("%s", msg);
		return EXIT_FAIL;
	}
	printf("%s\n", msg);
	return EXIT_OK;
}

static int cmd_uninstall(struct cli *c)
{
	struct uninstall_opts u = { .pin_dir = c->pin_dir, .socket = c->socket, .cni = &c->cni,
				    .timeout_s = c->timeout };
	struct shunt_config conf;
	bool file;
	int err = read_config(c, &conf, &file);

	if (err)
		return config_exit_code(err);
	if (log_verbosity < LOG_INFO)
		log_verbosity = LOG_INFO;   /* it runs as a Job: say what is done */
	err = loader_preflight(false);
	if (!err)
		err = uninstall_run(&u, &conf);
	config_free(&conf);
	return err ? EXIT_FAIL : EXIT_OK;
}

static int cmd_status(struct cli *c)
{
	return report_status(c->pin_dir, c->json) ? EXIT_FAIL : EXIT_OK;
}

static int cmd_dump(struct cli *c)
{
	if (c->ex.pod) {
		c->df.pod = true;
		c->df.pod_arg = c->ex.pod;
	}
	return report_dump(c->pin_dir, &c->df) ? EXIT_FAIL : EXIT_OK;
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

static int cmd_trace(struct cli *c)
{
	struct trace_opts to = { .pin_dir = c->pin_dir, .pod = c->ex.pod, .addr = c->df.addr,
				 .ip = c->df.ip, .port = c->df.port, .verdict = c->verdict,
				 .json = c->json };

	if (c->verdict && !report_counter_known_prefix(c->verdict))
		return usage_error("--verdict: no verdict or counter starts with '%s' (shunt status "
				   "lists them)", c->verdict);
	return trace_run(&to) ? EXIT_FAIL : EXIT_OK;
}

static int cmd_doctor(struct cli *c)
{
	struct doctor_opts dopt = { .pin_dir = c->pin_dir, .cgroup = c->cgroup, .json = c->json };

	return doctor_run(&dopt) ? EXIT_FAIL : EXIT_OK;
}

static int cmd_explain(struct cli *c)
{
	int err;

	c->ex.pin_dir = c->pin_dir;
	c->ex.json = c->json;
	err = explain_outbound(&c->ex);
	return err == -EINVAL ? EXIT_USAGE : err ? EXIT_FAIL : EXIT_OK;
}

static int pod_init(int argc, char **argv)
{
	struct podinit_opts po;
	char msg[512];
	int err;

	if (podinit_parse(argc, argv, getenv, &po, msg, sizeof(msg))) {
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

/* A number from lo to hi in *v; false if arg is not one. */
static bool parse_num(const char *arg, unsigned long long lo, unsigned long long hi,
		      unsigned long long *v)
{
	char *end;

	errno = 0;
	*v = strtoull(arg, &end, 10);
	return !errno && end != arg && !*end && arg[0] != '-' && *v >= lo && *v <= hi;
}

/* One option's value into c. Returns EXIT_OK or a usage error's exit code. */
static int take_option(struct cli *c, enum opt_id o, const char *arg)
{
	unsigned long long v;

	switch (o) {
	case O_CONFIG:
		c->config = arg;
		break;
	case O_PIN_DIR:
		if (arg[0] != '/')
			return usage_error("--pin-dir must be an absolute path, not '%s'", arg);
		c->pin_dir = arg;
		break;
	case O_CGROUP:
		c->cgroup = arg;
		break;
	case O_SOCKET:
		if (arg[0] != '/')
			return usage_error("--socket must be an absolute path, not '%s'", arg);
		c->socket = arg;
		break;
	case O_CNI_BIN_DIR:
		c->cni.bin_dir = arg;
		break;
	case O_CNI_CONF_DIR:
		c->cni.conf_dir = arg;
		break;
	case O_MAX_CONNS:
		if (!parse_num(arg, LOADER_MIN_CONNS, LOADER_MAX_CONNS, &v))
			return usage_error("--max-connections takes a number from %u to %u, not '%s'",
					   LOADER_MIN_CONNS, LOADER_MAX_CONNS, arg);
		c->max_conns = (unsigned long)v;
		break;
	case O_KUBECONFIG:
		c->kubeconfig = arg;
		break;
	case O_KUBE_TIMEOUT:
		if (!parse_num(arg, 1, 600, &v))
			return usage_error("--kube-timeout takes seconds from 1 to 600, not '%s'", arg);
		c->kube_timeout = (unsigned)v;
		break;
	case O_NODE_NAME:
		c->node_name = arg;
		break;
	case O_LISTEN: {
		struct sockaddr_storage ss;

		if (httpd_parse_listen(arg, &ss))
			return usage_error("--listen takes ADDR:PORT (0.0.0.0:15014, 127.0.0.1:9402, "
					   "[::1]:9402), not '%s'", arg);
		c->listen = arg;
		break;
	}
	case O_POD:
		c->ex.pod = arg;
		break;
	case O_ADDR: {
		struct in6_addr a6;

		memset(&c->df.ip, 0, sizeof(c->df.ip));
		if (inet_pton(AF_INET, arg, c->df.ip.addr) == 1) {
			c->df.ip.family = SHUNT_AF_INET;
		} else if (inet_pton(AF_INET6, arg, &a6) == 1) {
			c->df.ip.family = SHUNT_AF_INET6;
			memcpy(c->df.ip.addr, &a6, 16);
		} else {
			return usage_error("--addr takes an IPv4 or IPv6 address, not '%s'", arg);
		}
		c->df.addr = true;
		break;
	}
	case O_PORT:
		if (!parse_num(arg, 1, 65535, &v))
			return usage_error("--port takes a port from 1 to 65535, not '%s'", arg);
		c->df.port = (__u16)v;
		break;
	case O_VERDICT:
		c->verdict = arg;
		break;
	case O_UID:
	case O_GID:
		if (!parse_num(arg, 0, 0xfffffffeULL, &v))
			return usage_error("--%s takes a number, not '%s'", opt_docs[o].name, arg);
		*(o == O_UID ? &c->ex.uid : &c->ex.gid) = (long long)v;
		break;
	case O_PROXY:
		c->ex.proxy = true;
		break;
	case O_UDP:
		c->ex.udp = true;
		break;
	case O_JSON:
		c->json = true;
		log_json = true;   /* its errors too: one JSON object a line on stderr */
		break;
	case O_LOG_FORMAT:
		if (!log_set_format(arg))
			return usage_error("--log-format takes 'text' or 'json', not '%s'", arg);
		break;
	case O_TIMEOUT:
		if (!parse_num(arg, 1, 86400, &v))
			return usage_error("--timeout takes seconds from 1 to 86400, not '%s'", arg);
		c->timeout = (unsigned)v;
		break;
	case O_VERBOSE:
		log_verbosity = log_verbosity < LOG_INFO ? LOG_INFO : log_verbosity + 1;
		break;
	case O_CNI_INSTALL:
	case O_UNINSTALL:
	case O_HELP:
	case O_VERSION:
	case O_COUNT:
		break;
	}
	return EXIT_OK;
}

/* An option the command does not read is an error naming the commands that do. */
static int check_options(const struct cli *c)
{
	unsigned stray = c->given & ~(c->cmd->opts | GENERAL_OPTS);
	char who[256];

	for (int o = 0; o < O_COUNT; o++) {
		size_t len = 0;

		if (!(stray & B(o)))
			continue;
		for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
			if (cmds[i].opts & B(o))
				len += (size_t)snprintf(who + len, sizeof(who) - len, "%s'%s'",
							len ? ", " : "", cmds[i].name);
		return usage_error("--%s goes with %s, not '%s'", opt_docs[o].name, who,
				   c->cmd->name);
	}
	/* run reads the CNI directories only to install the plugin */
	if (!strcmp(c->cmd->name, "run") && !(c->given & B(O_CNI_INSTALL)) &&
	    (c->given & (B(O_CNI_BIN_DIR) | B(O_CNI_CONF_DIR))))
		return usage_error("--cni-bin-dir and --cni-conf-dir go with 'cni-install' or 'run "
				   "--cni-install'");
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	struct option lo[O_COUNT + 1] = { { 0 } };
	char shorts[2 * O_COUNT + 1], *sp = shorts;
	struct cli c = { .pin_dir = PINS_DEFAULT_DIR, .socket = PODINIT_SOCKET_DEFAULT,
			 .ex = { .uid = -1, .gid = -1 } };
	const char *name;
	int opt, err;

	/* pod-init has istio-iptables' flags, not ours */
	if (argc >= 2 && !strcmp(argv[1], "pod-init"))
		return pod_init(argc - 2, argv + 2);
	for (int o = 0; o < O_COUNT; o++) {
		lo[o] = (struct option){ opt_docs[o].name,
					 opt_docs[o].arg ? required_argument : no_argument, NULL,
					 256 + o };
		if (opt_docs[o].short_name) {
			*sp++ = opt_docs[o].short_name;
			if (opt_docs[o].arg)
				*sp++ = ':';
		}
	}
	*sp = '\0';
	while ((opt = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
		enum opt_id o = O_COUNT;

		if (opt >= 256)
			o = (enum opt_id)(opt - 256);
		for (int i = 0; opt < 256 && i < O_COUNT; i++)
			if (opt_docs[i].short_name && opt_docs[i].short_name == opt)
				o = (enum opt_id)i;
		if (o == O_COUNT) {
			fprintf(stderr, "Try 'shunt --help'.\n");
			return EXIT_USAGE;
		}
		if (o == O_HELP) {
			/* 'shunt COMMAND --help': that command's part */
			for (int i = 1; i < argc; i++) {
				const struct cmd *k = argv[i][0] != '-' ? find_command(argv[i]) : NULL;

				if (k && k->fn) {
					command_usage(stdout, k);
					return EXIT_OK;
				}
			}
			usage(stdout);
			return EXIT_OK;
		}
		if (o == O_VERSION) {
			printf("shunt %s (ABI %u)\n", SHUNT_VERSION, SHUNT_ABI_VERSION);
			return EXIT_OK;
		}
		err = take_option(&c, o, optarg);
		if (err)
			return err;
		c.given |= B(o);
	}
	if (optind >= argc)
		return usage_error("no command given");
	name = argv[optind++];
	if (!strcmp(name, "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	c.cmd = find_command(name);
	if (!c.cmd || !c.cmd->fn)
		return usage_error(c.cmd ? "pod-init comes first: 'shunt pod-init [FLAGS]'"
				   : "unknown command '%s'", name);
	err = check_options(&c);
	if (err)
		return err;
	/* 'check FILE', 'load FILE', 'apply FILE', 'run FILE': --config FILE */
	if (optind < argc && c.cmd->args && !strcmp(c.cmd->args, "[FILE]")) {
		if (c.config)
			return usage_error("give the configuration once, not as both --config and an argument");
		c.config = argv[optind++];
	}
	if (c.cmd->fn == cmd_explain) {
		if (argc - optind == 2)
			c.ex.src = argv[optind++];
		if (argc - optind != 1)
			return usage_error("explain takes [SRC] DST, e.g. 'explain --pod NETNS 10.0.0.5:80'");
		c.ex.dst = argv[optind++];
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!c.cni.bin_dir)
		c.cni.bin_dir = CNI_BIN_DIR_DEFAULT;
	if (!c.cni.conf_dir)
		c.cni.conf_dir = CNI_CONF_DIR_DEFAULT;
	c.cni.socket = c.socket;
	c.cni.log_json = log_json;   /* the plugin logs as the daemon does */
	libbpf_set_print(libbpf_print);
	return c.cmd->fn(&c);
}
