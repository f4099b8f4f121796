// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pod-init's flags -> a pod policy, and the policy's road to the daemon: istio-iptables'
 * defaults and flags (the injector's usual arguments), its environment variables, Linkerd
 * proxy-init's flags, refusals by name; the YAML pod-init sends reads back (overlay parse)
 * into the same policy; a workload entry's policy keys override the node's. No root.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "config.h"
#include "podinit.h"

static const char *env_names[8], *env_values[8];

static char *fake_env(const char *name)
{
	for (int i = 0; i < 8 && env_names[i]; i++)
		if (!strcmp(env_names[i], name))
			return (char *)env_values[i];
	return NULL;
}

static int parse(struct podinit_opts *o, char *err, const char *first, ...)
{
	char *argv[64];
	int argc = 0;
	va_list ap;

	va_start(ap, first);
	for (const char *a = first; a; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	return podinit_parse(argc, argv, fake_env, o, err, 256);
}

static bool port_in(const struct config_port_list *l, uint16_t p)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i] == p)
			return true;
	return false;
}

/* The YAML pod-init sends, parsed the way the daemon parses it, over a node default that
 * differs everywhere: the result must be the flags' policy, not the node's. */
static void roundtrip(const struct shunt_config *p, struct shunt_config *out)
{
	static const char node_yaml[] =
		"proxy: {uid: 1, gid: 2, outbound_port: 1001, inbound_port: 1002, tunnel_port: 1003}\n"
		"outbound: {include_cidrs: [\"10.0.0.0/8\"], exclude_ports: [1]}\n"
		"inbound: {include_ports: [2], exclude_ports: [3]}\n"
		"acceleration: false\n";
	struct config_errors errs = { 0 };
	struct shunt_config node;
	char *yaml = config_policy_yaml(p);

	assert_non_null(yaml);
	assert_int_equal(config_parse("node", node_yaml, strlen(node_yaml), &node, &errs), 0);
	if (config_parse_overlay("req", yaml, strlen(yaml), &node, out, &errs)) {
		config_errors_print(&errs);
		fail_msg("the YAML pod-init sends does not parse:\n%s", yaml);
	}
	assert_int_equal(out->proxy_uid, p->proxy_uid);
	assert_int_equal(out->has_gid, p->has_gid);
	if (p->has_gid)
		assert_int_equal(out->proxy_gid, p->proxy_gid);
	assert_int_equal(out->outbound_port, p->outbound_port);
	assert_int_equal(out->inbound_port, p->inbound_port);
	assert_int_equal(out->tunnel_port, p->tunnel_port);
	assert_int_equal(out->flavor, p->flavor);
	assert_int_equal(out->out_include_cidrs.all, p->out_include_cidrs.all);
	assert_int_equal(out->out_include_cidrs.n, p->out_include_cidrs.n);
	assert_int_equal(out->out_exclude_cidrs.n, p->out_exclude_cidrs.n);
	assert_int_equal(out->out_exclude_ports.n, p->out_exclude_ports.n);
	assert_int_equal(out->out_include_ports.n, p->out_include_ports.n);
	assert_int_equal(out->in_include_ports.all, p->in_include_ports.all);
	assert_int_equal(out->in_include_ports.n, p->in_include_ports.n);
	assert_int_equal(out->in_exclude_ports.n, p->in_exclude_ports.n);
	for (size_t i = 0; i < p->out_exclude_ports.n; i++)
		assert_true(port_in(&out->out_exclude_ports, p->out_exclude_ports.v[i]));
	for (size_t i = 0; i < p->in_exclude_ports.n; i++)
		assert_true(port_in(&out->in_exclude_ports, p->in_exclude_ports.v[i]));
	/* what pod-init has no flag for comes from the node */
	assert_false(out->acceleration);
	free(yaml);
	config_free(&node);
}

