// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* See podinit.h. Flag names, defaults and meanings follow istio-iptables
 * (tools/istio-iptables/pkg/cmd, pkg/constants) and linkerd2-proxy-init (proxy-init/cmd). */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "log.h"
#include "podinit.h"

enum flag_id {
	/* istio-iptables */
	F_ENVOY_PORT, F_INBOUND_CAPTURE_PORT, F_TUNNEL_PORT, F_PROXY_UID, F_PROXY_GID, F_MODE,
	F_INBOUND_PORTS, F_LOCAL_EXCLUDE_PORTS, F_SERVICE_CIDR, F_SERVICE_EXCLUDE_CIDR,
	F_OUTBOUND_PORTS, F_LOCAL_OUTBOUND_PORTS_EXCLUDE, F_EXCLUDE_INTERFACES, F_KUBE_VIRT,
	F_TPROXY_MARK, F_TPROXY_TABLE, F_DRY_RUN, F_REDIRECT_DNS, F_CAPTURE_ALL_DNS, F_DUAL_STACK,
	F_DROP_INVALID, F_SKIP_RULE_APPLY, F_RUN_VALIDATION, F_PROBE_PORT, F_PROBE_TIMEOUT,
	F_RESTORE_FORMAT, F_TRACE_LOGGING, F_NETWORK_NAMESPACE, F_CNI_MODE, F_NSENTER,
	F_ISTIO_LOG, F_ISTIO_LOG_JSON,
	/* linkerd2-proxy-init */
	F_L_INCOMING, F_L_OUTGOING, F_L_PORTS_TO_REDIRECT, F_L_IN_IGNORE, F_L_OUT_IGNORE,
	F_L_SUBNETS_IGNORE, F_L_SIMULATE, F_L_NETNS, F_L_WAIT, F_L_CLOSE_WAIT, F_L_LOG,
	F_L_FIREWALL_BIN, F_L_IPV6, F_L_IPTABLES_MODE,
	/* shunt's own */
	F_SOCKET, F_TIMEOUT, F_HELP, F_RESOLV_CONF, F_ACCELERATION,
	F_COUNT,
};

enum flag_kind { K_VALUE, K_BOOL };
enum flag_family { FAM_ISTIO, FAM_LINKERD, FAM_BOTH, FAM_SHUNT };

struct flag {
	char shrt;                 /* 0 = long only */
	const char *lng;
	enum flag_kind kind;
	enum flag_family fam;
	const char *env;           /* istio-iptables reads it from the environment too */
	const char *refused;       /* non-NULL: refused (when set to a non-empty/true value) */
};

/* -r is istio-iptables' TPROXY route table and proxy-init's --ports-to-redirect: the family
 * of the other flags decides. */
