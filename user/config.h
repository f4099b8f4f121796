/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The route configuration: YAML in, a validated struct shunt_config out, or a list of
 * "FILE:LINE:COL: what is wrong" messages. Pure: touches no kernel state.
 */
#ifndef SHUNT_CONFIG_H
#define SHUNT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_DEFAULT_PATH "/etc/shunt/shunt.yaml"
#define CONFIG_EMBEDDED_NAME "<embedded default>"

/* Where in the file a value came from (1-based), for error messages. */
struct config_pos {
	int line, col;
};

struct config_cidr {
	uint8_t family;        /* AF_INET / AF_INET6 */
	uint8_t prefixlen;
	uint8_t addr[16];      /* network order */
	struct config_pos pos;
};

struct config_cidr_list {
	bool all;              /* "*" */
	struct config_cidr *v;
	size_t n;
	struct config_pos pos;
};

struct config_port_list {
	bool all;              /* "*" */
	uint16_t *v;
	size_t n;
	struct config_pos pos;
	struct config_pos *vpos; /* position of each entry */
};

struct shunt_config;

struct config_workload {
	char *name;
	char *netns;           /* path of a network namespace file (/run/netns/X, /proc/PID/ns/net) */
	int acceleration;      /* -1 = inherit the node's mode, else enum config_accel */
	/* Its own policy: the node's with this entry's policy keys (and an acceleration opt-in)
	 * over it; NULL when it sets none (acceleration: false alone is a workload flag). */
	struct shunt_config *policy;
	struct config_pos pos;
	struct config_pos netns_pos;
};

struct config_errors {
	char **msgs;           /* "FILE:LINE:COL: message" each */
	size_t n;
};

/* mesh.flavor: whose iptables rules the outbound decision follows */
enum config_flavor {
	CONFIG_FLAVOR_ISTIO = 0,    /* istio-iptables (the default) */
	CONFIG_FLAVOR_LINKERD,      /* linkerd2-proxy-init */
};

/* proxy.identity: what makes a process the proxy */
enum config_identity {
	CONFIG_IDENTITY_UID = 0,    /* uid/gid, as istio-iptables */
	CONFIG_IDENTITY_UID_CGROUP, /* uid/gid, and running in proxy.cgroup */
	CONFIG_IDENTITY_CGROUP,     /* running in proxy.cgroup, whatever the uid */
};

/* acceleration: which sockets of a meshed pod the sk_msg fast path takes */
enum config_accel {
	CONFIG_ACCEL_OFF = 0,       /* false: none (the default) */
	CONFIG_ACCEL_PROXY,         /* proxy: a connection between two proxies of this node */
	CONFIG_ACCEL_ALL,           /* true: every connection to a peer on this node */
};

/* The config's spelling of a mode: "false", "proxy", "true". */
const char *config_accel_name(int mode);

struct shunt_config {
	char *source;          /* file name, or CONFIG_EMBEDDED_NAME; a workload's name */
	char *proxy_cgroup;    /* proxy.cgroup: the proxy container's cgroup v2 directory */
	uint64_t proxy_cgroup_id; /* its id (inode), resolved when read */
	int proxy_identity;    /* enum config_identity */
	struct config_pos proxy_cgroup_pos, proxy_identity_pos;
	uint32_t proxy_uid;
	bool has_gid;
	uint32_t proxy_gid;
	uint16_t outbound_port, inbound_port, tunnel_port; /* tunnel_port 0 = none */
	struct config_pos outbound_port_pos, inbound_port_pos, tunnel_port_pos;
	struct config_cidr_list out_include_cidrs, out_exclude_cidrs;
	/* *_cidrs_from: plain files of CIDRs, one a line, appended to the lists above */
	char *out_include_from, *out_exclude_from;
	struct config_pos out_include_from_pos, out_exclude_from_pos;
	struct config_port_list out_include_ports, out_exclude_ports;
	struct config_port_list in_include_ports, in_exclude_ports;
	struct config_cidr_list in_exclude_src_cidrs; /* inbound.exclude_source_cidrs */
	int acceleration;      /* enum config_accel */
	struct config_pos acceleration_pos;
	uint32_t accel_queue_limit;   /* bytes; acceleration_queue_limit */
	bool auto_detect;
	bool draining;         /* shunt uninstall, not from YAML: mesh no new pod, keep the others */
	int flavor;            /* enum config_flavor */
	/* dns: Istio's DNS capture (--redirect-dns): TCP and UDP port 53 to the proxy's agent */
	bool dns_capture;      /* dns.capture */
	bool dns_all;          /* dns.capture_all: every server, not only dns.servers */
	uint16_t dns_port;     /* dns.port (15053) */
	struct config_cidr_list dns_servers; /* dns.servers: the pod's nameservers */
	struct config_pos dns_capture_pos, dns_port_pos;
	struct config_workload *workloads;
	size_t n_workloads;
	struct config_errors warnings; /* accepted oddities (a port listed twice), for check */
};