static void test_istio_injector_args(void **state)
{
	struct podinit_opts o;
	struct shunt_config back;
	char err[256] = "";

	(void)state;
	/* what Istio's injector writes into istio-init's args */
	assert_int_equal(parse(&o, err, "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT",
			       "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020",
			       "--log_output_level=default:info", "-o", "5432,9300", NULL), 0);
	assert_false(o.linkerd);
	assert_false(o.dry_run);
	assert_int_equal(o.policy.outbound_port, 15001);
	assert_int_equal(o.policy.inbound_port, 15006);
	assert_int_equal(o.policy.tunnel_port, 15008);
	assert_int_equal(o.policy.proxy_uid, 1337);
	assert_true(o.policy.has_gid);
	assert_int_equal(o.policy.proxy_gid, 1337);      /* -g defaults to -u */
	assert_true(o.policy.out_include_cidrs.all);
	assert_int_equal(o.policy.out_exclude_cidrs.n, 0);
	assert_true(o.policy.in_include_ports.all);
	assert_int_equal(o.policy.in_exclude_ports.n, 3);
	assert_int_equal(o.policy.out_exclude_ports.n, 2);
	assert_true(port_in(&o.policy.out_exclude_ports, 9300));
	assert_string_equal(o.socket_path, PODINIT_SOCKET_DEFAULT);
	roundtrip(&o.policy, &back);
	config_free(&back);
	config_free(&o.policy);
}

static void test_istio_defaults_capture_nothing(void **state)
{
	struct podinit_opts o;
	char err[256] = "";

	(void)state;
	/* istio-iptables without -i and -b: no CIDR and no inbound port is captured */
	assert_int_equal(parse(&o, err, "-u", "1000", "-g", "2000", NULL), 0);
	assert_false(o.policy.out_include_cidrs.all);
	assert_int_equal(o.policy.out_include_cidrs.n, 0);
	assert_false(o.policy.in_include_ports.all);
	assert_int_equal(o.policy.in_include_ports.n, 0);
	assert_int_equal(o.policy.proxy_uid, 1000);
	assert_int_equal(o.policy.proxy_gid, 2000);
	config_free(&o.policy);
}

static void test_long_flags_and_forms(void **state)
{
	struct podinit_opts o;
	struct shunt_config back;
	char err[256] = "";

	(void)state;
	assert_int_equal(parse(&o, err, "--envoy-port=16001", "--inbound-capture-port", "16006",
			       "-e16008", "--istio-service-cidr", "10.0.0.0/8,2001:db8::/32",
			       "--istio-service-exclude-cidr=10.1.0.0/16", "--istio-outbound-ports",
			       "443", "--istio-inbound-ports=8080,9000-9002", "--dry-run",
			       "--socket=/run/x.sock", "--timeout", "3", NULL), 0);
	assert_int_equal(o.policy.outbound_port, 16001);
	assert_int_equal(o.policy.inbound_port, 16006);
	assert_int_equal(o.policy.tunnel_port, 16008);
	assert_int_equal(o.policy.out_include_cidrs.n, 2);
	assert_int_equal(o.policy.out_exclude_cidrs.n, 1);
	assert_int_equal(o.policy.out_include_ports.n, 1);
	assert_int_equal(o.policy.in_include_ports.n, 4);
	assert_true(o.dry_run);
	assert_string_equal(o.socket_path, "/run/x.sock");
	assert_int_equal(o.timeout_s, 3);
	roundtrip(&o.policy, &back);
	config_free(&back);
	config_free(&o.policy);
}

static void test_environment(void **state)
{
	struct podinit_opts o;
	char err[256] = "";

	(void)state;
	env_names[0] = "ENVOY_PORT";
	env_values[0] = "17001";
	env_names[1] = "ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE";
	env_values[1] = "25";
	env_names[2] = "SHUNT_SOCKET";
	env_values[2] = "/run/env.sock";
	assert_int_equal(parse(&o, err, "-o", "26", NULL), 0);
	assert_int_equal(o.policy.outbound_port, 17001);        /* from the environment */
	assert_int_equal(o.policy.out_exclude_ports.n, 1);      /* the flag wins */
	assert_int_equal(o.policy.out_exclude_ports.v[0], 26);
	assert_string_equal(o.socket_path, "/run/env.sock");
	config_free(&o.policy);
	env_values[0] = "x";
	assert_int_equal(parse(&o, err, NULL), -EINVAL);
	assert_string_equal(err, "$ENVOY_PORT: 'x' is not a port (1..65535)");
	memset(env_names, 0, sizeof(env_names));
}