static const struct flag flags[F_COUNT] = {
	[F_ENVOY_PORT] = { 'p', "envoy-port", K_VALUE, FAM_ISTIO, "ENVOY_PORT", NULL },
	[F_INBOUND_CAPTURE_PORT] = { 'z', "inbound-capture-port", K_VALUE, FAM_ISTIO,
				     "INBOUND_CAPTURE_PORT", NULL },
	[F_TUNNEL_PORT] = { 'e', "inbound-tunnel-port", K_VALUE, FAM_ISTIO, "INBOUND_TUNNEL_PORT",
			    NULL },
	[F_PROXY_UID] = { 'u', "proxy-uid", K_VALUE, FAM_BOTH, "PROXY_UID", NULL },
	[F_PROXY_GID] = { 'g', "proxy-gid", K_VALUE, FAM_BOTH, "PROXY_GID", NULL },
	[F_MODE] = { 'm', "istio-inbound-interception-mode", K_VALUE, FAM_ISTIO,
		     "ISTIO_INBOUND_INTERCEPTION_MODE", NULL },
	[F_INBOUND_PORTS] = { 'b', "istio-inbound-ports", K_VALUE, FAM_ISTIO, "ISTIO_INBOUND_PORTS",
			      NULL },
	[F_LOCAL_EXCLUDE_PORTS] = { 'd', "istio-local-exclude-ports", K_VALUE, FAM_ISTIO,
				    "ISTIO_LOCAL_EXCLUDE_PORTS", NULL },
	[F_SERVICE_CIDR] = { 'i', "istio-service-cidr", K_VALUE, FAM_ISTIO, "ISTIO_SERVICE_CIDR",
			     NULL },
	[F_SERVICE_EXCLUDE_CIDR] = { 'x', "istio-service-exclude-cidr", K_VALUE, FAM_ISTIO,
				     "ISTIO_SERVICE_EXCLUDE_CIDR", NULL },
	[F_OUTBOUND_PORTS] = { 'q', "istio-outbound-ports", K_VALUE, FAM_ISTIO,
			       "ISTIO_OUTBOUND_PORTS", NULL },
	[F_LOCAL_OUTBOUND_PORTS_EXCLUDE] = { 'o', "istio-local-outbound-ports-exclude", K_VALUE,
					     FAM_ISTIO, "ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE", NULL },
	[F_EXCLUDE_INTERFACES] = { 'c', "istio-exclude-interfaces", K_VALUE, FAM_ISTIO, NULL,
				   "shunt captures by socket, not by interface: interface "
				   "exclusions are not supported" },
	[F_KUBE_VIRT] = { 'k', "kube-virt-interfaces", K_VALUE, FAM_ISTIO, NULL,
			  "virtual-interface rerouting (KubeVirt) is not supported" },
	[F_TPROXY_MARK] = { 't', "istio-inbound-tproxy-mark", K_VALUE, FAM_ISTIO, NULL,
			    "TPROXY is not supported (shunt steers inbound with sk_lookup)" },
	[F_TPROXY_TABLE] = { 'r', "istio-inbound-tproxy-route-table", K_VALUE, FAM_ISTIO, NULL,
			     "TPROXY is not supported (shunt steers inbound with sk_lookup)" },
	[F_DRY_RUN] = { 'n', "dry-run", K_BOOL, FAM_ISTIO, NULL, NULL },
	[F_REDIRECT_DNS] = { 0, "redirect-dns", K_BOOL, FAM_ISTIO, "ISTIO_META_DNS_CAPTURE", NULL },
	[F_CAPTURE_ALL_DNS] = { 0, "capture-all-dns", K_BOOL, FAM_ISTIO, NULL, NULL },
	[F_DUAL_STACK] = { 0, "dual-stack", K_BOOL, FAM_ISTIO, NULL, NULL },
	[F_DROP_INVALID] = { 0, "drop-invalid", K_BOOL, FAM_ISTIO, NULL, NULL },
	[F_SKIP_RULE_APPLY] = { 0, "skip-rule-apply", K_BOOL, FAM_ISTIO, NULL,
				"a pod-init that applies nothing would leave the pod unmeshed" },
	[F_RUN_VALIDATION] = { 0, "run-validation", K_BOOL, FAM_ISTIO, NULL, NULL },
	[F_PROBE_PORT] = { 0, "iptables-probe-port", K_VALUE, FAM_ISTIO, NULL, NULL },
	[F_PROBE_TIMEOUT] = { 0, "probe-timeout", K_VALUE, FAM_ISTIO, NULL, NULL },
	[F_RESTORE_FORMAT] = { 'f', "restore-format", K_BOOL, FAM_ISTIO, NULL, NULL },
	[F_TRACE_LOGGING] = { 0, "iptables-trace-logging", K_BOOL, FAM_ISTIO, NULL,
			      "there are no iptables rules to trace: shunt trace shows each decision" },
	[F_NETWORK_NAMESPACE] = { 0, "network-namespace", K_VALUE, FAM_ISTIO, NULL,
				  "pod-init meshes the network namespace it runs in, and no other" },
	[F_CNI_MODE] = { 0, "cni-mode", K_BOOL, FAM_ISTIO, NULL,
			 "pod-init meshes the network namespace it runs in, and no other" },
	[F_NSENTER] = { 0, "host-nsenter-exec", K_BOOL, FAM_ISTIO, NULL,
			"pod-init meshes the network namespace it runs in, and no other" },
	[F_ISTIO_LOG] = { 0, "log_output_level", K_VALUE, FAM_ISTIO, NULL, NULL },
	/* a switch in istio-iptables: it takes no value (the next argument is a flag) */
	[F_ISTIO_LOG_JSON] = { 0, "log_as_json", K_BOOL, FAM_ISTIO, NULL, NULL },
	[F_L_INCOMING] = { 0, "incoming-proxy-port", K_VALUE, FAM_LINKERD, NULL, NULL },
	[F_L_OUTGOING] = { 0, "outgoing-proxy-port", K_VALUE, FAM_LINKERD, NULL, NULL },
	[F_L_PORTS_TO_REDIRECT] = { 'r', "ports-to-redirect", K_VALUE, FAM_LINKERD, NULL, NULL },
	[F_L_IN_IGNORE] = { 0, "inbound-ports-to-ignore", K_VALUE, FAM_LINKERD, NULL, NULL },
	[F_L_OUT_IGNORE] = { 0, "outbound-ports-to-ignore", K_VALUE, FAM_LINKERD, NULL, NULL },
	[F_L_SUBNETS_IGNORE] = { 0, "subnets-to-ignore", K_VALUE, FAM_LINKERD, NULL, NULL },
	[F_L_SIMULATE] = { 0, "simulate", K_BOOL, FAM_LINKERD, NULL, NULL },
	[F_L_NETNS] = { 0, "netns", K_VALUE, FAM_LINKERD, NULL,
			"pod-init meshes the network namespace it runs in, and no other" },
	[F_L_WAIT] = { 'w', "use-wait-flag", K_BOOL, FAM_LINKERD, NULL, NULL },
	[F_L_CLOSE_WAIT] = { 0, "timeout-close-wait-secs", K_VALUE, FAM_LINKERD, NULL, NULL },
	[F_L_LOG] = { 0, "log-level", K_VALUE, FAM_LINKERD, NULL, NULL },
	[F_L_FIREWALL_BIN] = { 0, "firewall-bin-path", K_VALUE, FAM_LINKERD, NULL, NULL },
	[F_L_IPV6] = { 0, "ipv6", K_BOOL, FAM_LINKERD, NULL, NULL },
	[F_L_IPTABLES_MODE] = { 0, "iptables-mode", K_VALUE, FAM_LINKERD, NULL, NULL },
	[F_SOCKET] = { 0, "socket", K_VALUE, FAM_SHUNT, "SHUNT_SOCKET", NULL },
	[F_TIMEOUT] = { 0, "timeout", K_VALUE, FAM_SHUNT, NULL, NULL },
	[F_HELP] = { 'h', "help", K_BOOL, FAM_SHUNT, NULL, NULL },
	[F_RESOLV_CONF] = { 0, "resolv-conf", K_VALUE, FAM_SHUNT, NULL, NULL },
	[F_ACCELERATION] = { 0, "acceleration", K_BOOL, FAM_SHUNT, "SHUNT_ACCELERATION", NULL },
};

