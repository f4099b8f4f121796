// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * YAML route configuration -> struct shunt_config, with every problem reported as
 * "FILE:LINE:COL: message" (one line each, all of them, not just the first). Missing keys
 * take Istio's defaults; unknown keys, wrong types, bad ranges and bad CIDRs are errors.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include "config.h"
#include "log.h"
#include "ytree.h"

struct parse_ctx {
	const char *name;
	const struct ytree *tree;
	struct config_errors *errs;
	struct config_errors *warns;  /* accepted, but worth a word: printed by check */
	bool overlay;                 /* a workload's or pod-init's keys over the node's policy */
	bool untrusted;               /* pod-init's: no file paths */
	unsigned set;                 /* SET_* keys an overlay wrote */
	const struct ynode **wl_items;/* the workloads' mappings, for their policy pass */
};

#define SET_OUT_INCLUDE_CIDRS (1u << 0)
#define SET_OUT_EXCLUDE_CIDRS (1u << 1)

static void errors_vadd(struct config_errors *errs, const char *source, struct config_pos pos,
			const char *fmt, va_list ap)
{
	char msg[512], *line = NULL;
	char **grown;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* Line 0: about the file as a whole (cannot read it). */
	if ((pos.line ? asprintf(&line, "%s:%d:%d: %s", source, pos.line, pos.col, msg)
		      : asprintf(&line, "%s: %s", source, msg)) < 0)
		return;
	grown = realloc(errs->msgs, (errs->n + 1) * sizeof(*grown));
	if (!grown) {
		free(line);
		return;
	}
	errs->msgs = grown;
	errs->msgs[errs->n++] = line;
}

void config_error(struct config_errors *errs, const char *source, struct config_pos pos,
		  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errors_vadd(errs, source, pos, fmt, ap);
	va_end(ap);
}

static struct config_pos node_pos(const struct ynode *node)
{
	struct config_pos p = { 1, 1 };

	if (node) {
		p.line = node->line;
		p.col = node->col;
	}
	return p;
}

