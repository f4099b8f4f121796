// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Policy compilation and the outbound decision, on the host. The config is compiled into
 * the exact map entries the kernel gets; lookups are emulated over those entries (LPM by
 * prefix, ports by bitmap), and the decision is the same shunt_decide_outbound() the BPF
 * program runs. Cases follow istio-iptables' ISTIO_OUTPUT chain (shared/ISTIO-IPTABLES.md).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <cmocka.h>
#include "config.h"
#include "policy.h"
#include "shunt_decide.h"

static struct shunt_config parse(const char *yaml)
{
	struct config_errors errs = { 0 };
	struct shunt_config c;
	int err = config_parse("t.yaml", yaml, strlen(yaml), &c, &errs);

	for (size_t i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.msgs[i]);
	assert_int_equal(err, 0);
	return c;
}

/* ---- compilation ---------------------------------------------------------------------- */

static void test_compile_entries(void **state)
{
	struct shunt_config c = parse("proxy: {uid: 7, gid: 8, outbound_port: 1001, inbound_port: 1006, tunnel_port: 1008}\n"
				      "outbound:\n"
				      "  include_cidrs: [\"10.0.0.0/8\", \"2001:db8::/32\"]\n"
				      "  exclude_cidrs: [\"10.1.2.3/32\"]\n"
				      "  include_ports: [443]\n"
				      "  exclude_ports: [22, 65535]\n"
				      "inbound: {include_ports: [80], exclude_ports: [81]}\n"
				      "acceleration: false\n");
	struct shunt_policy p;
	const struct shunt_cidr_key *k;

	(void)state;
	assert_int_equal(policy_compile(&c, 0, 1, 42, &p), 0);
	assert_int_equal(p.cfg.abi_version, SHUNT_ABI_VERSION);
	assert_int_equal(p.cfg.generation, 42);
	assert_int_equal(p.cfg.proxy_uid, 7);
	assert_int_equal(p.cfg.proxy_gid, 8);
	assert_int_equal(p.cfg.outbound_port, 1001);
	assert_int_equal(p.cfg.inbound_port, 1006);
	assert_int_equal(p.cfg.tunnel_port, 1008);
	assert_int_equal(p.cfg.flags, SHUNT_CFG_HAS_GID | SHUNT_CFG_AUTO_DETECT |
					      SHUNT_CFG_OUT_INCLUDE_LIST | SHUNT_CFG_OUT_EXCLUDE_LIST |
					      SHUNT_CFG_PORTS(SHUNT_PORTS_OUT_INCLUDE) |
					      SHUNT_CFG_PORTS(SHUNT_PORTS_OUT_EXCLUDE) |
					      SHUNT_CFG_PORTS(SHUNT_PORTS_IN_INCLUDE) |
					      SHUNT_CFG_PORTS(SHUNT_PORTS_IN_EXCLUDE));
	assert_true(policy_port_listed(&p.ports[SHUNT_PORTS_OUT_INCLUDE], 443));
	assert_false(policy_port_listed(&p.ports[SHUNT_PORTS_OUT_INCLUDE], 444));
	assert_true(policy_port_listed(&p.ports[SHUNT_PORTS_OUT_EXCLUDE], 22));
	assert_true(policy_port_listed(&p.ports[SHUNT_PORTS_OUT_EXCLUDE], 65535));
	assert_true(policy_port_listed(&p.ports[SHUNT_PORTS_IN_INCLUDE], 80));
	assert_true(policy_port_listed(&p.ports[SHUNT_PORTS_IN_EXCLUDE], 81));

	assert_int_equal(p.n_cidrs, 3);
	k = &p.cidrs[0];
	assert_int_equal(k->prefixlen, SHUNT_CIDR_KEY_HDR_BITS + 8);
	assert_int_equal(k->slot, 1);
	assert_int_equal(k->list, SHUNT_CIDRS_OUT_INCLUDE);
	assert_int_equal(k->family, SHUNT_AF_INET);
	assert_int_equal(k->pad0, 0);
	assert_int_equal(k->addr[0], 10);
	assert_int_equal(k->addr[4], 0);
	k = &p.cidrs[1];
	assert_int_equal(k->prefixlen, SHUNT_CIDR_KEY_HDR_BITS + 32);
	assert_int_equal(k->family, SHUNT_AF_INET6);
	assert_int_equal(k->addr[0], 0x20);
	assert_int_equal(k->addr[1], 0x01);
	assert_int_equal(k->addr[2], 0x0d);
	assert_int_equal(k->addr[3], 0xb8);
	k = &p.cidrs[2];
	assert_int_equal(k->prefixlen, SHUNT_CIDR_KEY_HDR_BITS + 32);
	assert_int_equal(k->list, SHUNT_CIDRS_OUT_EXCLUDE);
	assert_memory_equal(k->addr, "\x0a\x01\x02\x03", 4);
	policy_free(&p);
	config_free(&c);
}

