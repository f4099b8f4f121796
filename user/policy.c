// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Config -> map entries of one policy slot: scalar cfg, port bitmaps, LPM keys. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "policy.h"

struct shunt_cidr_key policy_cidr_key(__u64 owner, __u32 slot, __u32 list,
				      const struct config_cidr *c)
{
	struct shunt_cidr_key k;

	memset(&k, 0, sizeof(k));
	k.owner = owner;
	k.prefixlen = SHUNT_CIDR_KEY_HDR_BITS + c->prefixlen;
	k.slot = (__u8)slot;
	k.list = (__u8)list;
	k.family = c->family == AF_INET ? SHUNT_AF_INET : SHUNT_AF_INET6;
	memcpy(k.addr, c->addr, c->family == AF_INET ? 4 : 16);
	return k;
}

static void ports_fill(struct policy_ports *bm, const struct config_port_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		bm->bits[l->v[i] >> 6] |= 1ull << (l->v[i] & 63);
}

/* Is this CIDR's address a loopback address? Istio then drops its "app -> lo -> direct"
 * shortcut: istio-iptables tests the prefix's address (HasLoopBackIP =
 * prefix.Addr().IsLoopback()), not whether the prefix contains loopback, so 0.0.0.0/0 and
 * ::/0 keep the shortcut and 127.0.0.0/8, 127.1.0.0/16, ::1/128 drop it. */
static int cidr_addr_is_loopback(const struct config_cidr *c)
{
	static const __u8 v6_lo[16] = { [15] = 1 };

	if (c->family == AF_INET)
		return c->addr[0] == 127;
	return !memcmp(c->addr, v6_lo, sizeof(v6_lo));
}

int policy_key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct shunt_cidr_key));
}

/* A list may name one CIDR twice, or spell it twice (2001:db8::/32, 2001:0db8::/32): one
 * map entry each. The diffing apply merges sorted, unique lists; a duplicate there would
 * make it delete a key that is still wanted. */
size_t policy_sort_unique(struct shunt_cidr_key *keys, size_t n)
{
	size_t out = 0;

	qsort(keys, n, sizeof(*keys), policy_key_cmp);
	for (size_t i = 0; i < n; i++)
		if (!out || policy_key_cmp(&keys[out - 1], &keys[i]))
			keys[out++] = keys[i];
	return out;
}

int policy_compile(const struct shunt_config *conf, __u64 owner, __u32 slot, __u32 generation,
		   struct shunt_policy *out)
{
	const struct config_cidr_list *lists[SHUNT_CIDR_LISTS] = {
		[SHUNT_CIDRS_OUT_INCLUDE] = &conf->out_include_cidrs,
		[SHUNT_CIDRS_OUT_EXCLUDE] = &conf->out_exclude_cidrs,
		[SHUNT_CIDRS_IN_EXCLUDE_SRC] = &conf->in_exclude_src_cidrs,
		[SHUNT_CIDRS_DNS_SERVERS] = &conf->dns_servers,
	};
	struct shunt_cfg *cfg = &out->cfg;
	size_t total = 0;