static void perr(struct parse_ctx *c, const struct ynode *node, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void perr(struct parse_ctx *c, const struct ynode *node, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errors_vadd(c->errs, c->name, node_pos(node), fmt, ap);
	va_end(ap);
}

static const char *scalar(const struct ynode *n)
{
	return n->value;
}

static const char *node_kind(const struct ynode *n)
{
	switch (n->type) {
	case YN_SCALAR:
		return "a scalar";
	case YN_SEQUENCE:
		return "a list";
	case YN_MAPPING:
		return "a mapping";
	default:
		return "nothing";
	}
}

static bool get_uint(struct parse_ctx *c, const struct ynode *n, const char *path,
		     unsigned long long min, unsigned long long max, unsigned long long *out)
{
	int r;

	if (n->type != YN_SCALAR || !n->plain) {
		perr(c, n, "'%s' must be an integer, got %s", path,
		     n->type == YN_SCALAR ? "a quoted string" : node_kind(n));
		return false;
	}
	r = config_parse_number(scalar(n), max, out);
	if (r == -1) {
		perr(c, n, "'%s' must be an integer, got '%s'", path, scalar(n));
		return false;
	}
	if (r == -2 || *out < min) {
		perr(c, n, "'%s' is %s, outside %llu..%llu", path, scalar(n), min, max);
		return false;
	}
	return true;
}

static bool get_port(struct parse_ctx *c, const struct ynode *n, const char *path, uint16_t *out)
{
	unsigned long long v;

	if (!get_uint(c, n, path, 1, 65535, &v))
		return false;
	*out = (uint16_t)v;
	return true;
}

/* YAML's booleans as the config takes them: true/True/TRUE, false/False/FALSE, plain. */
static bool scalar_bool(const struct ynode *n, bool *out)
{
	static const char *const t[] = { "true", "True", "TRUE" };
	static const char *const f[] = { "false", "False", "FALSE" };

	if (n->type != YN_SCALAR || !n->plain)
		return false;
	for (size_t i = 0; i < 3; i++) {
		if (!strcmp(scalar(n), t[i]) || !strcmp(scalar(n), f[i])) {
			*out = !strcmp(scalar(n), t[i]);
			return true;
		}
	}
	return false;
}

static void perr_not(struct parse_ctx *c, const struct ynode *n, const char *path, const char *what)
{
	perr(c, n, "'%s' must be %s, got %s%s%s", path, what,
	     n->type == YN_SCALAR ? "'" : node_kind(n),
	     n->type == YN_SCALAR ? scalar(n) : "",
	     n->type == YN_SCALAR ? "'" : "");
}

static bool get_bool(struct parse_ctx *c, const struct ynode *n, const char *path, bool *out)
{
	if (scalar_bool(n, out))
		return true;
	perr_not(c, n, path, "true or false");
	return false;
}

/* acceleration: true, false, or proxy (only connections between two proxies). */
static bool get_accel(struct parse_ctx *c, const struct ynode *n, const char *path, int *out)
{
	bool b;

	if (n->type == YN_SCALAR && n->plain && !strcmp(scalar(n), "proxy")) {
		*out = CONFIG_ACCEL_PROXY;
		return true;
	}
	if (scalar_bool(n, &b)) {
		*out = b ? CONFIG_ACCEL_ALL : CONFIG_ACCEL_OFF;
		return true;
	}
	perr_not(c, n, path, "true, false or proxy");
	return false;
}

static bool get_string(struct parse_ctx *c, const struct ynode *n, const char *path, char **out)
{
	if (n->type != YN_SCALAR || !*scalar(n)) {
		perr(c, n, "'%s' must be a non-empty string, got %s", path,
		     n->type == YN_SCALAR ? "an empty string" : node_kind(n));
		return false;
	}
	free(*out);
	*out = strdup(scalar(n));
	return *out != NULL;
}

static bool is_star(const struct ynode *n)
{
	return n->type == YN_SCALAR && !strcmp(scalar(n), "*");
}

static bool get_seq(struct parse_ctx *c, const struct ynode *n, const char *path)
{
	if (n->type == YN_SEQUENCE)
		return true;
	perr(c, n, "'%s' must be a list, got %s", path, node_kind(n));
	return false;
}

#define SEQ_FOREACH(c, n, item)                                                        \
	for (uint32_t i_ = 0; i_ < (n)->n && ((item) = ytree_kid((c)->tree, (n), i_), 1); i_++)

static void get_port_list(struct parse_ctx *c, const struct ynode *n, const char *path, bool allow_all,
			  struct config_port_list *out)
{
	const struct ynode *item;
	struct config_pos *first_pos;   /* where each port was first listed; line 0 = not yet */
	size_t cap;

	free(out->v);
	free(out->vpos);
	memset(out, 0, sizeof(*out));
	out->pos = node_pos(n);
	if (!get_seq(c, n, path))
		return;
	first_pos = calloc(65536, sizeof(*first_pos));
	cap = n->n ? n->n : 1;
	out->v = calloc(cap, sizeof(*out->v));
	out->vpos = calloc(cap, sizeof(*out->vpos));
	if (!out->v || !out->vpos || !first_pos) {
		free(first_pos);
		return;
	}
	SEQ_FOREACH(c, n, item) {
		unsigned lo = 0, hi = 0;
		int r;

		if (is_star(item)) {
			if (!allow_all)
				perr(c, item, "'%s' does not take \"*\"", path);
			else
				out->all = true;
			continue;
		}
		if (item->type != YN_SCALAR) {
			perr(c, item, "'%s' entries must be ports, got %s", path, node_kind(item));
			continue;
		}
		/* Ports may be quoted: Istio's annotations carry them as strings. */
		r = config_parse_port_range(scalar(item), &lo, &hi);
		if (r == -1) {
			perr(c, item, "'%s' entry '%s' is not a port number or range", path, scalar(item));
			continue;
		}
		if (r == -2) {
			perr(c, item, "'%s' entry %s is outside 1..65535", path, scalar(item));
			continue;
		}
		if (r == -3) {
			perr(c, item, "'%s' entry %s is a range that ends before it starts", path,
			     scalar(item));
			continue;
		}
		for (unsigned p = lo; p <= hi; p++) {
			/* Accepted, as istio-iptables does (dedupPorts); check says so. */
			if (first_pos[p].line) {
				config_error(c->warns, c->name, node_pos(item),
					     "warning: '%s' lists port %u twice (first at line %d); "
					     "counted once", path, p, first_pos[p].line);
				continue;
			}
			if (out->n == cap) {
				uint16_t *gv = realloc(out->v, (cap * 2) * sizeof(*gv));
				struct config_pos *gp;

				if (!gv)
					goto done;
				out->v = gv;
				gp = realloc(out->vpos, (cap * 2) * sizeof(*gp));
				if (!gp)
					goto done;
				out->vpos = gp;
				cap *= 2;
			}
			first_pos[p] = node_pos(item);
			out->vpos[out->n] = node_pos(item);
			out->v[out->n++] = (uint16_t)p;
		}
	}
done:
	free(first_pos);
	if (out->all && out->n)
		perr(c, n, "'%s' combines \"*\" with other entries", path);
}

static void get_cidr_list(struct parse_ctx *c, const struct ynode *n, const char *path, bool allow_all,
			  struct config_cidr_list *out)
{
	const struct ynode *item;
	size_t cap;

	free(out->v);
	memset(out, 0, sizeof(*out));
	out->pos = node_pos(n);
	if (!get_seq(c, n, path))
		return;
	cap = n->n;
	out->v = calloc(cap ? cap : 1, sizeof(*out->v));
	if (!out->v)
		return;
	SEQ_FOREACH(c, n, item) {
		struct config_cidr cidr;
		const char *why;

		if (is_star(item)) {
			if (!allow_all)
				perr(c, item, "'%s' does not take \"*\"", path);
			else
				out->all = true;
			continue;
		}
		if (item->type != YN_SCALAR) {
			perr(c, item, "'%s' entries must be CIDRs, got %s", path, node_kind(item));
			continue;
		}
		if (config_parse_cidr(scalar(item), &cidr, &why)) {
			char hint[80];

			config_cidr_hint(scalar(item), hint, sizeof(hint));
			if (hint[0] && !strcmp(why, "has host bits set"))
				perr(c, item, "'%s' entry '%s' %s (did you mean %s?)", path,
				     scalar(item), why, hint);
			else
				perr(c, item, "'%s' entry '%s' %s", path, scalar(item), why);
			continue;
		}
		cidr.pos = node_pos(item);
		out->v[out->n++] = cidr;
	}
	if (out->all && out->n)
		perr(c, n, "'%s' combines \"*\" with other entries", path);
}

/* Walk a mapping, handing each known key's value to handle(); unknown and repeated keys
 * are errors. keys[] ends with NULL; at most 32 keys. */
typedef void (*key_handler)(struct parse_ctx *c, int key, const struct ynode *val, void *arg);

static void walk_mapping(struct parse_ctx *c, const struct ynode *n, const char *path,
			 const char *const *keys, key_handler handle, void *arg)
{
	uint32_t seen = 0;

	if (n->type != YN_MAPPING) {
		perr(c, n, "'%s' must be a mapping, got %s", path, node_kind(n));
		return;
	}
	for (uint32_t i = 0; i + 1 < n->n; i += 2) {
		const struct ynode *k = ytree_kid(c->tree, n, i);
		const struct ynode *v = ytree_kid(c->tree, n, i + 1);
		int idx = -1;

		if (k->type != YN_SCALAR) {
			perr(c, k, "keys of '%s' must be strings, got %s", path, node_kind(k));
			continue;
		}
		for (int i = 0; keys[i]; i++) {
			if (!strcmp(keys[i], scalar(k))) {
				idx = i;
				break;
			}
		}
		if (idx < 0) {
			perr(c, k, "unknown key '%s' in '%s'", scalar(k), path);
			continue;
		}
		if (seen & (1u << idx)) {
			perr(c, k, "key '%s' appears twice in '%s'", scalar(k), path);
			continue;
		}
		seen |= 1u << idx;
		handle(c, idx, v, arg);
	}
}

static const char *const proxy_keys[] = { "uid", "gid", "outbound_port", "inbound_port",
					   "tunnel_port", "cgroup", "identity", NULL };

#define CGROUP2_MAGIC 0x63677270

/* proxy.cgroup: an absolute path to a cgroup v2 directory; its inode is the id the kernel's
 * bpf_get_current_cgroup_id() returns for processes in it. */
static void get_proxy_cgroup(struct parse_ctx *c, const struct ynode *v, struct shunt_config *cfg)
{
	struct statfs sfs;
	struct stat st;

	cfg->proxy_cgroup_pos = node_pos(v);
	if (c->untrusted) {
		perr(c, v, "'proxy.cgroup' names a path on the node: only the node's own config may");
		return;
	}
	if (!get_string(c, v, "proxy.cgroup", &cfg->proxy_cgroup))
		return;
	if (cfg->proxy_cgroup[0] != '/') {
		perr(c, v, "'proxy.cgroup' must be an absolute path, got '%s'", cfg->proxy_cgroup);
		return;
	}
	if (stat(cfg->proxy_cgroup, &st) || !S_ISDIR(st.st_mode)) {
		perr(c, v, "'proxy.cgroup' %s: %s", cfg->proxy_cgroup,
		     errno && !S_ISDIR(st.st_mode) ? strerror(errno) : "not a directory");
		return;
	}
	if (statfs(cfg->proxy_cgroup, &sfs) || (unsigned long)sfs.f_type != CGROUP2_MAGIC) {
		perr(c, v, "'proxy.cgroup' %s is not a cgroup v2 directory", cfg->proxy_cgroup);
		return;
	}
	cfg->proxy_cgroup_id = (uint64_t)st.st_ino;
}

static void on_proxy(struct parse_ctx *c, int key, const struct ynode *v, void *arg)
{
	struct shunt_config *cfg = arg;
	unsigned long long n;

	switch (key) {
	case 0:
		if (get_uint(c, v, "proxy.uid", 0, UINT32_MAX - 1, &n))
			cfg->proxy_uid = (uint32_t)n;
		break;
	case 1:
		/* gid: null (~) turns the gid rules off, as istio-iptables without -g. */
		if (v->type == YN_SCALAR && v->plain &&
		    (!strcmp(scalar(v), "~") || !strcmp(scalar(v), "null") || !*scalar(v))) {
			cfg->has_gid = false;
		} else if (get_uint(c, v, "proxy.gid", 0, UINT32_MAX - 1, &n)) {
			cfg->has_gid = true;
			cfg->proxy_gid = (uint32_t)n;
		}
		break;
	case 2:
		get_port(c, v, "proxy.outbound_port", &cfg->outbound_port);
		cfg->outbound_port_pos = node_pos(v);
		break;
	case 3:
		get_port(c, v, "proxy.inbound_port", &cfg->inbound_port);
		cfg->inbound_port_pos = node_pos(v);
		break;
	case 4:
		/* null: no tunnel port (Linkerd has none) */
		if (v->type == YN_SCALAR && v->plain &&
		    (!strcmp(scalar(v), "~") || !strcmp(scalar(v), "null") || !*scalar(v)))
			cfg->tunnel_port = 0;
		else
			get_port(c, v, "proxy.tunnel_port", &cfg->tunnel_port);
		cfg->tunnel_port_pos = node_pos(v);
		break;
	case 5:
		get_proxy_cgroup(c, v, cfg);
		break;
	case 6:
		cfg->proxy_identity_pos = node_pos(v);
		if (v->type == YN_SCALAR && !strcmp(scalar(v), "uid"))
			cfg->proxy_identity = CONFIG_IDENTITY_UID;
		else if (v->type == YN_SCALAR && !strcmp(scalar(v), "uid+cgroup"))
			cfg->proxy_identity = CONFIG_IDENTITY_UID_CGROUP;
		else if (v->type == YN_SCALAR && !strcmp(scalar(v), "cgroup"))
			cfg->proxy_identity = CONFIG_IDENTITY_CGROUP;
		else
			perr(c, v, "'proxy.identity' must be uid, uid+cgroup or cgroup");
		break;
	}
}

static const char *const outbound_keys[] = { "include_cidrs", "exclude_cidrs", "include_ports",
					      "exclude_ports", "include_cidrs_from",
					      "exclude_cidrs_from", NULL };

static void on_outbound(struct parse_ctx *c, int key, const struct ynode *v, void *arg)
{
	struct shunt_config *cfg = arg;

	if (c->untrusted && (key == 4 || key == 5)) {
		perr(c, v, "'outbound.%s' names a file on the node: only the node's own config may",
		     outbound_keys[key]);
		return;
	}
	switch (key) {
	case 0:
		get_cidr_list(c, v, "outbound.include_cidrs", true, &cfg->out_include_cidrs);
		c->set |= SET_OUT_INCLUDE_CIDRS;
		break;
	case 1:
		get_cidr_list(c, v, "outbound.exclude_cidrs", false, &cfg->out_exclude_cidrs);
		c->set |= SET_OUT_EXCLUDE_CIDRS;
		break;
	case 2:
		get_port_list(c, v, "outbound.include_ports", false, &cfg->out_include_ports);
		break;
	case 3:
		get_port_list(c, v, "outbound.exclude_ports", false, &cfg->out_exclude_ports);
		break;
	case 4:
		get_string(c, v, "outbound.include_cidrs_from", &cfg->out_include_from);
		cfg->out_include_from_pos = node_pos(v);
		break;
	case 5:
		get_string(c, v, "outbound.exclude_cidrs_from", &cfg->out_exclude_from);
		cfg->out_exclude_from_pos = node_pos(v);
		break;
	}
}

/* A CIDR list file: one address or CIDR a line, '#' starts a comment, blank lines allowed.
 * A relative path is taken from the configuration file's directory. Problems are reported
 * at the file's own line. Large route sets belong here: libyaml alone needs ~60 ms to read
 * 100k list entries, a line reader ~10. */
static void load_cidr_file(struct parse_ctx *c, const char *key, const char *file,
			   struct config_pos pos, struct config_cidr_list *list)
{
	char path[4096], *line = NULL;
	const char *slash = strrchr(c->name, '/');
	size_t cap = 0, lcap = list->n;
	FILE *f;
	int lineno = 0;

	if (file[0] != '/' && slash)
		snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - c->name), c->name, file);
	else
		snprintf(path, sizeof(path), "%s", file);
	f = fopen(path, "re");
	if (!f) {
		config_error(c->errs, c->name, pos, "'%s': cannot read %s: %s", key, path,
			     strerror(errno));
		return;
	}
	/* a file alone replaces the default "*" (pos.line 0 = the list was never written) */
	if (list->all && !list->pos.line)
		list->all = false;
	while (getline(&line, &cap, f) > 0) {
		char *s = line, *e, *hash = strchr(line, '#');
		struct config_cidr cidr;
		const char *why;

		lineno++;
		if (hash)
			*hash = '\0';
		while (*s == ' ' || *s == '\t')
			s++;
		for (e = s + strlen(s); e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' ||
						  e[-1] == '\t');)
			*--e = '\0';
		if (!*s)
			continue;
		if (config_parse_cidr(s, &cidr, &why)) {
			config_error(c->errs, path, (struct config_pos){ lineno, (int)(s - line) + 1 },
				     "'%s' entry '%s' %s", key, s, why);
			continue;
		}
		if (list->n == lcap) {
			struct config_cidr *g = realloc(list->v, (lcap = lcap ? lcap * 2 : 1024) * sizeof(*g));

			if (!g)
				break;
			list->v = g;
		}
		cidr.pos = (struct config_pos){ lineno, (int)(s - line) + 1 };
		list->v[list->n++] = cidr;
	}
	free(line);
	fclose(f);
	if (list->all && list->n)
		config_error(c->errs, c->name, pos, "'%s' adds entries to a list that is \"*\"", key);
}