static void test_compile_flags(void **state)
{
	struct shunt_config c = parse("proxy: {gid: ~}\noutbound: {include_cidrs: [\"0.0.0.0/0\"]}\n"
				      "inbound: {include_ports: [\"*\"]}\nmesh: {auto_detect: false}\n"
				      "acceleration: true\n");
	struct shunt_policy p;

	(void)state;
	assert_int_equal(policy_compile(&c, 0, 0, 1, &p), 0);
	/* 0.0.0.0/0 contains loopback, but its address is not one: Istio keeps the shortcut */
	assert_int_equal(p.cfg.flags, SHUNT_CFG_IN_ALL_PORTS | SHUNT_CFG_ACCELERATION |
					      SHUNT_CFG_OUT_INCLUDE_LIST |
					      SHUNT_CFG_PORTS(SHUNT_PORTS_IN_EXCLUDE));
	policy_free(&p);
	config_free(&c);

	c = parse("acceleration: proxy\n");
	assert_int_equal(policy_compile(&c, 0, 0, 1, &p), 0);
	assert_int_equal(p.cfg.flags & (SHUNT_CFG_ACCELERATION | SHUNT_CFG_ACCEL_PROXY),
			 SHUNT_CFG_ACCELERATION | SHUNT_CFG_ACCEL_PROXY);
	assert_int_equal(policy_accel_mode(p.cfg.flags), CONFIG_ACCEL_PROXY);
	policy_free(&p);
	config_free(&c);

	c = parse("outbound: {include_cidrs: [\"10.0.0.0/8\", \"::1/128\"]}\n");
	assert_int_equal(policy_compile(&c, 0, 0, 1, &p), 0);
	assert_true(p.cfg.flags & SHUNT_CFG_LOOPBACK_INCLUDED);
	policy_free(&p);
	config_free(&c);

	c = parse("outbound: {include_cidrs: [\"10.0.0.0/8\", \"128.0.0.0/1\"]}\n");
	assert_int_equal(policy_compile(&c, 0, 0, 1, &p), 0);
	assert_false(p.cfg.flags & SHUNT_CFG_LOOPBACK_INCLUDED);
	policy_free(&p);
	config_free(&c);

	c = parse("outbound: {include_cidrs: [\"64.0.0.0/2\"]}\n"); /* 64..127: no loopback address */
	assert_int_equal(policy_compile(&c, 0, 0, 1, &p), 0);
	assert_false(p.cfg.flags & SHUNT_CFG_LOOPBACK_INCLUDED);
	policy_free(&p);
	config_free(&c);

	c = parse("outbound: {include_cidrs: [\"::/0\", \"127.1.0.0/16\"]}\n");
	assert_int_equal(policy_compile(&c, 0, 0, 1, &p), 0);
	assert_true(p.cfg.flags & SHUNT_CFG_LOOPBACK_INCLUDED);
	policy_free(&p);
	config_free(&c);

	c = parse("outbound: {include_cidrs: [\"::/0\"]}\n");
	assert_int_equal(policy_compile(&c, 0, 0, 1, &p), 0);
	assert_false(p.cfg.flags & SHUNT_CFG_LOOPBACK_INCLUDED);
	policy_free(&p);
	config_free(&c);
}

/* ---- the decision over emulated lookups ------------------------------------------------ */

struct conn {
	__u32 uid, gid;
	const char *dst;       /* address */
	__u16 port;
	int src_passthrough;   /* bound to 127.0.0.6 */
};

static const char *const pod_ips[] = { "198.18.0.10", "2001:2::10" };