static void test_linkerd(void **state)
{
	struct podinit_opts o;
	struct shunt_config back;
	char err[256] = "";

	(void)state;
	assert_int_equal(parse(&o, err, "--incoming-proxy-port", "4143", "--outgoing-proxy-port",
			       "4140", "--proxy-uid", "2102", "--inbound-ports-to-ignore",
			       "4190,4191,4567-4568", "--outbound-ports-to-ignore", "4567,4568",
			       "--subnets-to-ignore", "10.96.0.0/12", "-w", NULL), 0);
	assert_true(o.linkerd);
	assert_int_equal(o.policy.flavor, CONFIG_FLAVOR_LINKERD);
	assert_int_equal(o.policy.inbound_port, 4143);
	assert_int_equal(o.policy.outbound_port, 4140);
	assert_int_equal(o.policy.tunnel_port, 0);
	assert_false(o.policy.has_gid);
	assert_true(o.policy.out_include_cidrs.all);
	assert_true(o.policy.in_include_ports.all);
	assert_int_equal(o.policy.in_exclude_ports.n, 4);
	assert_int_equal(o.policy.out_exclude_cidrs.n, 0);
	/* proxy-init's subnets are sources of inbound traffic (PROXY_INIT_REDIRECT -s) */
	assert_int_equal(o.policy.in_exclude_src_cidrs.n, 1);
	roundtrip(&o.policy, &back);
	config_free(&back);
	config_free(&o.policy);
	/* -r is proxy-init's --ports-to-redirect here, istio-iptables' TPROXY table there */
	assert_int_equal(parse(&o, err, "--incoming-proxy-port", "4143", "--outgoing-proxy-port",
			       "4140", "-u", "2102", "-r", "80,443", NULL), 0);
	assert_false(o.policy.in_include_ports.all);
	assert_int_equal(o.policy.in_include_ports.n, 2);
	config_free(&o.policy);
}