static const char *const inbound_keys[] = { "include_ports", "exclude_ports",
					     "exclude_source_cidrs", NULL };

static void on_inbound(struct parse_ctx *c, int key, const struct ynode *v, void *arg)
{
	struct shunt_config *cfg = arg;

	if (key == 0)
		get_port_list(c, v, "inbound.include_ports", true, &cfg->in_include_ports);
	else if (key == 1)
		get_port_list(c, v, "inbound.exclude_ports", false, &cfg->in_exclude_ports);
	else
		get_cidr_list(c, v, "inbound.exclude_source_cidrs", false, &cfg->in_exclude_src_cidrs);
}

static const char *const dns_keys[] = { "capture", "port", "servers", "capture_all", NULL };

static void on_dns(struct parse_ctx *c, int key, const struct ynode *v, void *arg)
{
	struct shunt_config *cfg = arg;

	switch (key) {
	case 0:
		cfg->dns_capture_pos = node_pos(v);
		get_bool(c, v, "dns.capture", &cfg->dns_capture);
		break;
	case 1:
		cfg->dns_port_pos = node_pos(v);
		get_port(c, v, "dns.port", &cfg->dns_port);
		break;
	case 2:
		get_cidr_list(c, v, "dns.servers", false, &cfg->dns_servers);
		break;
	case 3:
		get_bool(c, v, "dns.capture_all", &cfg->dns_all);
		break;
	}
}

