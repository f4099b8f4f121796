/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * shunt trace: decisions as they happen, one line each, from the programs' ring buffers.
 * Tracing is off (one array lookup an event) unless a `shunt trace` holds a ring; see the
 * trace part of include/shunt/abi.h.
 */
#ifndef SHUNT_TRACE_H
#define SHUNT_TRACE_H

#include <stdbool.h>
#include <linux/types.h>
#include "maps.h"
#include "shunt/abi.h"

struct trace_opts {
	const char *pin_dir;
	const char *pod;          /* --pod NETNS, or NULL */
	bool addr;                /* --addr given */
	struct shunt_ip ip;
	__u16 port;               /* --port, 0 = any */
	const char *verdict;      /* --verdict NAME (a counter name, or a prefix of one) */
	bool json;
};

/* Runs until SIGINT/SIGTERM; gives its ring back on the way out. */
int trace_run(const struct trace_opts *o);

/* Rings held by processes that are gone (a tracer killed with -9) are given back. Returns
 * how many tracers are still live. Skips a round when the pin dir is locked. */
int trace_sweep(const struct shunt_maps *m, const char *pin_dir);

#endif
