/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Policy compilation: a validated struct shunt_config becomes the exact map entries of one
 * policy slot (include/shunt/abi.h). Pure: the maps module writes the result.
 */
#ifndef SHUNT_POLICY_H
#define SHUNT_POLICY_H

#include <linux/types.h>
#include "shunt/abi.h"
#include "config.h"

/* A whole 65536-port bitmap; the maps hold it in 512-port blocks (shunt_ports_v2). */
struct policy_ports {
	__u64 bits[65536 / 64];
};

struct shunt_policy {
	__u64 owner;                   /* SHUNT_OWNER_DEFAULT or a netns cookie */
	struct shunt_cfg cfg;
	struct policy_ports ports[SHUNT_PORT_LISTS];
	struct shunt_cidr_key *cidrs;  /* every CIDR entry of the slot: sorted, no duplicates */
	size_t n_cidrs;
};

/* The acceleration mode (enum config_accel) a compiled policy's SHUNT_CFG_* flags carry. */
static inline int policy_accel_mode(__u32 cfg_flags)
{
	if (!(cfg_flags & SHUNT_CFG_ACCELERATION))
		return CONFIG_ACCEL_OFF;
	return cfg_flags & SHUNT_CFG_ACCEL_PROXY ? CONFIG_ACCEL_PROXY : CONFIG_ACCEL_ALL;
}

/* Build the entries of owner's slot `slot` for generation `generation`. 0 or -ENOMEM. */
int policy_compile(const struct shunt_config *conf, __u64 owner, __u32 slot, __u32 generation,
		   struct shunt_policy *out);
void policy_free(struct shunt_policy *p);
/* qsort() order of CIDR keys: memcmp of the whole key. */
int policy_key_cmp(const void *a, const void *b);
/* Sort keys (memcmp order) and drop duplicates; returns the new count. */
size_t policy_sort_unique(struct shunt_cidr_key *keys, size_t n);

/* One CIDR as the LPM key of (owner, slot, list). */
struct shunt_cidr_key policy_cidr_key(__u64 owner, __u32 slot, __u32 list,
				      const struct config_cidr *c);

static inline int policy_port_listed(const struct policy_ports *bm, __u16 port)
{
	return (bm->bits[port >> 6] >> (port & 63)) & 1;
}

#endif