static const char *const mesh_keys[] = { "auto_detect", "flavor", NULL };

static void on_mesh(struct parse_ctx *c, int key, const struct ynode *v, void *arg)
{
	struct shunt_config *cfg = arg;

	if (key == 0) {
		if (c->overlay)
			perr(c, v, "'mesh.auto_detect' is node-wide: set it at the top level");
		else
			get_bool(c, v, "mesh.auto_detect", &cfg->auto_detect);
		return;
	}
	if (v->type == YN_SCALAR && !strcmp(scalar(v), "istio"))
		cfg->flavor = CONFIG_FLAVOR_ISTIO;
	else if (v->type == YN_SCALAR && !strcmp(scalar(v), "linkerd"))
		cfg->flavor = CONFIG_FLAVOR_LINKERD;
	else
		perr(c, v, "'mesh.flavor' must be istio or linkerd, got %s%s%s",
		     v->type == YN_SCALAR ? "'" : node_kind(v), v->type == YN_SCALAR ? scalar(v) : "",
		     v->type == YN_SCALAR ? "'" : "");
}

static void get_queue_limit(struct parse_ctx *c, const struct ynode *n, uint32_t *out);

/* Keys 3.. of a workload entry are policy keys (its own policy). */
static const char *const workload_keys[] = { "name", "netns", "acceleration", "proxy", "outbound",
					      "inbound", "mesh", "acceleration_queue_limit", "dns",
					      NULL };
#define WL_FIRST_POLICY_KEY 3

struct wl_parse {
	struct config_workload *wl;
	bool has_policy;
};