/* Accepted and without effect here, with the reason --help gives: */
static const struct {
	const char *lng;
	const char *why;
} no_ops[] = {
	{ "dual-stack", "IPv4 and IPv6 are always both captured" },
	{ "drop-invalid", "there is no NAT whose out-of-window packets could leak" },
	{ "run-validation", "pod-init always waits for the daemon to confirm the pod is meshed" },
	{ "iptables-probe-port", "(validation is the daemon's answer)" },
	{ "probe-timeout", "(see --timeout)" },
	{ "restore-format", "(output format of iptables rules)" },
	{ "log_output_level", "(Istio's logging)" },
	{ "use-wait-flag", "(iptables locking)" },
	{ "timeout-close-wait-secs", "(a conntrack setting; nothing is tracked)" },
	{ "log-level", "(Linkerd's logging)" },
	{ "firewall-bin-path", "(iptables binary)" },
	{ "ipv6", "IPv4 and IPv6 are always both captured" },
	{ "iptables-mode", "(legacy or nft iptables)" },
};

/* Aliases that map to a flag of the table: proxy-init's other log and firewall flags. */
static const struct {
	const char *lng;
	enum flag_id id;
} aliases[] = {
	{ "log-format", F_L_LOG },
	{ "firewall-save-bin-path", F_L_FIREWALL_BIN },
	{ "log_caller", F_ISTIO_LOG },
	{ "log_stacktrace_level", F_ISTIO_LOG },
	{ "log_target", F_ISTIO_LOG },
};

struct seen {
	bool set[F_COUNT];
	const char *val[F_COUNT];
	const char *name[F_COUNT];   /* as the user wrote it, for messages */
	char namebuf[F_COUNT][64];
};

static int errf(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int errf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int find_long(const char *name, size_t n, bool linkerd)
{
	for (int i = 0; i < F_COUNT; i++) {
		if (strlen(flags[i].lng) == n && !strncmp(flags[i].lng, name, n)) {
			/* -r and --ports-to-redirect vs the tproxy table: by family */
			return i;
		}
	}
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (strlen(aliases[i].lng) == n && !strncmp(aliases[i].lng, name, n))
			return (int)aliases[i].id;
	(void)linkerd;
	return -1;
}

static int find_short(char c, bool linkerd)
{
	for (int i = 0; i < F_COUNT; i++) {
		if (flags[i].shrt != c)
			continue;
		if (c == 'r' && (flags[i].fam == FAM_LINKERD) != linkerd)
			continue;
		return i;
	}
	return -1;
}

static bool parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "TRUE")) {
		*out = true;
		return true;
	}
	if (!strcmp(s, "false") || !strcmp(s, "0") || !strcasecmp(s, "FALSE")) {
		*out = false;
		return true;
	}
	return false;
}

/* A long or short flag of the proxy-init family appears: Linkerd mode. */
static bool is_linkerd_args(int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		size_t n;

		if (strncmp(a, "--", 2))
			continue;
		a += 2;
		n = strcspn(a, "=");
		for (int f = 0; f < F_COUNT; f++)
			if (flags[f].fam == FAM_LINKERD && strlen(flags[f].lng) == n &&
			    !strncmp(flags[f].lng, a, n))
				return true;
	}
	return false;
}

static int record(struct seen *s, int id, const char *written, const char *val, char *err,
		  size_t errlen)
{
	/* logging flags share an id and may repeat; anything else given twice is ambiguous */
	bool repeats = id == F_ISTIO_LOG || id == F_ISTIO_LOG_JSON || id == F_L_LOG ||
		       id == F_L_FIREWALL_BIN;

	if (s->set[id] && s->name[id] && written && !repeats)
		return errf(err, errlen, "%s given twice", written);
	s->set[id] = true;
	s->val[id] = val;
	if (written) {
		snprintf(s->namebuf[id], sizeof(s->namebuf[id]), "%s", written);
		s->name[id] = s->namebuf[id];
	}
	return 0;
}

static int scan_args(int argc, char **argv, bool linkerd, struct seen *s, char *err, size_t errlen)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		char written[64];
		int id;

		if (!strcmp(a, "--"))
			return errf(err, errlen, "unexpected argument '%s'", a);
		if (!strncmp(a, "--", 2)) {
			const char *eq = strchr(a + 2, '=');
			size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);

			id = find_long(a + 2, n, linkerd);
			snprintf(written, sizeof(written), "--%.*s", (int)n, a + 2);
			if (id < 0)
				return errf(err, errlen, "unknown flag %s", written);
			if (eq)
				val = eq + 1;
		} else if (a[0] == '-' && a[1]) {
			id = find_short(a[1], linkerd);
			snprintf(written, sizeof(written), "-%c", a[1]);
			if (id < 0)
				return errf(err, errlen, "unknown flag %s", written);
			if (a[2])
				val = a[2] == '=' ? a + 3 : a + 2;
		} else {
			return errf(err, errlen, "unexpected argument '%s' (flags only)", a);
		}
		if (flags[id].fam == FAM_ISTIO && linkerd)
			return errf(err, errlen, "%s is an istio-iptables flag; it cannot be mixed with "
				    "Linkerd proxy-init's flags", written);
		if (flags[id].kind == K_BOOL) {
			if (!val)
				val = "true";
		} else if (!val) {
			if (i + 1 >= argc)
				return errf(err, errlen, "%s needs a value", written);
			val = argv[++i];
		}
		if (record(s, id, written, val, err, errlen))
			return -EINVAL;
	}
	return 0;
}