static int prefix_match(const __u8 *a, const __u8 *b, unsigned bits)
{
	for (unsigned i = 0; i < bits; i++) {
		__u8 m = (__u8)(0x80 >> (i % 8));

		if ((a[i / 8] & m) != (b[i / 8] & m))
			return 0;
	}
	return 1;
}

static int emu_cidr(const struct shunt_policy *p, __u32 list, __u8 family, const __u8 *addr)
{
	for (size_t i = 0; i < p->n_cidrs; i++) {
		const struct shunt_cidr_key *k = &p->cidrs[i];

		if (k->list == list && k->family == family &&
		    prefix_match(k->addr, addr, k->prefixlen - SHUNT_CIDR_KEY_HDR_BITS))
			return 1;
	}
	return 0;
}

static enum shunt_verdict decide_proto(const char *yaml, struct conn cn, int udp)
{
	struct shunt_config c = parse(yaml);
	struct shunt_out_facts f = { 0 };
	struct shunt_policy p;
	__u8 addr[16] = { 0 }, family;
	enum shunt_verdict v;

	assert_int_equal(policy_compile(&c, 0, 0, 1, &p), 0);
	if (inet_pton(AF_INET, cn.dst, addr) == 1) {
		family = SHUNT_AF_INET;
		f.dst_is_localhost = !memcmp(addr, "\x7f\0\0\x01", 4);
		f.dst_on_lo = addr[0] == 127;
	} else {
		assert_int_equal(inet_pton(AF_INET6, cn.dst, addr), 1);
		family = SHUNT_AF_INET6;
		f.dst_is_localhost = !memcmp(addr, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16);
		f.dst_on_lo = f.dst_is_localhost;
	}
	for (size_t i = 0; i < 2; i++)
		f.dst_on_lo |= !strcmp(cn.dst, pod_ips[i]);
	f.dport = cn.port;
	f.is_proxy_uid = cn.uid == p.cfg.proxy_uid;
	f.is_proxy_gid = (p.cfg.flags & SHUNT_CFG_HAS_GID) && cn.gid == p.cfg.proxy_gid;
	f.src_is_passthrough = (__u8)cn.src_passthrough;
	f.port_excluded = (__u8)policy_port_listed(&p.ports[SHUNT_PORTS_OUT_EXCLUDE], cn.port);
	f.port_included = (__u8)policy_port_listed(&p.ports[SHUNT_PORTS_OUT_INCLUDE], cn.port);
	/* as connect4 does: a list the flags call empty is not looked up */
	f.cidr_excluded = (p.cfg.flags & SHUNT_CFG_OUT_EXCLUDE_LIST) &&
			  emu_cidr(&p, SHUNT_CIDRS_OUT_EXCLUDE, family, addr);
	f.cidr_included = (p.cfg.flags & SHUNT_CFG_OUT_INCLUDE_LIST) &&
			  emu_cidr(&p, SHUNT_CIDRS_OUT_INCLUDE, family, addr);
	f.is_udp = (__u8)udp;
	f.dns = cn.port == 53 && (p.cfg.flags & SHUNT_CFG_DNS) &&
		((p.cfg.flags & SHUNT_CFG_DNS_ALL) ||
		 emu_cidr(&p, SHUNT_CIDRS_DNS_SERVERS, family, addr));
	v = shunt_decide_outbound(&p.cfg, &f);
	policy_free(&p);
	config_free(&c);
	return v;
}

static enum shunt_verdict decide(const char *yaml, struct conn cn)
{
	return decide_proto(yaml, cn, 0);
}

#define ISTIO "proxy: {uid: 1337, gid: 1337}\n"
#define APP(dst, port)   ((struct conn){ 1000, 1000, dst, port, 0 })
#define PROXY(dst, port) ((struct conn){ 1337, 1337, dst, port, 0 })