	memset(out, 0, sizeof(*out));
	out->owner = owner;
	cfg->abi_version = SHUNT_ABI_VERSION;
	cfg->generation = generation;
	cfg->proxy_uid = conf->proxy_uid;
	cfg->proxy_gid = conf->has_gid ? conf->proxy_gid : 0;
	cfg->outbound_port = conf->outbound_port;
	cfg->inbound_port = conf->inbound_port;
	cfg->tunnel_port = conf->tunnel_port;
	cfg->accel_queue_limit = conf->accel_queue_limit;
	if (conf->dns_capture) {
		cfg->flags |= SHUNT_CFG_DNS;
		cfg->dns_port = conf->dns_port;
		if (conf->dns_all)
			cfg->flags |= SHUNT_CFG_DNS_ALL;
	}
	if (conf->has_gid)
		cfg->flags |= SHUNT_CFG_HAS_GID;
	if (conf->out_include_cidrs.all)
		cfg->flags |= SHUNT_CFG_OUT_ALL_CIDRS;
	if (conf->in_include_ports.all)
		cfg->flags |= SHUNT_CFG_IN_ALL_PORTS;
	if (conf->acceleration != CONFIG_ACCEL_OFF)
		cfg->flags |= SHUNT_CFG_ACCELERATION;
	if (conf->acceleration == CONFIG_ACCEL_PROXY)
		cfg->flags |= SHUNT_CFG_ACCEL_PROXY;
	if (conf->auto_detect)
		cfg->flags |= SHUNT_CFG_AUTO_DETECT;
	if (conf->draining)
		cfg->flags |= SHUNT_CFG_DRAIN;
	if (conf->flavor == CONFIG_FLAVOR_LINKERD)
		cfg->flags |= SHUNT_CFG_LINKERD;
	if (conf->proxy_cgroup_id && conf->proxy_identity != CONFIG_IDENTITY_UID) {
		cfg->flags |= SHUNT_CFG_PROXY_CGROUP;
		cfg->proxy_cgroup_id = conf->proxy_cgroup_id;
		if (conf->proxy_identity == CONFIG_IDENTITY_CGROUP)
			cfg->flags |= SHUNT_CFG_CGROUP_ONLY;
	}
	/* An LPM lookup costs more than the rest of connect4: skip the ones that cannot hit. */
	if (conf->out_include_cidrs.n)
		cfg->flags |= SHUNT_CFG_OUT_INCLUDE_LIST;
	if (conf->out_exclude_cidrs.n)
		cfg->flags |= SHUNT_CFG_OUT_EXCLUDE_LIST;
	if (conf->in_exclude_src_cidrs.n)
		cfg->flags |= SHUNT_CFG_IN_EXCLUDE_SRC_LIST;
	for (size_t i = 0; i < conf->out_include_cidrs.n; i++)
		if (cidr_addr_is_loopback(&conf->out_include_cidrs.v[i]))
			cfg->flags |= SHUNT_CFG_LOOPBACK_INCLUDED;

	ports_fill(&out->ports[SHUNT_PORTS_OUT_INCLUDE], &conf->out_include_ports);
	ports_fill(&out->ports[SHUNT_PORTS_OUT_EXCLUDE], &conf->out_exclude_ports);
	ports_fill(&out->ports[SHUNT_PORTS_IN_INCLUDE], &conf->in_include_ports);
	ports_fill(&out->ports[SHUNT_PORTS_IN_EXCLUDE], &conf->in_exclude_ports);
	if (conf->out_include_ports.n)
		cfg->flags |= SHUNT_CFG_PORTS(SHUNT_PORTS_OUT_INCLUDE);
	if (conf->out_exclude_ports.n)
		cfg->flags |= SHUNT_CFG_PORTS(SHUNT_PORTS_OUT_EXCLUDE);
	if (conf->in_include_ports.n)
		cfg->flags |= SHUNT_CFG_PORTS(SHUNT_PORTS_IN_INCLUDE);
	if (conf->in_exclude_ports.n)
		cfg->flags |= SHUNT_CFG_PORTS(SHUNT_PORTS_IN_EXCLUDE);

	for (int l = 0; l < SHUNT_CIDR_LISTS; l++)
		total += lists[l]->n;
	out->cidrs = calloc(total ? total : 1, sizeof(*out->cidrs));
	if (!out->cidrs)
		return -ENOMEM;
	for (int l = 0; l < SHUNT_CIDR_LISTS; l++)
		for (size_t i = 0; i < lists[l]->n; i++)
			out->cidrs[out->n_cidrs++] = policy_cidr_key(owner, slot, (__u32)l,
									 &lists[l]->v[i]);
	out->n_cidrs = policy_sort_unique(out->cidrs, out->n_cidrs);
	return 0;
}

void policy_free(struct shunt_policy *p)
{
	free(p->cidrs);
	p->cidrs = NULL;
	p->n_cidrs = 0;
}