static int get_port_arg(const struct seen *s, int id, uint16_t *out, char *err, size_t errlen)
{
	unsigned long long v;

	if (config_parse_number(s->val[id], 65535, &v) || v < 1)
		return errf(err, errlen, "%s: '%s' is not a port (1..65535)", s->name[id], s->val[id]);
	*out = (uint16_t)v;
	return 0;
}

static int get_id_arg(const struct seen *s, int id, uint32_t *out, char *err, size_t errlen)
{
	unsigned long long v;

	if (config_parse_number(s->val[id], UINT32_MAX - 1, &v))
		return errf(err, errlen, "%s: '%s' is not a numeric id", s->name[id], s->val[id]);
	*out = (uint32_t)v;
	return 0;
}

/* A comma-separated list as a YAML flow sequence of quoted strings; the policy parser
 * then checks every entry (and names the flag in our message). */
static int port_list_arg(const struct seen *s, int id, bool allow_all, struct config_port_list *out,
			 char *err, size_t errlen)
{
	const char *v = s->val[id];
	char *copy, *tok, *save = NULL;
	uint64_t *listed = calloc(65536 / 64, sizeof(*listed));   /* dedup, one bit a port */
	size_t cap = 16;

	free(out->v);
	free(out->vpos);
	memset(out, 0, sizeof(*out));
	out->v = calloc(cap, sizeof(*out->v));
	out->vpos = calloc(cap, sizeof(*out->vpos));
	copy = strdup(v);
	if (!out->v || !out->vpos || !copy || !listed)
		goto oom;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned lo, hi;

		while (*tok == ' ')
			tok++;
		if (!*tok)
			continue;
		if (!strcmp(tok, "*")) {
			if (!allow_all) {
				free(listed);
				free(copy);
				return errf(err, errlen, "%s: \"*\" is not accepted here", s->name[id]);
			}
			out->all = true;
			continue;
		}
		if (config_parse_port_range(tok, &lo, &hi)) {
			errf(err, errlen, "%s: '%s' is not a port or a port range (like 4000-4100)",
			     s->name[id], tok);
			free(listed);
			free(copy);
			return -EINVAL;
		}
		for (unsigned p = lo; p <= hi; p++) {
			if ((listed[p / 64] >> (p % 64)) & 1)
				continue;
			listed[p / 64] |= 1ull << (p % 64);
			if (out->n == cap) {
				uint16_t *g = realloc(out->v, cap * 2 * sizeof(*g));
				struct config_pos *gp;

				if (!g)
					goto oom;
				out->v = g;
				gp = realloc(out->vpos, cap * 2 * sizeof(*gp));
				if (!gp)
					goto oom;
				out->vpos = gp;
				cap *= 2;
			}
			out->vpos[out->n] = (struct config_pos){ 0, 0 };
			out->v[out->n++] = (uint16_t)p;
		}
	}
	free(listed);
	free(copy);
	if (out->all && out->n)
		return errf(err, errlen, "%s: \"*\" combined with ports", s->name[id]);
	return 0;
oom:
	free(listed);
	free(copy);
	return errf(err, errlen, "out of memory");
}

static int cidr_list_arg(const struct seen *s, int id, bool allow_all, struct config_cidr_list *out,
			 char *err, size_t errlen)
{
	char *copy = strdup(s->val[id]), *tok, *save = NULL;
	size_t cap = 8;

	free(out->v);
	memset(out, 0, sizeof(*out));
	out->v = calloc(cap, sizeof(*out->v));
	if (!copy || !out->v) {
		free(copy);
		return errf(err, errlen, "out of memory");
	}
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		struct config_cidr c;
		const char *why;

		while (*tok == ' ')
			tok++;
		if (!*tok)
			continue;
		if (!strcmp(tok, "*")) {
			if (!allow_all) {
				free(copy);
				return errf(err, errlen, "%s: \"*\" is not accepted here", s->name[id]);
			}
			out->all = true;
			continue;
		}
		if (config_parse_cidr(tok, &c, &why)) {
			errf(err, errlen, "%s: '%s' %s", s->name[id], tok, why);
			free(copy);
			return -EINVAL;
		}
		if (out->n == cap) {
			struct config_cidr *g = realloc(out->v, cap * 2 * sizeof(*g));

			if (!g) {
				free(copy);
				return errf(err, errlen, "out of memory");
			}
			out->v = g;
			cap *= 2;
		}
		out->v[out->n++] = c;
	}
	free(copy);
	if (out->all && out->n)
		return errf(err, errlen, "%s: \"*\" combined with CIDRs", s->name[id]);
	return 0;
}

/* The environment, for the flags istio-iptables also reads from it (flags win). */
static void scan_env(char *(*getenv_fn)(const char *), bool linkerd, struct seen *s)
{
	if (!getenv_fn)
		return;
	for (int i = 0; i < F_COUNT; i++) {
		const char *v;

		/* proxy-init reads no environment; istio-iptables reads its flags' */
		if (s->set[i] || !flags[i].env || (flags[i].fam != FAM_SHUNT && linkerd))
			continue;
		v = getenv_fn(flags[i].env);
		if (!v || !*v)
			continue;
		s->set[i] = true;
		s->val[i] = v;
		snprintf(s->namebuf[i], sizeof(s->namebuf[i]), "$%s", flags[i].env);
		s->name[i] = s->namebuf[i];
	}
}

/* The nameservers of a resolv.conf, as istio-iptables reads the pod's (one /32 or /128 each;
 * a v6 zone "%eth0" is dropped). 0, or -EINVAL with err filled. */
