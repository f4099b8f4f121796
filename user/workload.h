/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Which network namespaces are meshed workloads: every netns on the node (named ones in
 * /run/netns and those of running processes), its cookie, whether the proxy listens on the
 * outbound port there, and its addresses; plus the explicit workloads of the config.
 */
#ifndef SHUNT_WORKLOAD_H
#define SHUNT_WORKLOAD_H

#include <stdbool.h>
#include <limits.h>
#include <sys/types.h>
#include "config.h"
#include "maps.h"

struct netns_seen {
	__u64 cookie;
	dev_t dev;
	ino_t ino;
	char path[PATH_MAX];    /* a file that opens it: /run/netns/X or /proc/PID/ns/net */
	__u64 inbound_sock_ino; /* inode of the proxy's inbound listener, 0 = none */
	bool proxy_listening;   /* a proxy-uid TCP socket listens on outbound_port */
	bool in_scope;          /* a process in it lives in the scope cgroup */
	struct shunt_ip *addrs; /* addresses assigned in it, loopback range left out */
	size_t n_addrs;
};

/* Which processes' namespaces shunt may mesh on its own (the scan of listening proxies):
 * those in the cgroup its programs are attached to, or below. A second shunt on another
 * cgroup must not take pods from the first. */
struct census_scope {
	bool whole_node;        /* attached at the cgroup2 root */
	__u64 cgroup_id;        /* the attach cgroup (its inode); 0 = unknown: scan nothing */
	char root[PATH_MAX];    /* the cgroup2 mount, to resolve /proc/PID/cgroup paths */
};

struct netns_census {
	struct netns_seen *v;
	size_t n;
};

/* Visit every netns reachable from /run/netns and /proc/PID/ns/net; mark those with a
 * process in scope. */
int workload_census(const struct shunt_config *conf, const struct census_scope *sc,
		    struct netns_census *out);
/* The scope of the shunt whose programs are attached to the cgroup with this id. */
int workload_scope(__u64 cgroup_id, struct census_scope *sc);
void workload_census_free(struct netns_census *c);

/* Explicit workloads of conf (with the slot bit) and, with auto_detect, the netns in scope
 * where the proxy listens. Bad netns paths are reported into errs as FILE:LINE:COL and fail the call
 * when strict (load, apply), or are skipped (run, where pods come and go). Also returns the
 * cookies of every live netns, to prune the ones that are gone. */
int workload_resolve(const struct shunt_config *conf, const struct netns_census *census,
		     __u32 slot, bool strict, struct config_errors *errs,
		     struct resolved_workload **out, size_t *n_out, __u64 **live, size_t *n_live);
void workload_resolved_free(struct resolved_workload *wl, size_t n);

/* What the census learns of one netns (cookie, addresses, listeners), from an open fd. */
int workload_visit(int nsfd, const struct shunt_config *conf, struct netns_seen *ns);
/* The cookie of the netns open at nsfd (entered and left again). */
int workload_netns_cookie(int nsfd, __u64 *cookie);
/* Does process pid live in the scope cgroup (or below)? */
bool workload_pid_in_scope(const struct census_scope *sc, pid_t pid);

/* A new fd for the proxy's inbound listener of ns, taken from the process that holds it
 * (pidfd_getfd); -errno when none is found. */
int workload_take_listener(const struct netns_seen *ns);

#endif