static void on_workload(struct parse_ctx *c, int key, const struct ynode *v, void *arg)
{
	struct wl_parse *wp = arg;
	struct config_workload *wl = wp->wl;

	if (key >= WL_FIRST_POLICY_KEY) {
		wp->has_policy = true;    /* read in the policy pass, over the node's policy */
		return;
	}
	switch (key) {
	case 0:
		get_string(c, v, "workloads[].name", &wl->name);
		break;
	case 1:
		wl->netns_pos = node_pos(v);
		if (get_string(c, v, "workloads[].netns", &wl->netns) && wl->netns[0] != '/')
			perr(c, v, "'workloads[].netns' must be an absolute path, got '%s'", wl->netns);
		break;
	case 2:
		/* on: the pod needs a policy of its own with the switch on (the node's may be
		 * off); off is the workload's no-accel flag over the node's policy */
		if (get_accel(c, v, "workloads[].acceleration", &wl->acceleration) &&
		    wl->acceleration != CONFIG_ACCEL_OFF)
			wp->has_policy = true;
		break;
	}
}

static void get_workloads(struct parse_ctx *c, const struct ynode *n, struct shunt_config *cfg)
{
	const struct ynode *item;
	size_t cap;

	if (!get_seq(c, n, "workloads"))
		return;
	cap = n->n;
	cfg->workloads = calloc(cap ? cap : 1, sizeof(*cfg->workloads));
	if (!cfg->workloads)
		return;
	c->wl_items = calloc(cap ? cap : 1, sizeof(*c->wl_items));
	if (!c->wl_items)
		return;
	SEQ_FOREACH(c, n, item) {
		struct config_workload *wl = &cfg->workloads[cfg->n_workloads++];
		struct wl_parse wp = { .wl = wl };

		wl->acceleration = -1;
		wl->pos = node_pos(item);
		walk_mapping(c, item, "workloads[]", workload_keys, on_workload, &wp);
		if (item->type != YN_MAPPING)
			continue;
		if (wp.has_policy)
			c->wl_items[cfg->n_workloads - 1] = item;
		if (!wl->name)
			perr(c, item, "workload needs a 'name'");
		if (!wl->netns)
			perr(c, item, "workload%s%s needs a 'netns'", wl->name ? " " : "",
			     wl->name ? wl->name : "");
	}
}

static const char *const top_keys[] = { "proxy", "outbound", "inbound", "acceleration", "mesh",
					 "workloads", "acceleration_queue_limit", "dns", NULL };

#define QUEUE_LIMIT_MIN (64u << 10)
#define QUEUE_LIMIT_MAX (1u << 30)

/* A byte count: 4194304, or "4MiB" / "512KiB". */
static void get_queue_limit(struct parse_ctx *c, const struct ynode *n, uint32_t *out)
{
	static const struct { const char *suffix; unsigned shift; } units[] = {
		{ "KiB", 10 }, { "MiB", 20 }, { "GiB", 30 }, { "", 0 },
	};
	const char *path = "acceleration_queue_limit";
	unsigned long long v;

	if (n->type != YN_SCALAR) {
		perr(c, n, "'%s' must be a size like 4MiB, got %s", path, node_kind(n));
		return;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		size_t len = strlen(scalar(n)), sl = strlen(units[i].suffix);
		char num[32];

		if (len <= sl || len - sl >= sizeof(num) || strcmp(scalar(n) + len - sl, units[i].suffix))
			continue;
		memcpy(num, scalar(n), len - sl);
		num[len - sl] = '\0';
		if (config_parse_number(num, QUEUE_LIMIT_MAX, &v))
			break;
		v <<= units[i].shift;
		if (v < QUEUE_LIMIT_MIN || v > QUEUE_LIMIT_MAX) {
			perr(c, n, "'%s' is %s, outside 64KiB..1GiB", path, scalar(n));
			return;
		}
		*out = (uint32_t)v;
		return;
	}
	perr(c, n, "'%s' must be a size like 4MiB or a byte count, got '%s'", path, scalar(n));
}

static void on_top(struct parse_ctx *c, int key, const struct ynode *v, void *arg)
{
	struct shunt_config *cfg = arg;

	switch (key) {
	case 0:
		walk_mapping(c, v, "proxy", proxy_keys, on_proxy, cfg);
		break;
	case 1:
		walk_mapping(c, v, "outbound", outbound_keys, on_outbound, cfg);
		break;
	case 2:
		walk_mapping(c, v, "inbound", inbound_keys, on_inbound, cfg);
		break;
	case 3:
		if (get_accel(c, v, "acceleration", &cfg->acceleration))
			cfg->acceleration_pos = node_pos(v);
		break;
	case 4:
		walk_mapping(c, v, "mesh", mesh_keys, on_mesh, cfg);
		break;
	case 5:
		get_workloads(c, v, cfg);
		break;
	case 6:
		get_queue_limit(c, v, &cfg->accel_queue_limit);
		break;
	case 7:
		walk_mapping(c, v, "dns", dns_keys, on_dns, cfg);
		break;
	}
}

/* A policy overlay (pod-init's document) has the top level's policy keys. */
static const char *const overlay_keys[] = { "proxy", "outbound", "inbound", "acceleration", "mesh",
					     "acceleration_queue_limit", "dns", NULL };

static void on_overlay(struct parse_ctx *c, int key, const struct ynode *v, void *arg)
{
	static const int top_idx[] = { 0, 1, 2, 3, 4, 6, 7 };

	on_top(c, top_idx[key], v, arg);
}

static void validate(struct parse_ctx *c, struct shunt_config *cfg);

static void list_reset(struct config_cidr_list *l, struct config_pos pos)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
	l->pos = pos;
}

/* out = base's policy with the policy keys of mapping n over it. A workload entry's other
 * keys (name, netns) and its problems were seen by the first pass: only policy keys here.
 * A key replaces the base's value whole (a list is not merged). */