static void test_istio_cases(void **state)
{
	(void)state;
	/* 1. app -> any remote address: to 15001 */
	assert_int_equal(decide(ISTIO, APP("203.0.113.9", 80)), SHUNT_V_INCLUDE_CIDR);
	assert_int_equal(decide(ISTIO, APP("2001:db8::9", 80)), SHUNT_V_INCLUDE_CIDR);
	/* 2. app -> 127.0.0.1 or anything on lo: direct */
	assert_int_equal(decide(ISTIO, APP("127.0.0.1", 80)), SHUNT_V_APP_LOOPBACK);
	assert_int_equal(decide(ISTIO, APP("127.0.0.53", 53)), SHUNT_V_APP_LOOPBACK);
	assert_int_equal(decide(ISTIO, APP("::1", 80)), SHUNT_V_APP_LOOPBACK);
	assert_int_equal(decide(ISTIO, APP("198.18.0.10", 8080)), SHUNT_V_APP_LOOPBACK);
	/* 3. proxy -> anything not on lo: direct */
	assert_int_equal(decide(ISTIO, PROXY("203.0.113.9", 80)), SHUNT_V_PROXY_OWNER);
	/* 4. proxy -> own pod IP, port != 15008: to 15006; 15008 and 127.0.0.1 direct */
	assert_int_equal(decide(ISTIO, PROXY("198.18.0.10", 8080)), SHUNT_V_PROXY_TO_SELF);
	assert_int_equal(decide(ISTIO, PROXY("2001:2::10", 8080)), SHUNT_V_PROXY_TO_SELF);
	assert_int_equal(decide(ISTIO, PROXY("198.18.0.10", 15008)), SHUNT_V_PROXY_OWNER);
	assert_int_equal(decide(ISTIO, PROXY("127.0.0.1", 8080)), SHUNT_V_PROXY_OWNER);
	assert_int_equal(decide(ISTIO, PROXY("127.0.0.2", 8080)), SHUNT_V_PROXY_TO_SELF);
	/* 5. inbound passthrough from 127.0.0.6 on lo: direct */
	assert_int_equal(decide(ISTIO, ((struct conn){ 1337, 1337, "198.18.0.10", 8080, 1 })),
			 SHUNT_V_PASSTHROUGH_SRC);
	/* 127.0.0.6 only counts on lo */
	assert_int_equal(decide(ISTIO, ((struct conn){ 1000, 1000, "203.0.113.9", 80, 1 })),
			 SHUNT_V_INCLUDE_CIDR);
}

static void test_precedence(void **state)
{
	const char *cfg = ISTIO "outbound:\n"
			  "  include_cidrs: [\"10.0.0.0/8\", \"10.1.0.0/16\"]\n"
			  "  exclude_cidrs: [\"10.0.0.0/9\"]\n"
			  "  include_ports: [8443]\n"
			  "  exclude_ports: [8443, 22]\n";
	const char *cfg2 = ISTIO "outbound:\n"
			   "  include_cidrs: [\"10.0.0.0/8\"]\n"
			   "  exclude_cidrs: [\"10.0.0.0/9\"]\n"
			   "  include_ports: [9443]\n";

	(void)state;
	/* exclude port beats everything, even the proxy-to-self rule */
	assert_int_equal(decide(cfg, APP("10.200.0.1", 22)), SHUNT_V_EXCLUDE_PORT);
	assert_int_equal(decide(cfg, APP("10.200.0.1", 8443)), SHUNT_V_EXCLUDE_PORT);
	assert_int_equal(decide(cfg, PROXY("198.18.0.10", 22)), SHUNT_V_EXCLUDE_PORT);
	/* exclude CIDR beats include port (istio-iptables: exclusions before inclusions) */
	assert_int_equal(decide(cfg2, APP("10.1.0.1", 9443)), SHUNT_V_EXCLUDE_CIDR);
	/* include port beats "not in an include CIDR" */
	assert_int_equal(decide(cfg2, APP("10.200.0.1", 9443)), SHUNT_V_INCLUDE_PORT);
	/* include port is captured whatever the destination */
	assert_int_equal(decide(cfg2, APP("192.0.2.1", 9443)), SHUNT_V_INCLUDE_PORT);
	/* exclude CIDR beats include CIDR, even a more specific include (10.1/16 in 10.0/9) */
	assert_int_equal(decide(cfg, APP("10.1.0.1", 80)), SHUNT_V_EXCLUDE_CIDR);
	assert_int_equal(decide(cfg, APP("10.200.0.1", 80)), SHUNT_V_INCLUDE_CIDR);
	/* outside every include: direct */
	assert_int_equal(decide(cfg, APP("192.0.2.1", 80)), SHUNT_V_NOT_INCLUDED);
	/* the proxy's include ports do not loop it back */
	assert_int_equal(decide(cfg2, PROXY("192.0.2.1", 9443)), SHUNT_V_PROXY_OWNER);
	/* [] = no outbound capture */
	assert_int_equal(decide(ISTIO "outbound: {include_cidrs: []}\n", APP("192.0.2.1", 80)),
			 SHUNT_V_NOT_INCLUDED);
	/* verdict -> port */
	{
		struct shunt_cfg c = { .outbound_port = 15001, .inbound_port = 15006 };

		assert_int_equal(shunt_verdict_port(&c, SHUNT_V_INCLUDE_CIDR), 15001);
		assert_int_equal(shunt_verdict_port(&c, SHUNT_V_INCLUDE_PORT), 15001);
		assert_int_equal(shunt_verdict_port(&c, SHUNT_V_PROXY_TO_SELF), 15006);
		assert_int_equal(shunt_verdict_port(&c, SHUNT_V_EXCLUDE_CIDR), 0);
		assert_int_equal(shunt_verdict_port(&c, SHUNT_V_APP_LOOPBACK), 0);
	}
}