static int read_nameservers(const char *path, struct config_cidr_list *out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char line[512];
	int lineno = 0;

	free(out->v);
	memset(out, 0, sizeof(*out));
	if (!f)
		return errf(err, errlen, "--redirect-dns: cannot read %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char word[32], addr[128], *pct;
		struct config_cidr c, *g;
		const char *why;

		lineno++;
		if (sscanf(line, "%31s %127s", word, addr) != 2 || strcmp(word, "nameserver"))
			continue;
		pct = strchr(addr, '%');
		if (pct)
			*pct = '\0';
		if (config_parse_cidr(addr, &c, &why) || strchr(addr, '/')) {
			fclose(f);
			return errf(err, errlen, "%s:%d: nameserver '%s' is not an address", path,
				    lineno, addr);
		}
		g = realloc(out->v, (out->n + 1) * sizeof(*g));
		if (!g) {
			fclose(f);
			return errf(err, errlen, "out of memory");
		}
		out->v = g;
		out->v[out->n++] = c;
	}
	fclose(f);
	return 0;
}

/* --redirect-dns / --capture-all-dns: Istio's DNS capture (pkg/capture/run.go SetupDNSRedir):
 * to the agent on 15053, for the pod's nameservers or, with --capture-all-dns, any server. */
static int build_dns(struct seen *s, struct podinit_opts *o, char *err, size_t errlen)
{
	struct shunt_config *p = &o->policy;
	bool dns = false, all = false;
	int r;

	if (s->set[F_REDIRECT_DNS])
		parse_bool(s->val[F_REDIRECT_DNS], &dns);
	if (s->set[F_CAPTURE_ALL_DNS])
		parse_bool(s->val[F_CAPTURE_ALL_DNS], &all);
	if (!dns)
		return 0;
	p->dns_all = all;
	if (!all) {
		r = read_nameservers(o->resolv_conf, &p->dns_servers, err, errlen);
		if (r)
			return r;
		if (!p->dns_servers.n) {
			/* istio-iptables: "REDIRECT_DNS is set, but CAPTURE_ALL_DNS is false, and
			 * no DNS servers provided. DNS capture disabled." */
			snprintf(o->note, sizeof(o->note), "--redirect-dns: %s lists no nameserver "
				 "and --capture-all-dns is not set: DNS is not captured, as "
				 "istio-iptables does", o->resolv_conf);
			return 0;
		}
	}
	p->dns_capture = true;
	return 0;
}

static void policy_defaults(struct shunt_config *p, bool linkerd)
{
	memset(p, 0, sizeof(*p));
	p->source = strdup("pod-init");
	p->acceleration = CONFIG_ACCEL_OFF; /* never sent: the node's holds, or --acceleration's line */
	p->accel_queue_limit = 4u << 20;
	p->dns_port = 15053;        /* istio-agent's DNS listener */
	if (linkerd) {
		/* proxy-init: everything out but the ignored, everything in but the ignored */
		p->flavor = CONFIG_FLAVOR_LINKERD;
		p->out_include_cidrs.all = true;
		p->in_include_ports.all = true;
		return;
	}
	/* istio-iptables' defaults: -p 15001 -z 15006 -e 15008 -u 1337 -g = -u, and
	 * empty -i/-b: no outbound CIDR and no inbound capture until asked */
	p->outbound_port = 15001;
	p->inbound_port = 15006;
	p->tunnel_port = 15008;
	p->proxy_uid = 1337;
}

static int build_istio(struct seen *s, struct podinit_opts *o, char *err, size_t errlen)
{
	struct shunt_config *p = &o->policy;
	int r = 0;

	if (s->set[F_MODE] && *s->val[F_MODE] && strcmp(s->val[F_MODE], "REDIRECT"))
		return errf(err, errlen, "%s %s: only REDIRECT is supported (shunt steers inbound "
			    "connections with sk_lookup, without TPROXY)", s->name[F_MODE],
			    s->val[F_MODE]);
	if (s->set[F_ENVOY_PORT])
		r = r ? r : get_port_arg(s, F_ENVOY_PORT, &p->outbound_port, err, errlen);
	if (s->set[F_INBOUND_CAPTURE_PORT])
		r = r ? r : get_port_arg(s, F_INBOUND_CAPTURE_PORT, &p->inbound_port, err, errlen);
	if (s->set[F_TUNNEL_PORT])
		r = r ? r : get_port_arg(s, F_TUNNEL_PORT, &p->tunnel_port, err, errlen);
	if (s->set[F_PROXY_UID] && *s->val[F_PROXY_UID])
		r = r ? r : get_id_arg(s, F_PROXY_UID, &p->proxy_uid, err, errlen);
	/* -g defaults to -u */
	p->has_gid = true;
	p->proxy_gid = p->proxy_uid;
	if (s->set[F_PROXY_GID] && *s->val[F_PROXY_GID])
		r = r ? r : get_id_arg(s, F_PROXY_GID, &p->proxy_gid, err, errlen);
	if (s->set[F_INBOUND_PORTS])
		r = r ? r : port_list_arg(s, F_INBOUND_PORTS, true, &p->in_include_ports, err, errlen);
	if (s->set[F_LOCAL_EXCLUDE_PORTS])
		r = r ? r : port_list_arg(s, F_LOCAL_EXCLUDE_PORTS, false, &p->in_exclude_ports, err,
					  errlen);
	if (s->set[F_SERVICE_CIDR])
		r = r ? r : cidr_list_arg(s, F_SERVICE_CIDR, true, &p->out_include_cidrs, err, errlen);
	if (s->set[F_SERVICE_EXCLUDE_CIDR])
		r = r ? r : cidr_list_arg(s, F_SERVICE_EXCLUDE_CIDR, false, &p->out_exclude_cidrs, err,
					  errlen);
	if (s->set[F_OUTBOUND_PORTS])
		r = r ? r : port_list_arg(s, F_OUTBOUND_PORTS, false, &p->out_include_ports, err, errlen);
	if (s->set[F_LOCAL_OUTBOUND_PORTS_EXCLUDE])
		r = r ? r : port_list_arg(s, F_LOCAL_OUTBOUND_PORTS_EXCLUDE, false,
					  &p->out_exclude_ports, err, errlen);
	r = r ? r : build_dns(s, o, err, errlen);
	return r;
}