static int overlay_policy(struct parse_ctx *c, const struct ynode *n, const struct shunt_config *base,
			  const char *source, bool workload_entry, struct shunt_config *out)
{
	size_t before = c->errs->n;

	if (config_policy_copy(out, base, source))
		return -ENOMEM;
	/* the base's files are already in its lists */
	free(out->out_include_from);
	free(out->out_exclude_from);
	out->out_include_from = out->out_exclude_from = NULL;
	c->overlay = true;
	c->set = 0;
	if (!workload_entry) {
		walk_mapping(c, n, "top level", overlay_keys, on_overlay, out);
	} else {
		static const int top_idx[] = { -1, -1, 3, 0, 1, 2, 4, 6, 7 };

		for (uint32_t i = 0; i + 1 < n->n; i += 2) {
			const struct ynode *k = ytree_kid(c->tree, n, i);
			const struct ynode *v = ytree_kid(c->tree, n, i + 1);

			for (int j = WL_FIRST_POLICY_KEY; k->type == YN_SCALAR && workload_keys[j]; j++)
				if (!strcmp(workload_keys[j], scalar(k)))
					on_top(c, top_idx[j], v, out);
		}
	}
	c->overlay = false;
	if (out->out_include_from) {
		if (!(c->set & SET_OUT_INCLUDE_CIDRS))
			list_reset(&out->out_include_cidrs, (struct config_pos){ 0, 0 });
		load_cidr_file(c, "outbound.include_cidrs_from", out->out_include_from,
			       out->out_include_from_pos, &out->out_include_cidrs);
	}
	if (out->out_exclude_from) {
		if (!(c->set & SET_OUT_EXCLUDE_CIDRS))
			list_reset(&out->out_exclude_cidrs, (struct config_pos){ 0, 0 });
		load_cidr_file(c, "outbound.exclude_cidrs_from", out->out_exclude_from,
			       out->out_exclude_from_pos, &out->out_exclude_cidrs);
	}
	if (c->errs->n == before)
		validate(c, out);
	return c->errs->n == before ? 0 : -EINVAL;
}

static int port_list_has(const struct config_port_list *l, uint16_t port, struct config_pos *pos)
{
	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i] == port) {
			if (pos)
				*pos = l->vpos[i];
			return 1;
		}
	}
	return 0;
}

/* acceleration: proxy knows the proxy's sockets by their owner, the proxy's uid. */
static void validate_accel(struct parse_ctx *c, const struct shunt_config *cfg, int mode,
			   struct config_pos pos)
{
	if (mode == CONFIG_ACCEL_PROXY && cfg->proxy_identity == CONFIG_IDENTITY_CGROUP)
		config_error(c->errs, c->name, pos,
			     "'acceleration: proxy' knows the proxy's sockets by the proxy's uid, "
			     "but 'proxy.identity: cgroup' says the uid does not identify it");
}

/* Checks across keys, once everything is read. */
static void validate(struct parse_ctx *c, struct shunt_config *cfg)
{
	struct config_pos pos;

	if (cfg->proxy_identity_pos.line && cfg->proxy_identity != CONFIG_IDENTITY_UID &&
	    !cfg->proxy_cgroup)
		config_error(c->errs, c->name, cfg->proxy_identity_pos,
			     "'proxy.identity' names the cgroup, but 'proxy.cgroup' is not set");
	/* a cgroup given without an identity: both must match */
	if (cfg->proxy_cgroup && !cfg->proxy_identity_pos.line)
		cfg->proxy_identity = CONFIG_IDENTITY_UID_CGROUP;
	validate_accel(c, cfg, cfg->acceleration, cfg->acceleration_pos);

	if (cfg->outbound_port == cfg->inbound_port)
		config_error(c->errs, c->name, cfg->inbound_port_pos,
			     "'proxy.inbound_port' %u collides with 'proxy.outbound_port'",
			     cfg->inbound_port);
	if (cfg->tunnel_port &&
	    (cfg->tunnel_port == cfg->outbound_port || cfg->tunnel_port == cfg->inbound_port))
		config_error(c->errs, c->name, cfg->tunnel_port_pos,
			     "'proxy.tunnel_port' %u collides with another proxy port",
			     cfg->tunnel_port);
	if (port_list_has(&cfg->in_exclude_ports, cfg->inbound_port, &pos))
		config_error(c->errs, c->name, pos,
			     "'inbound.exclude_ports' lists the proxy's inbound_port %u",
			     cfg->inbound_port);
	if (port_list_has(&cfg->out_include_ports, cfg->outbound_port, &pos))
		config_error(c->errs, c->name, pos,
			     "'outbound.include_ports' lists the proxy's outbound_port %u",
			     cfg->outbound_port);
	if (cfg->dns_capture) {
		struct config_pos p = cfg->dns_port_pos.line ? cfg->dns_port_pos : cfg->dns_capture_pos;

		if (cfg->dns_port == cfg->outbound_port || cfg->dns_port == cfg->inbound_port ||
		    (cfg->tunnel_port && cfg->dns_port == cfg->tunnel_port))
			config_error(c->errs, c->name, p,
				     "'dns.port' %u collides with another proxy port", cfg->dns_port);
		if (cfg->dns_port == 53)
			config_error(c->errs, c->name, p,
				     "'dns.port' cannot be 53: the agent's answers would be captured again");
		if (!cfg->dns_all && !cfg->dns_servers.n)
			config_error(c->errs, c->name, cfg->dns_capture_pos,
				     "'dns.capture' needs 'dns.servers' (the pod's nameservers) or "
				     "'dns.capture_all: true'");
		if (cfg->flavor == CONFIG_FLAVOR_LINKERD)
			config_error(c->errs, c->name, cfg->dns_capture_pos,
				     "'dns.capture' is Istio's; Linkerd's proxy-init has no DNS capture "
				     "(mesh.flavor is linkerd)");
	}
	for (size_t i = 0; i < cfg->n_workloads; i++) {
		for (size_t j = 0; j < i; j++) {
			const struct config_workload *a = &cfg->workloads[j], *b = &cfg->workloads[i];

			if (a->name && b->name && !strcmp(a->name, b->name))
				config_error(c->errs, c->name, b->pos,
					     "workload '%s' is listed twice (first at line %d)",
					     b->name, a->pos.line);
			else if (a->netns && b->netns && !strcmp(a->netns, b->netns))
				config_error(c->errs, c->name, b->netns_pos,
					     "netns '%s' is listed twice (first at line %d)",
					     b->netns, a->netns_pos.line);
		}
	}
}