/* Istio's --redirect-dns (SetupDNSRedir), both protocols, rule for rule. */
static void test_dns(void **state)
{
	const char *servers = ISTIO "dns: {capture: true, servers: [\"198.18.0.53\", \"127.0.0.53\"]}\n";
	const char *all = ISTIO "dns: {capture: true, capture_all: true}\n";
	const char *excl = ISTIO "dns: {capture: true, capture_all: true}\n"
			   "outbound: {exclude_ports: [53]}\n";
	struct conn gid_only = { 4000, 1337, "198.18.0.10", 53, 0 };

	(void)state;
	for (int udp = 0; udp <= 1; udp++) {
		/* the app's query to a listed server, and to any with capture_all */
		assert_int_equal(decide_proto(servers, APP("198.18.0.53", 53), udp), SHUNT_V_DNS);
		assert_int_equal(decide_proto(servers, APP("127.0.0.53", 53), udp), SHUNT_V_DNS);
		assert_int_equal(decide_proto(all, APP("192.0.2.1", 53), udp), SHUNT_V_DNS);
		assert_int_equal(decide_proto(all, APP("2001:db8::1", 53), udp), SHUNT_V_DNS);
		/* the proxy's own queries go out */
		assert_int_equal(decide_proto(all, PROXY("192.0.2.1", 53), udp), SHUNT_V_PROXY_OWNER);
		/* an exclude port applies to UDP too */
		assert_int_equal(decide_proto(excl, APP("192.0.2.1", 53), udp), SHUNT_V_EXCLUDE_PORT);
	}
	/* a server not listed: TCP follows the other rules, UDP is left alone */
	assert_int_equal(decide_proto(servers, APP("192.0.2.1", 53), 0), SHUNT_V_INCLUDE_CIDR);
	assert_int_equal(decide_proto(servers, APP("192.0.2.1", 53), 1), SHUNT_V_NOT_TCP);
	/* proxy -> own pod IP:53 is not sent to the inbound port by the uid rule ... */
	assert_int_equal(decide_proto(all, PROXY("198.18.0.10", 53), 0), SHUNT_V_PROXY_OWNER);
	/* ... but the gid rule has no such exception (run.go writes it for the uid only) */
	assert_int_equal(decide_proto(all, gid_only, 0), SHUNT_V_PROXY_TO_SELF);
	/* and other ports still are */
	assert_int_equal(decide_proto(all, PROXY("198.18.0.10", 8080), 0), SHUNT_V_PROXY_TO_SELF);
	/* the app's lo traffic: port 53 is captured, others stay direct */
	assert_int_equal(decide_proto(all, APP("198.18.0.10", 53), 0), SHUNT_V_DNS);
	assert_int_equal(decide_proto(all, APP("198.18.0.10", 8080), 0), SHUNT_V_APP_LOOPBACK);
	/* without dns.capture nothing changes */
	assert_int_equal(decide_proto(ISTIO, APP("127.0.0.53", 53), 0), SHUNT_V_APP_LOOPBACK);
	{
		struct shunt_cfg c = { .dns_port = 15053 };

		assert_int_equal(shunt_verdict_port(&c, SHUNT_V_DNS), 15053);
	}
}

