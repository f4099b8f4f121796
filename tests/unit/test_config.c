// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Config parser and validation: the embedded default equals Istio's defaults, every key of
 * a full file lands where it should, and each bad fixture yields exactly the messages in its
 * .err file (FILE stands for the fixture's path), no more, no less.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include "config.h"

#define FIXTURES SHUNT_SOURCE_DIR "/tests/fixtures/"

static void test_default_is_istio(void **state)
{
	struct config_errors errs = { 0 };
	struct shunt_config c;

	(void)state;
	assert_int_equal(config_load_default(&c, &errs), 0);
	assert_int_equal(errs.n, 0);
	assert_int_equal(c.proxy_uid, 1337);
	assert_true(c.has_gid);
	assert_int_equal(c.proxy_gid, 1337);
	assert_int_equal(c.outbound_port, 15001);
	assert_int_equal(c.inbound_port, 15006);
	assert_int_equal(c.tunnel_port, 15008);
	assert_true(c.out_include_cidrs.all);
	assert_int_equal(c.out_include_cidrs.n, 0);
	assert_int_equal(c.out_exclude_cidrs.n, 0);
	assert_true(c.in_include_ports.all);
	assert_int_equal(c.in_exclude_ports.n, 3);
	assert_int_equal(c.in_exclude_ports.v[0], 15020);
	assert_int_equal(c.in_exclude_ports.v[1], 15021);
	assert_int_equal(c.in_exclude_ports.v[2], 15090);
	assert_false(c.acceleration);   /* opt-in */
	assert_true(c.auto_detect);
	assert_string_equal(c.source, CONFIG_EMBEDDED_NAME);
	config_free(&c);
}

static void test_missing_keys_take_defaults(void **state)
{
	struct config_errors errs = { 0 };
	struct shunt_config c;
	const char *y = "proxy:\n  uid: 42\n";

	(void)state;
	assert_int_equal(config_parse("t.yaml", y, strlen(y), &c, &errs), 0);
	assert_int_equal(c.proxy_uid, 42);
	assert_int_equal(c.proxy_gid, 1337);
	assert_int_equal(c.outbound_port, 15001);
	assert_true(c.out_include_cidrs.all);
	config_free(&c);
}

static void test_gid_null_disables_gid(void **state)
{
	struct config_errors errs = { 0 };
	struct shunt_config c;
	const char *y = "proxy:\n  gid: ~\n";

	(void)state;
	assert_int_equal(config_parse("t.yaml", y, strlen(y), &c, &errs), 0);
	assert_false(c.has_gid);
	config_free(&c);
}

static void test_full_file(void **state)
{
	struct config_errors errs = { 0 };
	struct shunt_config c;
	char buf[64];

	(void)state;
	assert_int_equal(config_load_file(FIXTURES "full.yaml", &c, &errs), 0);
	assert_int_equal(c.proxy_uid, 2000);
	assert_int_equal(c.proxy_gid, 3000);
	assert_int_equal(c.outbound_port, 16001);
	assert_int_equal(c.inbound_port, 16006);
	assert_int_equal(c.tunnel_port, 16008);
	assert_false(c.out_include_cidrs.all);
	assert_int_equal(c.out_include_cidrs.n, 2);
	assert_string_equal(config_cidr_str(&c.out_include_cidrs.v[0], buf, sizeof(buf)), "10.0.0.0/8");
	assert_string_equal(config_cidr_str(&c.out_include_cidrs.v[1], buf, sizeof(buf)), "2001:db8::/32");
	assert_int_equal(c.out_exclude_cidrs.n, 2);
	assert_string_equal(config_cidr_str(&c.out_exclude_cidrs.v[0], buf, sizeof(buf)), "169.254.169.254/32");
	assert_int_equal(c.out_include_ports.n, 2);
	assert_int_equal(c.out_include_ports.v[0], 8443);
	assert_int_equal(c.out_include_ports.v[1], 9000);  /* quoted ports are accepted */
	assert_int_equal(c.out_exclude_ports.n, 1);
	assert_false(c.in_include_ports.all);
	assert_int_equal(c.in_include_ports.n, 2);
	assert_int_equal(c.in_exclude_ports.n, 1);
	assert_false(c.acceleration);
	assert_false(c.auto_detect);
	assert_int_equal(c.n_workloads, 2);
	assert_string_equal(c.workloads[0].name, "web");
	assert_string_equal(c.workloads[0].netns, "/run/netns/web");
	assert_int_equal(c.workloads[0].acceleration, 0);
	assert_int_equal(c.workloads[1].acceleration, -1);
	assert_int_equal(c.workloads[1].netns_pos.line, 24);
	config_free(&c);
}

/* istio-iptables dedups ports: a port listed twice counts once, with a warning. */
static void test_duplicate_ports_accepted(void **state)
{
	static const char y[] = "outbound:\n  exclude_ports: [22, \"22\", 80]\n";
	struct config_errors errs = { 0 };
	struct shunt_config c;

	(void)state;
	assert_int_equal(config_parse("dup.yaml", y, sizeof(y) - 1, &c, &errs), 0);
	assert_int_equal(errs.n, 0);
	assert_int_equal(c.out_exclude_ports.n, 2);
	assert_int_equal(c.warnings.n, 1);
	assert_string_equal(c.warnings.msgs[0], "dup.yaml:2:23: warning: 'outbound.exclude_ports' "
						"lists port 22 twice (first at line 2); counted once");
	config_free(&c);
}

static void test_cidr_parse(void **state)
{
	struct config_cidr c;
	const char *why;
	char buf[64];

	(void)state;
	assert_int_equal(config_parse_cidr("192.0.2.7", &c, &why), 0);
	assert_int_equal(c.prefixlen, 32);
	assert_int_equal(config_parse_cidr("0.0.0.0/0", &c, &why), 0);
	assert_int_equal(c.prefixlen, 0);
	assert_int_equal(config_parse_cidr("::/0", &c, &why), 0);
	assert_int_equal(c.family, AF_INET6);
	assert_int_equal(config_parse_cidr("2001:db8::1", &c, &why), 0);
	assert_int_equal(c.prefixlen, 128);
	assert_string_equal(config_cidr_str(&c, buf, sizeof(buf)), "2001:db8::1/128");
	assert_int_not_equal(config_parse_cidr("10.0.0.0/33", &c, &why), 0);
	assert_string_equal(why, "has a prefix length outside 0..32");
	assert_int_not_equal(config_parse_cidr("10.0.0.0/", &c, &why), 0);
	assert_int_not_equal(config_parse_cidr("/8", &c, &why), 0);
	assert_int_not_equal(config_parse_cidr("10.0.0.0/8x", &c, &why), 0);
	assert_int_not_equal(config_parse_cidr("2001:db8::1/64", &c, &why), 0);
	assert_string_equal(why, "has host bits set");
	assert_int_not_equal(config_parse_cidr("10.1/16", &c, &why), 0);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* Expected text with "FILE" replaced by the fixture path. */
static char *expected_errors(const char *err_path, const char *yaml_path)
{
	char *raw = slurp(err_path), *out, *o;
	size_t yl = strlen(yaml_path);

	assert_non_null(raw);
	out = calloc(1, strlen(raw) * (yl + 1) + 1);
	o = out;
	for (const char *r = raw; *r;) {
		if (!strncmp(r, "FILE", 4)) {
			memcpy(o, yaml_path, yl);
			o += yl;
			r += 4;
		} else if (!strncmp(r, "DIR/", 4)) {
			/* the fixture directory, as the config's path names it */
			size_t dl = (size_t)(strrchr(yaml_path, '/') - yaml_path) + 1;

			memcpy(o, yaml_path, dl);
			o += dl;
			r += 4;
		} else {
			*o++ = *r++;
		}
	}
	free(raw);
	return out;
}

static void check_bad(const char *name)
{
	char yaml[512], err[512], *want, *got, *g;
	struct config_errors errs = { 0 };
	struct shunt_config c;
	size_t len = 1;

	snprintf(yaml, sizeof(yaml), FIXTURES "%s.yaml", name);
	snprintf(err, sizeof(err), FIXTURES "%s.err", name);
	assert_int_equal(config_load_file(yaml, &c, &errs), -22 /* -EINVAL */);
	want = expected_errors(err, yaml);
	for (size_t i = 0; i < errs.n; i++)
		len += strlen(errs.msgs[i]) + 1;
	got = g = calloc(1, len);
	for (size_t i = 0; i < errs.n; i++)
		g += sprintf(g, "%s\n", errs.msgs[i]);
	assert_string_equal(got, want);
	free(got);
	free(want);
	config_errors_free(&errs);
	config_free(&c);
}

static void test_bad_empty(void **s) { (void)s; check_bad("bad-empty"); }
static void test_bad_syntax(void **s) { (void)s; check_bad("bad-syntax"); }
static void test_bad_types(void **s) { (void)s; check_bad("bad-types"); }
static void test_bad_collide(void **s) { (void)s; check_bad("bad-collide"); }
static void test_bad_collide2(void **s) { (void)s; check_bad("bad-collide2"); }
static void test_bad_workloads(void **s) { (void)s; check_bad("bad-workloads"); }
static void test_bad_dupworkload(void **s) { (void)s; check_bad("bad-dupworkload"); }
static void test_bad_twodocs(void **s) { (void)s; check_bad("bad-twodocs"); }
static void test_bad_dupkey(void **s) { (void)s; check_bad("bad-dupkey"); }
static void test_bad_alias(void **s) { (void)s; check_bad("bad-alias"); }
static void test_bad_files(void **s) { (void)s; check_bad("bad-files"); }

static void test_cidr_files(void **state)
{
	struct config_errors errs = { 0 };
	struct shunt_config c;
	char buf[64];

	(void)state;
	assert_int_equal(config_load_file(FIXTURES "with-files.yaml", &c, &errs), 0);
	/* the inline entry first, then the file's, comments and blank lines skipped */
	assert_int_equal(c.out_exclude_cidrs.n, 4);
	assert_string_equal(config_cidr_str(&c.out_exclude_cidrs.v[0], buf, sizeof(buf)), "198.51.100.0/24");
	assert_string_equal(config_cidr_str(&c.out_exclude_cidrs.v[1], buf, sizeof(buf)), "169.254.169.254/32");
	assert_string_equal(config_cidr_str(&c.out_exclude_cidrs.v[2], buf, sizeof(buf)), "192.0.2.0/24");
	assert_string_equal(config_cidr_str(&c.out_exclude_cidrs.v[3], buf, sizeof(buf)), "2001:db8::/32");
	/* a file alone replaces the default "*" */
	assert_false(c.out_include_cidrs.all);
	assert_int_equal(c.out_include_cidrs.n, 1);
	config_free(&c);
}

static void test_unreadable_file(void **state)
{
	struct config_errors errs = { 0 };
	struct shunt_config c;

	(void)state;
	assert_int_equal(config_load_file("/nonexistent/shunt.yaml", &c, &errs), -2 /* -ENOENT */);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.msgs[0], "/nonexistent/shunt.yaml: cannot read: No such file or directory");
	config_errors_free(&errs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_is_istio),
		cmocka_unit_test(test_missing_keys_take_defaults),
		cmocka_unit_test(test_gid_null_disables_gid),
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_cidr_parse),
		cmocka_unit_test(test_duplicate_ports_accepted),
		cmocka_unit_test(test_bad_empty),
		cmocka_unit_test(test_bad_syntax),
		cmocka_unit_test(test_bad_types),
		cmocka_unit_test(test_bad_collide),
		cmocka_unit_test(test_bad_collide2),
		cmocka_unit_test(test_bad_workloads),
		cmocka_unit_test(test_bad_dupworkload),
		cmocka_unit_test(test_bad_twodocs),
		cmocka_unit_test(test_bad_dupkey),
		cmocka_unit_test(test_bad_alias),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_cidr_files),
		cmocka_unit_test(test_unreadable_file),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