static void set_defaults(struct shunt_config *cfg)
{
	cfg->proxy_uid = 1337;
	cfg->has_gid = true;
	cfg->proxy_gid = 1337;
	cfg->outbound_port = 15001;
	cfg->inbound_port = 15006;
	cfg->tunnel_port = 15008;
	cfg->out_include_cidrs.all = true;
	cfg->in_include_ports.all = true;
	cfg->in_exclude_ports.v = malloc(3 * sizeof(uint16_t));
	cfg->in_exclude_ports.vpos = calloc(3, sizeof(struct config_pos));
	if (cfg->in_exclude_ports.v && cfg->in_exclude_ports.vpos) {
		cfg->in_exclude_ports.v[0] = 15020;
		cfg->in_exclude_ports.v[1] = 15021;
		cfg->in_exclude_ports.v[2] = 15090;
		cfg->in_exclude_ports.n = 3;
	}
	cfg->acceleration = CONFIG_ACCEL_OFF; /* the fast path is opt-in (README: its known hazards) */
	cfg->accel_queue_limit = 4u << 20;
	cfg->dns_port = 15053;
	cfg->auto_detect = true;
}

/* YAML text -> tree; a syntax error becomes one FILE:LINE:COL message. */
static int tree_read(const char *name, const char *text, size_t len, struct ytree *tree,
		     struct config_errors *errs)
{
	struct ytree_error yerr;
	int err = ytree_parse(text, len, tree, &yerr);

	if (err == -EINVAL)
		config_error(errs, name, (struct config_pos){ yerr.line, yerr.col }, "%s", yerr.msg);
	return err;
}

int config_parse(const char *name, const char *text, size_t len, struct shunt_config *cfg,
		 struct config_errors *errs)
{
	struct parse_ctx c = { .name = name, .errs = errs, .warns = &cfg->warnings };
	struct ytree tree;
	size_t before = errs->n;
	int err;

	memset(cfg, 0, sizeof(*cfg));
	set_defaults(cfg);
	cfg->source = strdup(name);

	err = tree_read(name, text, len, &tree, errs);
	if (err)
		return err;
	c.tree = &tree;
	if (tree.empty) {
		config_error(errs, name, (struct config_pos){ 1, 1 },
			     "empty configuration (see 'shunt --help' for the keys)");
	} else {
		const struct ynode *root = &tree.nodes[0];

		walk_mapping(&c, root, "top level", top_keys, on_top, cfg);
		if (cfg->out_include_from)
			load_cidr_file(&c, "outbound.include_cidrs_from", cfg->out_include_from,
				       cfg->out_include_from_pos, &cfg->out_include_cidrs);
		if (cfg->out_exclude_from)
			load_cidr_file(&c, "outbound.exclude_cidrs_from", cfg->out_exclude_from,
				       cfg->out_exclude_from_pos, &cfg->out_exclude_cidrs);
		if (root->type == YN_MAPPING) {
			if (tree.second_doc)
				config_error(errs, name, (struct config_pos){ tree.line2, tree.col2 },
					     "a second YAML document; only one is read");
			if (errs->n == before)
				validate(&c, cfg);
		}
		/* Workloads with policy keys: their own policy, over the node's. */
		for (size_t i = 0; errs->n == before && c.wl_items && i < cfg->n_workloads; i++) {
			struct config_workload *wl = &cfg->workloads[i];

			if (!c.wl_items[i])
				continue;
			wl->policy = calloc(1, sizeof(*wl->policy));
			if (!wl->policy ||
			    overlay_policy(&c, c.wl_items[i], cfg, wl->name, true, wl->policy) == -ENOMEM) {
				config_error(errs, name, wl->pos, "out of memory");
				break;
			}
			if (wl->acceleration >= 0) {
				wl->policy->acceleration = wl->acceleration;
				validate_accel(&c, wl->policy, wl->acceleration, wl->pos);
			}
		}
	}
	free(c.wl_items);
	ytree_free(&tree);
	return errs->n == before ? 0 : -EINVAL;
}

int config_parse_overlay(const char *name, const char *text, size_t len,
			 const struct shunt_config *base, struct shunt_config *out,
			 struct config_errors *errs)
{
	struct config_errors warns = { 0 };
	struct parse_ctx c = { .name = name, .errs = errs, .warns = &warns, .untrusted = true };
	struct ytree tree;
	size_t before = errs->n;
	int err;

	memset(out, 0, sizeof(*out));
	err = tree_read(name, text, len, &tree, errs);
	if (err)
		return err;
	c.tree = &tree;
	if (tree.empty) {
		config_error(errs, name, (struct config_pos){ 1, 1 }, "empty policy");
	} else {
		err = overlay_policy(&c, &tree.nodes[0], base, name, false, out);
		if (err == -ENOMEM)
			config_error(errs, name, (struct config_pos){ 1, 1 }, "out of memory");
		if (tree.second_doc)
			config_error(errs, name, (struct config_pos){ tree.line2, tree.col2 },
				     "a second YAML document; only one is read");
	}
	ytree_free(&tree);
	config_errors_free(&out->warnings);
	out->warnings = warns;
	return errs->n == before ? 0 : -EINVAL;
}