static void test_gid(void **state)
{
	const char *uid_only = "proxy: {uid: 1337, gid: ~}\n";

	(void)state;
	/* gid-only member of the proxy group: direct off lo (gid block) */
	assert_int_equal(decide(ISTIO, ((struct conn){ 4000, 1337, "203.0.113.9", 80, 0 })),
			 SHUNT_V_PROXY_OWNER);
	/* ... and on lo the uid block already returned for a non-uid process */
	assert_int_equal(decide(ISTIO, ((struct conn){ 4000, 1337, "198.18.0.10", 80, 0 })),
			 SHUNT_V_APP_LOOPBACK);
	/* without gid rules the group does not matter */
	assert_int_equal(decide(uid_only, ((struct conn){ 4000, 1337, "203.0.113.9", 80, 0 })),
			 SHUNT_V_INCLUDE_CIDR);
}

static void test_loopback_included(void **state)
{
	const char *cfg = ISTIO "outbound: {include_cidrs: [\"127.0.0.0/8\", \"10.0.0.0/8\"]}\n";

	(void)state;
	/* a loopback CIDR in the include list removes "app -> lo -> direct" */
	assert_int_equal(decide(cfg, APP("127.0.0.5", 80)), SHUNT_V_INCLUDE_CIDR);
	assert_int_equal(decide(cfg, APP("127.0.0.1", 80)), SHUNT_V_LOCALHOST);
	assert_int_equal(decide(cfg, APP("198.18.0.10", 80)), SHUNT_V_NOT_INCLUDED);
}

static void test_workload_meshed(void **state)
{
	struct shunt_cfg on = { .flags = SHUNT_CFG_AUTO_DETECT }, off = { 0 };

	(void)state;
	assert_true(shunt_workload_meshed(&on, SHUNT_WL_AUTO, 0));
	assert_true(shunt_workload_meshed(&on, SHUNT_WL_SCANNED, 1));
	assert_false(shunt_workload_meshed(&off, SHUNT_WL_AUTO | SHUNT_WL_SCANNED, 0));
	assert_true(shunt_workload_meshed(&off, SHUNT_WL_EXPLICIT_SLOT(1), 1));
	assert_false(shunt_workload_meshed(&off, SHUNT_WL_EXPLICIT_SLOT(0), 1));
	assert_false(shunt_workload_meshed(&on, 0, 0));
}

/* src: 1 = the pod's own (loopback, ::6, own IP), 2 = in inbound.exclude_source_cidrs */
static enum shunt_verdict decide_in(const char *yaml, __u16 port, int src)
{
	struct shunt_config c = parse(yaml);
	struct shunt_in_facts f = { 0 };
	struct shunt_policy p;
	enum shunt_verdict v;

	assert_int_equal(policy_compile(&c, 0, 0, 1, &p), 0);
	f.dport = port;
	f.src_is_local = (__u8)(src & 1);
	f.src_excluded = (__u8)!!(src & 2);
	f.port_excluded = (__u8)policy_port_listed(&p.ports[SHUNT_PORTS_IN_EXCLUDE], port);
	f.port_included = (__u8)policy_port_listed(&p.ports[SHUNT_PORTS_IN_INCLUDE], port);
	v = shunt_decide_inbound(&p.cfg, &f);
	policy_free(&p);
	config_free(&c);
	return v;
}