static int build_linkerd(struct seen *s, struct podinit_opts *o, char *err, size_t errlen)
{
	struct shunt_config *p = &o->policy;
	static const int required[] = { F_L_INCOMING, F_L_OUTGOING, F_PROXY_UID };
	int r = 0;

	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (!s->set[required[i]])
			return errf(err, errlen, "--%s is required with Linkerd proxy-init's flags",
				    flags[required[i]].lng);
	r = get_port_arg(s, F_L_INCOMING, &p->inbound_port, err, errlen);
	r = r ? r : get_port_arg(s, F_L_OUTGOING, &p->outbound_port, err, errlen);
	r = r ? r : get_id_arg(s, F_PROXY_UID, &p->proxy_uid, err, errlen);
	if (!r && s->set[F_PROXY_GID]) {
		p->has_gid = true;
		r = get_id_arg(s, F_PROXY_GID, &p->proxy_gid, err, errlen);
	}
	if (!r && s->set[F_L_PORTS_TO_REDIRECT]) {
		r = port_list_arg(s, F_L_PORTS_TO_REDIRECT, false, &p->in_include_ports, err, errlen);
		/* no port given: ALL ports are redirected */
		if (!r && !p->in_include_ports.n)
			p->in_include_ports.all = true;
	}
	if (!r && s->set[F_L_IN_IGNORE])
		r = port_list_arg(s, F_L_IN_IGNORE, false, &p->in_exclude_ports, err, errlen);
	if (!r && s->set[F_L_OUT_IGNORE])
		r = port_list_arg(s, F_L_OUT_IGNORE, false, &p->out_exclude_ports, err, errlen);
	if (!r && s->set[F_L_SUBNETS_IGNORE])
		/* proxy-init: "-A PROXY_INIT_REDIRECT -s SUBNET -j RETURN", sources of inbound */
		r = cidr_list_arg(s, F_L_SUBNETS_IGNORE, false, &p->in_exclude_src_cidrs, err, errlen);
	if (!r && p->in_include_ports.all && p->in_include_ports.n)
		r = errf(err, errlen, "--ports-to-redirect: mixed");
	return r;
}

int podinit_parse(int argc, char **argv, char *(*getenv_fn)(const char *), struct podinit_opts *o,
		  char *err, size_t errlen)
{
	struct seen *s = calloc(1, sizeof(*s));
	bool on = false;
	int r;

	memset(o, 0, sizeof(*o));
	if (!s)
		return errf(err, errlen, "out of memory");
	o->linkerd = is_linkerd_args(argc, argv);
	o->socket_path = PODINIT_SOCKET_DEFAULT;
	o->resolv_conf = "/etc/resolv.conf";
	o->timeout_s = 10;
	r = scan_args(argc, argv, o->linkerd, s, err, errlen);
	if (!r)
		scan_env(getenv_fn, o->linkerd, s);
	if (getenv_fn && getenv_fn("POD_NAMESPACE") && getenv_fn("POD_NAME"))
		snprintf(o->pod, sizeof(o->pod), "%s/%s", getenv_fn("POD_NAMESPACE"), getenv_fn("POD_NAME"));
	if (r)
		goto out;
	if (s->set[F_HELP]) {
		o->help = true;
		goto out;
	}
	if (s->set[F_ISTIO_LOG_JSON]) {
		bool b = true;

		if (s->val[F_ISTIO_LOG_JSON] && *s->val[F_ISTIO_LOG_JSON] &&
		    !parse_bool(s->val[F_ISTIO_LOG_JSON], &b)) {
			r = errf(err, errlen, "--log_as_json: '%s' is not true or false",
				 s->val[F_ISTIO_LOG_JSON]);
			goto out;
		}
		o->log_json = b;
	}
	/* refused flags, by name: never silently ignored */
	for (int i = 0; i < F_COUNT; i++) {
		bool b;

		if (!s->set[i] || !flags[i].refused)
			continue;
		if (flags[i].kind == K_BOOL) {
			if (!parse_bool(s->val[i], &b)) {
				r = errf(err, errlen, "%s: '%s' is not true or false", s->name[i],
					 s->val[i]);
				goto out;
			}
			if (!b)
				continue;
		} else if (!*s->val[i]) {
			continue;    /* an empty list asks for nothing */
		}
		r = errf(err, errlen, "%s is not supported: %s", s->name[i], flags[i].refused);
		goto out;
	}
	for (int i = 0; i < F_COUNT; i++) {
		if (i == F_ACCELERATION && s->set[i] && !strcmp(s->val[i], "proxy"))
			continue;   /* the one switch with a third value */
		if (s->set[i] && flags[i].kind == K_BOOL && !parse_bool(s->val[i], &on)) {
			r = errf(err, errlen, "%s: '%s' is not true or false", s->name[i], s->val[i]);
			goto out;
		}
	}
	if (s->set[F_DRY_RUN] && parse_bool(s->val[F_DRY_RUN], &on))
		o->dry_run = on;
	if (s->set[F_L_SIMULATE] && parse_bool(s->val[F_L_SIMULATE], &on))
		o->dry_run = on;
	if (s->set[F_SOCKET]) {
		if (s->val[F_SOCKET][0] != '/') {
			r = errf(err, errlen, "%s: '%s' is not an absolute path", s->name[F_SOCKET],
				 s->val[F_SOCKET]);
			goto out;
		}
		o->socket_path = s->val[F_SOCKET];
	}
	if (s->set[F_RESOLV_CONF])
		o->resolv_conf = s->val[F_RESOLV_CONF];
	if (s->set[F_TIMEOUT]) {
		unsigned long long t;

		if (config_parse_number(s->val[F_TIMEOUT], 3600, &t) || t < 1) {
			r = errf(err, errlen, "%s: '%s' is not a number of seconds (1..3600)",
				 s->name[F_TIMEOUT], s->val[F_TIMEOUT]);
			goto out;
		}
		o->timeout_s = (unsigned)t;
	}
	policy_defaults(&o->policy, o->linkerd);
	o->acceleration = -1;
	if (s->set[F_ACCELERATION] && !strcmp(s->val[F_ACCELERATION], "proxy"))
		o->acceleration = CONFIG_ACCEL_PROXY;
	else if (s->set[F_ACCELERATION] && parse_bool(s->val[F_ACCELERATION], &on))
		o->acceleration = on ? CONFIG_ACCEL_ALL : CONFIG_ACCEL_OFF;
	/* sent as its own line: config_policy_yaml() has no switch */
	r = o->linkerd ? build_linkerd(s, o, err, errlen) : build_istio(s, o, err, errlen);
	if (!r && o->policy.inbound_port == o->policy.outbound_port)
		r = errf(err, errlen, "the inbound port %u is also the outbound port",
			 o->policy.inbound_port);
	if (!r && o->policy.tunnel_port &&
	    (o->policy.tunnel_port == o->policy.outbound_port ||
	     o->policy.tunnel_port == o->policy.inbound_port))
		r = errf(err, errlen, "the tunnel port %u is also a proxy port", o->policy.tunnel_port);
	if (r)
		config_free(&o->policy);
out:
	free(s);
	return r;
}