/* Parse YAML text; name is used in messages. Returns 0, or -EINVAL with errs filled. */
int config_parse(const char *name, const char *text, size_t len, struct shunt_config *cfg,
		 struct config_errors *errs);
/* Read and parse a file. -EINVAL for a bad config, another -errno when it cannot be read
 * (then errs holds one message saying so). */
int config_load_file(const char *path, struct shunt_config *cfg, struct config_errors *errs);
/* A config file's bytes, checked to be text (config_parse them). 0 with *buf to free, or
 * -errno with one message in errs. */
int config_read_file(const char *path, char **buf, size_t *len, struct config_errors *errs);
/* A policy document (the keys a workload entry may override: proxy, outbound, inbound,
 * acceleration, acceleration_queue_limit, mesh.flavor) over a copy of base's policy, as
 * pod-init sends it. *_cidrs_from are refused: the sender is not trusted with the node's
 * files. Returns 0, or -EINVAL with errs filled; out is always initialised (config_free). */
int config_parse_overlay(const char *name, const char *text, size_t len,
			 const struct shunt_config *base, struct shunt_config *out,
			 struct config_errors *errs);
/* A deep copy of src's policy (not its workloads or warnings), named `source`. */
int config_policy_copy(struct shunt_config *dst, const struct shunt_config *src, const char *source);
/* The policy as a YAML document config_parse_overlay() reads back (every policy key). */
char *config_policy_yaml(const struct shunt_config *c);
/* The configuration shunt uses without --config and without CONFIG_DEFAULT_PATH. */
int config_load_default(struct shunt_config *cfg, struct config_errors *errs);
void config_free(struct shunt_config *cfg);
void config_errors_print(const struct config_errors *errs);
void config_errors_free(struct config_errors *errs);
/* Add one message to errs (printf format); used by later checks that need the system. */
void config_error(struct config_errors *errs, const char *source, struct config_pos pos,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Parse "a.b.c.d/n" or "x::y/n" (a bare address is a host route). Returns 0 or an error
 * sentence in *why. */
int config_parse_cidr(const char *s, struct config_cidr *out, const char **why);
/* "N" or "A-B" (inclusive, as Linkerd writes port ranges), digits only. 0, or -1 not a
 * port, -2 outside 1..65535, -3 a range that ends before it starts. */
int config_parse_port_range(const char *s, unsigned *lo, unsigned *hi);
/* Format a CIDR into buf (INET6_ADDRSTRLEN + 4 bytes is enough). */
const char *config_cidr_str(const struct config_cidr *c, char *buf, size_t len);
/* A plain or quoted string of digits only, as an unsigned number <= max: 0, -1 not a number,
 * -2 above max. */
int config_parse_number(const char *s, unsigned long long max, unsigned long long *out);
/* For a CIDR with host bits set, the network it likely means ("did you mean"); "" if none. */
void config_cidr_hint(const char *s, char *buf, size_t len);

extern const char config_default_yaml[];

#endif