static void test_inbound(void **state)
{
	const char *list = "inbound: {include_ports: [8080, 15008], exclude_ports: [8080]}\n";

	(void)state;
	/* Istio's default: "*" minus 15090, 15021, 15020; 15008 first */
	assert_int_equal(decide_in("proxy: {}\n", 8080, 0), SHUNT_V_IN_STEERED);
	assert_int_equal(decide_in("proxy: {}\n", 15020, 0), SHUNT_V_IN_EXCLUDE_PORT);
	assert_int_equal(decide_in("proxy: {}\n", 15090, 0), SHUNT_V_IN_EXCLUDE_PORT);
	assert_int_equal(decide_in("proxy: {}\n", 15008, 0), SHUNT_V_IN_TUNNEL);
	assert_int_equal(decide_in("proxy: {}\n", 8080, 1), SHUNT_V_IN_LOCAL_SRC);
	/* a list: only what it names; the exclude list does not apply (istio-iptables -b list) */
	assert_int_equal(decide_in(list, 8080, 0), SHUNT_V_IN_STEERED);
	assert_int_equal(decide_in(list, 9090, 0), SHUNT_V_IN_NOT_INCLUDED);
	assert_int_equal(decide_in(list, 15008, 0), SHUNT_V_IN_TUNNEL);
	/* Linkerd's ignored subnets: after the tunnel port and the pod's own sources */
	assert_int_equal(decide_in("proxy: {}\n", 8080, 2), SHUNT_V_IN_EXCLUDE_SRC);
	assert_int_equal(decide_in("proxy: {}\n", 15008, 2), SHUNT_V_IN_TUNNEL);
	assert_int_equal(decide_in("proxy: {}\n", 8080, 3), SHUNT_V_IN_LOCAL_SRC);
	assert_int_equal(decide_in(list, 8080, 2), SHUNT_V_IN_EXCLUDE_SRC);
	/* [] = no inbound capture */
	assert_int_equal(decide_in("inbound: {include_ports: []}\n", 8080, 0), SHUNT_V_IN_NOT_INCLUDED);
}

/* proxy.identity: uid (istio-iptables), uid+cgroup, cgroup; and its config errors */
static void test_proxy_identity(void **state)
{
	struct shunt_cfg cfg = { 0 };
	struct config_errors errs = { 0 };
	struct shunt_config c;
	__u8 u, g;
	const char *bad = "proxy: {cgroup: relative/x, identity: cgroup}\n";
	const char *bad2 = "proxy: {identity: uid+cgroup}\n";
	const char *bad3 = "proxy: {cgroup: /proc}\n";

	(void)state;
	shunt_proxy_identity(&cfg, 1, 1, 0, &u, &g);
	assert_true(u && g);                          /* no cgroup: uid/gid as ever */
	cfg.flags = SHUNT_CFG_PROXY_CGROUP;
	shunt_proxy_identity(&cfg, 1, 1, 0, &u, &g);
	assert_false(u || g);                         /* 1337 outside the proxy's cgroup: an app */
	shunt_proxy_identity(&cfg, 1, 0, 1, &u, &g);
	assert_true(u && !g);
	shunt_proxy_identity(&cfg, 0, 0, 1, &u, &g);
	assert_false(u || g);                         /* root in the proxy's cgroup: not it */
	cfg.flags |= SHUNT_CFG_CGROUP_ONLY;
	shunt_proxy_identity(&cfg, 0, 0, 1, &u, &g);
	assert_true(u && !g);                         /* cgroup alone */
	shunt_proxy_identity(&cfg, 1, 1, 0, &u, &g);
	assert_false(u || g);

	assert_int_equal(config_parse("t.yaml", bad, strlen(bad), &c, &errs), -EINVAL);
	assert_string_equal(errs.msgs[0], "t.yaml:1:17: 'proxy.cgroup' must be an absolute path, got 'relative/x'");
	config_errors_free(&errs);
	config_free(&c);
	assert_int_equal(config_parse("t.yaml", bad2, strlen(bad2), &c, &errs), -EINVAL);
	assert_string_equal(errs.msgs[0], "t.yaml:1:19: 'proxy.identity' names the cgroup, but 'proxy.cgroup' is not set");
	config_errors_free(&errs);
	config_free(&c);
	assert_int_equal(config_parse("t.yaml", bad3, strlen(bad3), &c, &errs), -EINVAL);
	assert_string_equal(errs.msgs[0], "t.yaml:1:17: 'proxy.cgroup' /proc is not a cgroup v2 directory");
	config_errors_free(&errs);
	config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compile_entries),
		cmocka_unit_test(test_compile_flags),
		cmocka_unit_test(test_istio_cases),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_dns),
		cmocka_unit_test(test_gid),
		cmocka_unit_test(test_loopback_included),
		cmocka_unit_test(test_workload_meshed),
		cmocka_unit_test(test_inbound),
		cmocka_unit_test(test_proxy_identity),
	};

	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
