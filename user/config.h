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

struct config_workload {
	char *name;
	char *netns;           /* path of a network namespace file (/run/netns/X, /proc/PID/ns/net) */
	int acceleration;      /* -1 = inherit the global switch, else 0/1 */
	struct config_pos pos;
	struct config_pos netns_pos;
};

struct config_errors {
	char **msgs;           /* "FILE:LINE:COL: message" each */
	size_t n;
};

struct shunt_config {
	char *source;          /* file name, or CONFIG_EMBEDDED_NAME */
	uint32_t proxy_uid;
	bool has_gid;
	uint32_t proxy_gid;
	uint16_t outbound_port, inbound_port, tunnel_port;
	struct config_pos outbound_port_pos, inbound_port_pos, tunnel_port_pos;
	struct config_cidr_list out_include_cidrs, out_exclude_cidrs;
	/* *_cidrs_from: plain files of CIDRs, one a line, appended to the lists above */
	char *out_include_from, *out_exclude_from;
	struct config_pos out_include_from_pos, out_exclude_from_pos;
	struct config_port_list out_include_ports, out_exclude_ports;
	struct config_port_list in_include_ports, in_exclude_ports;
	bool acceleration;
	uint32_t accel_queue_limit;   /* bytes; acceleration_queue_limit */
	bool auto_detect;
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
/* Format a CIDR into buf (INET6_ADDRSTRLEN + 4 bytes is enough). */
const char *config_cidr_str(const struct config_cidr *c, char *buf, size_t len);

extern const char config_default_yaml[];

#endif