static void test_refusals_name_the_flag(void **state)
{
	static const struct {
		const char *args[6];
		const char *msg;
	} cases[] = {
		{ { "-m", "TPROXY" }, "-m TPROXY: only REDIRECT is supported" },
		{ { "-r", "133" }, "-r is not supported: TPROXY is not supported" },
		{ { "--redirect-dns", "--resolv-conf", "/nonexistent/resolv.conf" },
		  "--redirect-dns: cannot read /nonexistent/resolv.conf" },
		{ { "--redirect-dns", "--resolv-conf", SHUNT_SOURCE_DIR "/tests/fixtures/resolv-bad.conf" },
		  SHUNT_SOURCE_DIR "/tests/fixtures/resolv-bad.conf:3: nameserver '10.0.0.0/8' is not an address" },
		{ { "--network-namespace", "/x" }, "--network-namespace is not supported" },
		{ { "-k", "eth1" }, "-k is not supported" },
		{ { "--nope" }, "unknown flag --nope" },
		{ { "-Y" }, "unknown flag -Y" },
		{ { "-p", "0" }, "-p: '0' is not a port (1..65535)" },
		{ { "-u", "-1" }, "-u: '-1' is not a numeric id" },
		{ { "-o", "80,x" }, "-o: 'x' is not a port or a port range (like 4000-4100)" },
		{ { "-o", "*" }, "-o: \"*\" is not accepted here" },
		{ { "-x", "10.0.0.1/8" }, "-x: '10.0.0.1/8' has host bits set" },
		{ { "-p", "1", "-p", "2" }, "-p given twice" },
		{ { "--dry-run=maybe" }, "--dry-run: 'maybe' is not true or false" },
		{ { "--socket", "rel.sock" }, "--socket: 'rel.sock' is not an absolute path" },
		{ { "stray" }, "unexpected argument 'stray' (flags only)" },
		{ { "--incoming-proxy-port", "4143", "-i", "*" }, "-i is an istio-iptables flag" },
		{ { "--incoming-proxy-port", "4143", "--proxy-uid", "1" }, "--outgoing-proxy-port is required" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct podinit_opts o;
		char err[256] = "";
		char *argv[6];
		int argc = 0;

		while (argc < 6 && cases[i].args[argc]) {
			argv[argc] = (char *)cases[i].args[argc];
			argc++;
		}
		if (podinit_parse(argc, argv, NULL, &o, err, sizeof(err)) != -EINVAL)
			fail_msg("case %zu (%s) was accepted", i, cases[i].args[0]);
		if (strncmp(err, cases[i].msg, strlen(cases[i].msg)))
			fail_msg("case %zu: '%s', want '%s...'", i, err, cases[i].msg);
	}
	/* false is not a request: accepted */
	{
		struct podinit_opts o;
		char err[256];
		char *argv[] = { "--redirect-dns=false", "-c", "" };

		assert_int_equal(podinit_parse(3, argv, NULL, &o, err, sizeof(err)), 0);
		config_free(&o.policy);
	}
}

/* --log_as_json is istio-iptables' switch: it must not take the next flag as its value. */
static void test_log_as_json_is_a_switch(void **state)
{
	struct podinit_opts o;
	char err[256] = "";

	(void)state;
	assert_int_equal(parse(&o, err, "-p", "15001", "--log_as_json", "-n", NULL), 0);
	assert_true(o.dry_run);                   /* -n was read as -n */
	config_free(&o.policy);
	assert_int_equal(parse(&o, err, "--log_as_json=true", "--log_as_json", NULL), 0);
	config_free(&o.policy);
}

/* --redirect-dns: the nameservers of the pod's resolv.conf, or any with --capture-all-dns,
 * to 15053; without nameservers, off with a warning (istio-iptables does the same). */
static void test_dns_flags(void **state)
{
	struct podinit_opts o;
	struct shunt_config back;
	char err[256] = "", buf[64];
	char *with[] = { "--redirect-dns", "--resolv-conf",
			 SHUNT_SOURCE_DIR "/tests/fixtures/resolv.conf" };
	char *all[] = { "--capture-all-dns", "--resolv-conf", "/nonexistent", "--redirect-dns" };
	char *none[] = { "--redirect-dns", "--resolv-conf", "/dev/null" };
	char *off[] = { "--capture-all-dns" };

	(void)state;
	assert_int_equal(podinit_parse(3, with, NULL, &o, err, sizeof(err)), 0);
	assert_true(o.policy.dns_capture);
	assert_false(o.policy.dns_all);
	assert_int_equal(o.policy.dns_port, 15053);
	assert_int_equal(o.policy.dns_servers.n, 2);
	assert_string_equal(config_cidr_str(&o.policy.dns_servers.v[0], buf, sizeof(buf)),
			    "198.18.0.53/32");
	assert_string_equal(config_cidr_str(&o.policy.dns_servers.v[1], buf, sizeof(buf)),
			    "fe80::53/128");
	roundtrip(&o.policy, &back);
	assert_true(back.dns_capture);
	assert_int_equal(back.dns_servers.n, 2);
	config_free(&back);
	config_free(&o.policy);

	assert_int_equal(podinit_parse(4, all, NULL, &o, err, sizeof(err)), 0);
	assert_true(o.policy.dns_capture && o.policy.dns_all);
	config_free(&o.policy);

	assert_int_equal(podinit_parse(3, none, NULL, &o, err, sizeof(err)), 0);
	assert_false(o.policy.dns_capture);
	assert_non_null(strstr(o.note, "DNS is not captured"));
	config_free(&o.policy);

	/* --capture-all-dns alone asks for nothing, as in istio-iptables */
	assert_int_equal(podinit_parse(1, off, NULL, &o, err, sizeof(err)), 0);
	assert_int_equal(o.acceleration, -1);        /* no flag: the node's switch holds */
	config_free(&o.policy);

	assert_int_equal(podinit_parse(1, off, NULL, &o, err, sizeof(err)), 0);
	assert_false(o.policy.dns_capture);
	config_free(&o.policy);
}

/* --acceleration: the pod's own fast-path switch, sent only when given. */
static void test_acceleration_flag(void **state)
{
	struct podinit_opts o;
	char err[256] = "";
	char *on[] = { "--acceleration" }, *off[] = { "--acceleration=false" };
	char *proxy[] = { "--acceleration=proxy" }, *bad[] = { "--acceleration=maybe" };

	(void)state;
	assert_int_equal(podinit_parse(1, on, NULL, &o, err, sizeof(err)), 0);
	assert_int_equal(o.acceleration, CONFIG_ACCEL_ALL);
	config_free(&o.policy);
	assert_int_equal(podinit_parse(1, off, NULL, &o, err, sizeof(err)), 0);
	assert_int_equal(o.acceleration, CONFIG_ACCEL_OFF);
	config_free(&o.policy);
	assert_int_equal(podinit_parse(1, proxy, NULL, &o, err, sizeof(err)), 0);
	assert_int_equal(o.acceleration, CONFIG_ACCEL_PROXY);
	config_free(&o.policy);
	assert_int_equal(podinit_parse(1, bad, NULL, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not true or false"));
}

/* The node's workloads: entries take every policy key; a list replaces the default's. */
static void test_workload_overrides(void **state)
{
	static const char yaml[] =
		"outbound: {exclude_ports: [7000], exclude_cidrs: [\"10.0.0.0/8\"]}\n"
		"workloads:\n"
		"  - {name: db-client, netns: /run/netns/a, outbound: {exclude_ports: [5432]},\n"
		"     proxy: {uid: 999, tunnel_port: ~}, mesh: {flavor: linkerd}}\n"
		"  - {name: plain, netns: /run/netns/b, acceleration: false}\n"
		"  - {name: in2, netns: /run/netns/c, inbound: {include_ports: [80, \"8000-8001\"]},\n"
		"     acceleration: false}\n"
		"  - {name: fast, netns: /run/netns/d, acceleration: true}\n"
		"  - {name: legs, netns: /run/netns/e, acceleration: proxy}\n";
	struct config_errors errs = { 0 };
	struct shunt_config c;
	const struct shunt_config *p;

	(void)state;
	assert_int_equal(config_parse("t.yaml", yaml, strlen(yaml), &c, &errs), 0);
	p = c.workloads[0].policy;
	assert_non_null(p);
	assert_int_equal(p->out_exclude_ports.n, 1);
	assert_int_equal(p->out_exclude_ports.v[0], 5432);
	assert_int_equal(p->out_exclude_cidrs.n, 1);       /* not overridden: the node's */
	assert_int_equal(p->proxy_uid, 999);
	assert_int_equal(p->proxy_gid, 1337);              /* the node's */
	assert_int_equal(p->tunnel_port, 0);
	assert_int_equal(p->flavor, CONFIG_FLAVOR_LINKERD);
	assert_string_equal(p->source, "db-client");
	assert_null(c.workloads[1].policy);                 /* acceleration alone: a flag */
	p = c.workloads[2].policy;
	assert_non_null(p);
	assert_int_equal(p->in_include_ports.n, 3);
	assert_false(p->acceleration);
	/* an opt-in alone needs a policy of its own: the node's switch is off */
	assert_int_equal(c.acceleration, CONFIG_ACCEL_OFF);
	assert_non_null(c.workloads[3].policy);
	assert_int_equal(c.workloads[3].policy->acceleration, CONFIG_ACCEL_ALL);
	assert_int_equal(c.workloads[3].policy->out_exclude_ports.v[0], 7000); /* the node's */
	assert_non_null(c.workloads[4].policy);
	assert_int_equal(c.workloads[4].policy->acceleration, CONFIG_ACCEL_PROXY);
	assert_int_equal(c.out_exclude_ports.v[0], 7000);  /* the node's own is unchanged */
	config_free(&c);

	/* a bad override is a FILE:LINE:COL error at the workload's key */
	static const char bad[] =
		"workloads:\n"
		"  - name: x\n"
		"    netns: /run/netns/x\n"
		"    proxy: {inbound_port: 15001}\n"
		"    mesh: {auto_detect: false}\n";
	assert_int_equal(config_parse("b.yaml", bad, strlen(bad), &c, &errs), -EINVAL);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.msgs[0], "b.yaml:5:25: 'mesh.auto_detect' is node-wide: set it at the top level");
	config_errors_free(&errs);
	config_free(&c);
	/* the merged policy is checked as a whole */
	assert_int_equal(config_parse("b.yaml", bad, strlen(bad) - strlen("    mesh: {auto_detect: false}\n"),
				      &c, &errs), -EINVAL);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.msgs[0], "b.yaml:4:27: 'proxy.inbound_port' 15001 collides with 'proxy.outbound_port'");
	config_errors_free(&errs);
	config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_istio_injector_args),
		cmocka_unit_test(test_istio_defaults_capture_nothing),
		cmocka_unit_test(test_long_flags_and_forms),
		cmocka_unit_test(test_environment),
		cmocka_unit_test(test_linkerd),
		cmocka_unit_test(test_refusals_name_the_flag),
		cmocka_unit_test(test_dns_flags),
		cmocka_unit_test(test_acceleration_flag),
		cmocka_unit_test(test_log_as_json_is_a_switch),
		cmocka_unit_test(test_workload_overrides),
	};

	return cmocka_run_group_tests_name("pod-init flags and pod policies", tests, NULL, NULL);
}