void podinit_usage(FILE *f)
{
	fprintf(f,
"usage: shunt pod-init [istio-iptables flags | Linkerd proxy-init flags] [--socket PATH]\n"
"\n"
"Run in a pod's init container, inside the pod's network namespace, instead of istio-init\n"
"(or linkerd-init). Registers the pod with the node's `shunt run` over a Unix socket; the\n"
"daemon meshes the caller's own network namespace (found from the socket's peer) with the\n"
"policy these flags describe. Exits 0 once the pod is meshed fail-closed: outbound\n"
"connections go to the proxy's outbound port (refused while it does not listen, never\n"
"direct) and inbound ones are refused until the proxy listens. Otherwise exits 1 with one\n"
"line saying why; bad flags exit 2.\n"
"\n"
"istio-iptables flags (same names, defaults and meanings; also read from the environment\n"
"variable named after the long flag, e.g. ENVOY_PORT; a flag wins over its variable):\n"
"  -p, --envoy-port PORT                      outbound capture port (15001)\n"
"  -z, --inbound-capture-port PORT            inbound capture port (15006)\n"
"  -e, --inbound-tunnel-port PORT             never captured (15008)\n"
"  -u, --proxy-uid UID                        the proxy's traffic is not captured (1337)\n"
"  -g, --proxy-gid GID                        same, by group (default: the uid)\n"
"  -m, --istio-inbound-interception-mode M    REDIRECT only; TPROXY is refused\n"
"  -b, --istio-inbound-ports LIST             inbound ports captured, \"*\" = all, empty = none\n"
"  -d, --istio-local-exclude-ports LIST       inbound ports left alone (with \"*\")\n"
"  -i, --istio-service-cidr LIST              outbound CIDRs captured, \"*\" = all, empty = none\n"
"  -x, --istio-service-exclude-cidr LIST      outbound CIDRs left alone\n"
"  -q, --istio-outbound-ports LIST            outbound ports captured whatever the CIDR\n"
"  -o, --istio-local-outbound-ports-exclude LIST  outbound ports left alone\n"
"  --redirect-dns                             TCP and UDP port 53 to the agent on 15053, for\n"
"                                             the nameservers of /etc/resolv.conf\n"
"                                             ($ISTIO_META_DNS_CAPTURE)\n"
"  --capture-all-dns                          ... for any server\n"
"  -n, --dry-run                              print the policy, register nothing\n"
"  --log_as_json                              messages on stderr as JSON objects (time,\n"
"                                             level, msg), as shunt's --log-format json\n"
"  refused by name (exit 2): -c -k -t -r, --skip-rule-apply, --iptables-trace-logging,\n"
"    --network-namespace, --cni-mode, --host-nsenter-exec\n"
"\n"
"Linkerd proxy-init flags (any of them selects this set; mesh.flavor linkerd):\n"
"  --incoming-proxy-port PORT (required)      inbound capture port\n"
"  --outgoing-proxy-port PORT (required)      outbound capture port\n"
"  -u, --proxy-uid UID (required), -g, --proxy-gid GID\n"
"  -r, --ports-to-redirect LIST               inbound ports captured (default: all)\n"
"  --inbound-ports-to-ignore LIST             ports and ranges like 4000-4100\n"
"  --outbound-ports-to-ignore LIST\n"
"  --subnets-to-ignore LIST                   inbound from these sources left alone\n"
"  --simulate                                 print the policy, register nothing\n"
"  refused by name: --netns\n"
"\n"
"Accepted without effect, and why:\n");
	for (size_t i = 0; i < sizeof(no_ops) / sizeof(no_ops[0]); i++)
		fprintf(f, "  --%-28s %s\n", no_ops[i].lng, no_ops[i].why);
	fprintf(f,
"\n"
"shunt's own:\n"
"  --socket PATH      the daemon's socket ($SHUNT_SOCKET, default " PODINIT_SOCKET_DEFAULT ")\n"
"  --timeout SECONDS  how long to wait for the daemon (10)\n"
"  --resolv-conf PATH where --redirect-dns reads the pod's nameservers (/etc/resolv.conf)\n"
"  --acceleration[=false|proxy]  this pod's bytes take the sk_msg fast path (or not;\n"
"                     proxy: only its proxy's connections to another meshed pod of the\n"
"                     node); without it the node's acceleration holds, off by default\n"
"                     ($SHUNT_ACCELERATION; README: the fast path's known hazards)\n"
"  $POD_NAMESPACE, $POD_NAME (the downward API): sent with the policy, so that the node's\n"
"                     shunt dump|explain|trace --pod NAMESPACE/NAME find this pod\n");
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One line on stderr: "shunt pod-init: MSG", or with --log_as_json (istio-iptables' switch)
 * one JSON object (time, level, msg), as shunt's --log-format json. */
static void say(const struct podinit_opts *o, enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(const struct podinit_opts *o, enum log_level lvl, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (o->log_json) {
		log_json = true;
		log_event(lvl, LOG_F({ "component", "pod-init" }), "%s", msg);
	}
	else
		fprintf(stderr, "shunt pod-init: %s%s\n", lvl == LOG_WARN ? "warning: " : "", msg);
}

/* head + yaml + tail, yaml freed: the lines pod-init adds around the policy document. NULL
 * in (or out of memory) gives NULL. */
static char *yaml_wrap(char *yaml, const char *head, const char *tail)
{
	char *y;

	if (!yaml)
		return NULL;
	if (asprintf(&y, "%s%s%s", head, yaml, tail) < 0)
		y = NULL;
	free(yaml);
	return y;
}

int podinit_run(const struct podinit_opts *o)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = (time_t)o->timeout_s };
	char reply[1024], *yaml = config_policy_yaml(&o->policy);
	size_t got = 0;
	int fd = -1, err;

	/* the pod's own switch; without --acceleration the node's default holds */
	if (o->acceleration >= 0) {
		char line[64];

		snprintf(line, sizeof(line), "acceleration: %s\n", config_accel_name(o->acceleration));
		yaml = yaml_wrap(yaml, "", line);
	}
	if (!yaml) {
		say(o, LOG_ERR, "out of memory");
		return 1;
	}
	if (o->note[0])
		say(o, LOG_WARN, "%s", o->note);
	if (o->dry_run) {
		fputs(yaml, stdout);
		free(yaml);
		return 0;
	}
	if (o->pod[0] && !strchr(o->pod, '\n')) {
		/* the pod's name for the daemon's --pod NAMESPACE/NAME; a YAML comment */
		char line[sizeof(PODINIT_POD_LINE) + sizeof(o->pod) + 1];

		snprintf(line, sizeof(line), PODINIT_POD_LINE "%s\n", o->pod);
		yaml = yaml_wrap(yaml, line, "");
		if (!yaml) {
			say(o, LOG_ERR, "out of memory");
			return 1;
		}
	}
	if (strlen(o->socket_path) >= sizeof(sa.sun_path)) {
		say(o, LOG_ERR, "socket path too long: %s", o->socket_path);
		free(yaml);
		return 1;
	}
	strcpy(sa.sun_path, o->socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv))) {
		say(o, LOG_ERR, "socket: %s", strerror(errno));
		goto fail;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		say(o, LOG_ERR, "cannot reach shunt at %s: %s (is `shunt run` "
			"running on this node, with this socket mounted into the pod?); the pod is "
			"NOT meshed", o->socket_path, strerror(errno));
		goto fail;
	}
	err = write_all(fd, PODINIT_MAGIC, strlen(PODINIT_MAGIC));
	if (!err)
		err = write_all(fd, yaml, strlen(yaml));
	if (err || shutdown(fd, SHUT_WR)) {
		say(o, LOG_ERR, "cannot send the policy to %s: %s; the pod is NOT "
			"meshed", o->socket_path, strerror(err ? -err : errno));
		goto fail;
	}
	for (;;) {
		ssize_t r = read(fd, reply + got, sizeof(reply) - 1 - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			say(o, LOG_ERR, "no answer from shunt at %s: %s; the pod is "
				"NOT meshed", o->socket_path,
				errno == EAGAIN ? "timed out" : strerror(errno));
			goto fail;
		}
		if (r == 0 || (got += (size_t)r) == sizeof(reply) - 1)
			break;
	}
	reply[got] = '\0';
	reply[strcspn(reply, "\n")] = '\0';
	close(fd);
	free(yaml);
	if (!strncmp(reply, "ok", 2)) {
		printf("shunt pod-init: %s\n", reply[2] == ' ' ? reply + 3 : reply);
		return 0;
	}
	say(o, LOG_ERR, "%s; the pod is NOT meshed",
		got ? reply : "the daemon closed the connection without an answer");
	return 1;
fail:
	if (fd >= 0)
		close(fd);
	free(yaml);
	return 1;
}
