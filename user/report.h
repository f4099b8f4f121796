/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* What shunt tells a person: status (attachments, policy, counters), /metrics, /readyz
 * (report.c) and dump (map contents, dump.c). */
#ifndef SHUNT_REPORT_H
#define SHUNT_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/types.h>
#include "shunt/abi.h"

int report_status(const char *pin_dir, bool json);
/* What `dump --pod/--addr/--port` keeps: rows about that pod, that address, that port. */
struct report_filter {
	bool pod, addr;
	const char *pod_arg;     /* --pod (maps_find_pod's forms); resolved to netns_cookie */
	__u64 netns_cookie;
	struct shunt_ip ip;
	__u16 port;              /* host order, 0 = any */
};

/* Every map decoded; f (NULL: everything) keeps the rows about one pod/address/port. */
int report_dump(const char *pin_dir, const struct report_filter *f);
/* Name of a verdict/counter index of shunt_stats_v2. */
const char *report_counter_name(unsigned idx);
/* An address as text; with its port (network order), bracketed for IPv6: [::1]:15001. */
const char *report_ip_str(const struct shunt_ip *ip, char *buf, size_t len);
const char *report_ipport_str(const struct shunt_ip *ip, __u16 port_n, char *buf, size_t len);
bool report_ip_eq(const struct shunt_ip *a, const struct shunt_ip *b);
/* Shared by status and dump. The pinned maps of a loaded shunt, its state and the live
 * slot's scalar policy (maps_close after). */
struct shunt_maps;
int report_open_live(const char *pin_dir, struct shunt_maps *m, struct shunt_state *st,
		     struct shunt_cfg *cfg);
/* The pods with a policy of their own, each with its live slot; *n_out of them (free()). */
struct own_policy {
	__u64 cookie;
	struct shunt_workload wl;
	struct shunt_state st;
	struct shunt_cfg cfg;
};
struct own_policy *report_own_policies(const struct shunt_maps *m, size_t *n_out);
/* Where a pod's own policy came from: "pod-init", "config" or "?". */
const char *report_policy_source(__u32 wl_flags);
/* Does some verdict or counter name start with prefix? */
bool report_counter_known_prefix(const char *prefix);

/* What shunt run counts itself, for /metrics (read with atomics: another thread writes). */
struct report_daemon_stats {
	const char *version;
	uint64_t reloads_ok, reloads_failed;
	uint64_t registrations_ok, registrations_failed;
	uint64_t cni_ok, cni_failed;     /* CNI requests served (ADD, DEL, CHECK) */
	int cni_plugin;                  /* run --cni-install: 1 waiting for it, 2 installed */
	const char *unsupported;         /* this node cannot run shunt: why (readyz says it) */
};
/* The Prometheus text exposition of a loaded shunt into f. 0, or -errno (nothing useful
 * written: the scrape should fail). */
int report_metrics(FILE *f, const char *pin_dir, const struct report_daemon_stats *ds);
/* 1 when shunt is loaded with this ABI, its connect programs attached and a policy in
 * force; why says what is missing (or "ready: ..."). */
int report_ready(const char *pin_dir, char *why, size_t len);

#endif