static int port_list_copy(struct config_port_list *d, const struct config_port_list *s)
{
	*d = *s;
	d->v = calloc(s->n ? s->n : 1, sizeof(*d->v));
	d->vpos = calloc(s->n ? s->n : 1, sizeof(*d->vpos));
	if (!d->v || !d->vpos)
		return -ENOMEM;
	if (s->n)
		memcpy(d->v, s->v, s->n * sizeof(*d->v));
	if (s->vpos && s->n)
		memcpy(d->vpos, s->vpos, s->n * sizeof(*d->vpos));
	return 0;
}

static int cidr_list_copy(struct config_cidr_list *d, const struct config_cidr_list *s)
{
	*d = *s;
	d->v = calloc(s->n ? s->n : 1, sizeof(*d->v));
	if (!d->v)
		return -ENOMEM;
	if (s->n)
		memcpy(d->v, s->v, s->n * sizeof(*d->v));
	return 0;
}

int config_policy_copy(struct shunt_config *d, const struct shunt_config *s, const char *source)
{
	*d = *s;
	d->source = NULL;
	d->proxy_cgroup = NULL;
	d->out_include_from = d->out_exclude_from = NULL;
	d->workloads = NULL;
	d->n_workloads = 0;
	memset(&d->warnings, 0, sizeof(d->warnings));
	d->out_include_cidrs.v = d->out_exclude_cidrs.v = d->in_exclude_src_cidrs.v = NULL;
	d->dns_servers.v = NULL;
	d->out_include_ports.v = d->out_exclude_ports.v = NULL;
	d->in_include_ports.v = d->in_exclude_ports.v = NULL;
	d->out_include_ports.vpos = d->out_exclude_ports.vpos = NULL;
	d->in_include_ports.vpos = d->in_exclude_ports.vpos = NULL;
	if (!(d->source = strdup(source ? source : "")) ||
	    (s->proxy_cgroup && !(d->proxy_cgroup = strdup(s->proxy_cgroup))) ||
	    (s->out_include_from && !(d->out_include_from = strdup(s->out_include_from))) ||
	    (s->out_exclude_from && !(d->out_exclude_from = strdup(s->out_exclude_from))) ||
	    cidr_list_copy(&d->out_include_cidrs, &s->out_include_cidrs) ||
	    cidr_list_copy(&d->out_exclude_cidrs, &s->out_exclude_cidrs) ||
	    cidr_list_copy(&d->in_exclude_src_cidrs, &s->in_exclude_src_cidrs) ||
	    cidr_list_copy(&d->dns_servers, &s->dns_servers) ||
	    port_list_copy(&d->out_include_ports, &s->out_include_ports) ||
	    port_list_copy(&d->out_exclude_ports, &s->out_exclude_ports) ||
	    port_list_copy(&d->in_include_ports, &s->in_include_ports) ||
	    port_list_copy(&d->in_exclude_ports, &s->in_exclude_ports)) {
		config_free(d);
		return -ENOMEM;
	}
	return 0;
}

int config_read_file(const char *path, char **out, size_t *out_len, struct config_errors *errs)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int err;

	*out = NULL;
	if (!f) {
		err = -errno;
		config_error(errs, path, (struct config_pos){ 0, 0 }, "cannot read: %s",
			     strerror(-err));
		return err;
	}
	for (;;) {
		if (len + 4096 > cap) {
			char *nb = realloc(buf, cap = cap ? cap * 2 : 8192);

			if (!nb) {
				free(buf);
				fclose(f);
				return -ENOMEM;
			}
			buf = nb;
		}
		size_t r = fread(buf + len, 1, cap - len, f);
		len += r;
		if (r == 0)
			break;
	}
	err = ferror(f) ? -EIO : 0;
	fclose(f);
	if (err) {
		config_error(errs, path, (struct config_pos){ 0, 0 }, "cannot read: %s",
			     strerror(-err));
		free(buf);
		return err;
	}
	if (memchr(buf, '\0', len)) {
		config_error(errs, path, (struct config_pos){ 1, 1 }, "not a text file");
		free(buf);
		return -EINVAL;
	}
	*out = buf;
	*out_len = len;
	return 0;
}

int config_load_file(const char *path, struct shunt_config *cfg, struct config_errors *errs)
{
	char *buf;
	size_t len;
	int err;

	memset(cfg, 0, sizeof(*cfg));
	err = config_read_file(path, &buf, &len, errs);
	if (err)
		return err;
	err = config_parse(path, buf, len, cfg, errs);
	free(buf);
	return err;
}

int config_load_default(struct shunt_config *cfg, struct config_errors *errs)
{
	return config_parse(CONFIG_EMBEDDED_NAME, config_default_yaml, strlen(config_default_yaml),
			    cfg, errs);
}

static void port_list_free(struct config_port_list *l)
{
	free(l->v);
	free(l->vpos);
}

void config_free(struct shunt_config *cfg)
{
	free(cfg->source);
	free(cfg->proxy_cgroup);
	free(cfg->out_include_cidrs.v);
	free(cfg->out_exclude_cidrs.v);
	free(cfg->in_exclude_src_cidrs.v);
	free(cfg->dns_servers.v);
	free(cfg->out_include_from);
	free(cfg->out_exclude_from);
	port_list_free(&cfg->out_include_ports);
	port_list_free(&cfg->out_exclude_ports);
	port_list_free(&cfg->in_include_ports);
	port_list_free(&cfg->in_exclude_ports);
	for (size_t i = 0; i < cfg->n_workloads; i++) {
		free(cfg->workloads[i].name);
		free(cfg->workloads[i].netns);
		if (cfg->workloads[i].policy) {
			config_free(cfg->workloads[i].policy);
			free(cfg->workloads[i].policy);
		}
	}
	free(cfg->workloads);
	config_errors_free(&cfg->warnings);
	memset(cfg, 0, sizeof(*cfg));
}

void config_errors_free(struct config_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++)
		free(errs->msgs[i]);
	free(errs->msgs);
	errs->msgs = NULL;
	errs->n = 0;
}
