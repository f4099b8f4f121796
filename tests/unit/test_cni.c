// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* CNI mode's decisions (cni_decide.c) on recorded pod objects, as istio-cni and linkerd-cni
 * decide, and parity: the policy from a pod's annotations equals pod-init's from the
 * istio-iptables flags the injector wrote for the same pod. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <json-c/json.h>
#include "cni_decide.h"
#include "podinit.h"

static struct json_object *fixture(const char *name)
{
	char path[512];
	struct json_object *o;

	snprintf(path, sizeof(path), SHUNT_SOURCE_DIR "/tests/fixtures/pods/%s", name);
	o = json_object_from_file(path);
	assert_non_null(o);
	return o;
}

static struct json_object *at(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	assert_true(json_object_object_get_ex(o, key, &v));
	return v;
}

static void annotate(struct json_object *pod, const char *map, const char *key, const char *val)
{
	struct json_object *meta = at(pod, "metadata"), *m;

	if (!json_object_object_get_ex(meta, map, &m)) {
		m = json_object_new_object();
		json_object_object_add(meta, map, m);
	}
	if (val)
		json_object_object_add(m, key, json_object_new_string(val));
	else
		json_object_object_del(m, key);
}

/* spec.containers[1] of istio-web.json */
static struct json_object *proxy_of(struct json_object *pod)
{
	return json_object_array_get_idx(at(at(pod, "spec"), "containers"), 1);
}

static void add_env(struct json_object *c, const char *name, const char *val)
{
	struct json_object *e = json_object_new_object();

	json_object_object_add(e, "name", json_object_new_string(name));
	json_object_object_add(e, "value", json_object_new_string(val));
	json_object_array_add(at(c, "env"), e);
}

/* The policy YAML of a decision that meshes; fails the test otherwise. */
static char *policy_yaml(const struct json_object *pod, const struct json_object *ns,
			 struct podinit_opts *o)
{
	struct cni_decision d;
	char err[256] = "";

	cni_decide(pod, ns, &d);
	if (d.verdict != CNI_MESH)
		fail_msg("not meshed: %s", d.why);
	if (podinit_parse(d.argc, d.argv, NULL, o, err, sizeof(err)))
		fail_msg("pod-init refuses the decision's flags: %s", err);
	return config_policy_yaml(&o->policy);
}

static enum cni_verdict verdict(const struct json_object *pod, char *why, size_t len)
{
	struct cni_decision d;

	cni_decide(pod, NULL, &d);
	snprintf(why, len, "%s", d.why);
	return d.verdict;
}

static void test_injected_pod_parity(void **state)
{
	struct json_object *pod = fixture("istio-web.json"), *args;
	struct podinit_opts a, b;
	char *argv[CNI_MAX_ARGS], err[256] = "", *ya, *yb;
	int argc = 0;

	(void)state;
	ya = policy_yaml(pod, NULL, &a);
	/* the istio-validation container's own istio-iptables flags, as pod-init reads them */
	args = at(json_object_array_get_idx(at(at(pod, "spec"), "initContainers"), 0), "args");
	for (size_t i = 1; i < json_object_array_length(args); i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(args, i));

		if (strcmp(s, "--skip-rule-apply"))   /* validation only: pod-init refuses it */
			argv[argc++] = (char *)s;
	}
	assert_int_equal(podinit_parse(argc, argv, NULL, &b, err, sizeof(err)), 0);
	yb = config_policy_yaml(&b.policy);
	/* istio-cni also excludes outbound 15020 when the annotation is absent */
	assert_true(a.policy.out_exclude_ports.n == 1 && a.policy.out_exclude_ports.v[0] == 15020);
	assert_int_equal(b.policy.out_exclude_ports.n, 0);
	b.policy.out_exclude_ports = a.policy.out_exclude_ports;
	free(yb);
	yb = config_policy_yaml(&b.policy);
	b.policy.out_exclude_ports.v = NULL;
	b.policy.out_exclude_ports.vpos = NULL;
	b.policy.out_exclude_ports.n = 0;
	assert_string_equal(ya, yb);
	assert_int_equal(a.policy.outbound_port, 15001);
	assert_int_equal(a.policy.inbound_port, 15006);
	assert_int_equal(a.policy.tunnel_port, 15008);
	assert_int_equal(a.policy.proxy_uid, 1337);
	assert_true(a.policy.out_include_cidrs.all);
	assert_true(a.policy.in_include_ports.all);
	assert_int_equal(a.policy.in_exclude_ports.n, 3);
	free(ya);
	free(yb);
	config_free(&a.policy);
	config_free(&b.policy);
	json_object_put(pod);
}

static void test_skip_rules(void **state)
{
	static const struct {
		const char *what, *map, *key, *val;
	} ann[] = {
		{ "label inject false", "labels", "sidecar.istio.io/inject", "false" },
		{ "annotation inject false", "annotations", "sidecar.istio.io/inject", "false" },
		{ "no status annotation", "annotations", "sidecar.istio.io/status", NULL },
	};
	struct json_object *pod;
	char why[256];

	(void)state;
	for (size_t i = 0; i < sizeof(ann) / sizeof(ann[0]); i++) {
		pod = fixture("istio-web.json");
		annotate(pod, ann[i].map, ann[i].key, ann[i].val);
		assert_int_equal(verdict(pod, why, sizeof(why)), CNI_SKIP);
		json_object_put(pod);
	}
	/* the label wins over the annotation */
	pod = fixture("istio-web.json");
	annotate(pod, "annotations", "sidecar.istio.io/inject", "false");
	annotate(pod, "labels", "sidecar.istio.io/inject", "true");
	assert_int_equal(verdict(pod, why, sizeof(why)), CNI_MESH);
	json_object_put(pod);

	pod = fixture("istio-web.json");
	add_env(proxy_of(pod), "DISABLE_ENVOY", "true");
	assert_int_equal(verdict(pod, why, sizeof(why)), CNI_SKIP);
	assert_non_null(strstr(why, "DISABLE_ENVOY"));
	json_object_put(pod);

	pod = fixture("istio-web.json");
	json_object_array_put_idx(at(proxy_of(pod), "args"), 1, json_object_new_string("router"));
	assert_int_equal(verdict(pod, why, sizeof(why)), CNI_SKIP);
	json_object_put(pod);

	pod = fixture("istio-web.json");   /* istio-init: the pod meshes itself */
	json_object_object_add(json_object_array_get_idx(at(at(pod, "spec"), "initContainers"), 0),
			       "name", json_object_new_string("istio-init"));
	assert_int_equal(verdict(pod, why, sizeof(why)), CNI_SKIP);
	json_object_put(pod);

	pod = fixture("istio-web.json");   /* no proxy at all */
	json_object_array_del_idx(at(at(pod, "spec"), "containers"), 1, 1);
	assert_int_equal(verdict(pod, why, sizeof(why)), CNI_SKIP);
	json_object_put(pod);

	pod = json_tokener_parse("{\"kind\":\"Status\",\"code\":404}");
	assert_int_equal(verdict(pod, why, sizeof(why)), CNI_REFUSE);
	json_object_put(pod);
}

static void test_native_sidecar(void **state)
{
	struct json_object *pod = fixture("istio-web.json"), *spec, *proxy;
	char why[256];

	(void)state;
	spec = at(pod, "spec");
	proxy = json_object_get(proxy_of(pod));
	json_object_array_del_idx(at(spec, "containers"), 1, 1);
	json_object_object_add(proxy, "restartPolicy", json_object_new_string("Always"));
	json_object_array_add(at(spec, "initContainers"), proxy);
	assert_int_equal(verdict(pod, why, sizeof(why)), CNI_MESH);
	json_object_put(pod);
}

static void test_interception_mode(void **state)
{
	struct json_object *pod = fixture("istio-web.json");
	char why[256];

	(void)state;
	annotate(pod, "annotations", "sidecar.istio.io/interceptionMode", "TPROXY");
	assert_int_equal(verdict(pod, why, sizeof(why)), CNI_REFUSE);
	assert_non_null(strstr(why, "TPROXY"));
	annotate(pod, "annotations", "sidecar.istio.io/interceptionMode", "NONE");
	assert_int_equal(verdict(pod, why, sizeof(why)), CNI_REFUSE);
	json_object_put(pod);
}

static void test_annotations(void **state)
{
	struct json_object *pod = fixture("istio-web.json"), *sc;
	struct podinit_opts o;
	struct cni_decision d;
	char err[256] = "", *y;

	(void)state;
	annotate(pod, "annotations", "traffic.sidecar.istio.io/excludeOutboundIPRanges",
		 "10.0.0.0/8, 169.254.169.254/32");
	annotate(pod, "annotations", "traffic.sidecar.istio.io/includeOutboundPorts", "7002");
	annotate(pod, "annotations", "traffic.sidecar.istio.io/excludeOutboundPorts", "7001,7003");
	annotate(pod, "annotations", "traffic.sidecar.istio.io/excludeInboundPorts", "9000,15021");
	sc = at(proxy_of(pod), "securityContext");
	json_object_object_add(sc, "runAsUser", json_object_new_int(2000));
	json_object_object_add(sc, "runAsGroup", json_object_new_int(0));
	add_env(proxy_of(pod), "ISTIO_META_DNS_CAPTURE", "true");
	y = policy_yaml(pod, NULL, &o);
	assert_int_equal(o.policy.out_exclude_cidrs.n, 2);
	assert_int_equal(o.policy.out_include_ports.n, 1);
	assert_int_equal(o.policy.out_exclude_ports.n, 2);   /* the annotation replaces 15020 */
	assert_int_equal(o.policy.in_exclude_ports.n, 4);    /* 9000 + 15020,15021,15090 once */
	assert_int_equal(o.policy.proxy_uid, 2000);
	assert_int_equal(o.policy.proxy_gid, 1337);          /* runAsGroup 0: the default */
	assert_true(o.policy.dns_capture && o.policy.dns_all);
	free(y);
	config_free(&o.policy);

	/* garbage in an annotation: pod-init's parser names it, ADD fails */
	annotate(pod, "annotations", "traffic.sidecar.istio.io/excludeOutboundIPRanges", "10.0.0.1/8");
	cni_decide(pod, NULL, &d);
	assert_int_equal(d.verdict, CNI_MESH);
	assert_int_equal(podinit_parse(d.argc, d.argv, NULL, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "10.0.0.1/8"));
	annotate(pod, "annotations", "traffic.sidecar.istio.io/excludeOutboundIPRanges", NULL);
	annotate(pod, "annotations", "traffic.sidecar.istio.io/excludeInterfaces", "eth1");
	cni_decide(pod, NULL, &d);
	assert_int_equal(podinit_parse(d.argc, d.argv, NULL, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "interface"));
	json_object_put(pod);
}

static void test_linkerd(void **state)
{
	struct json_object *pod = fixture("linkerd-api.json");
	struct json_object *ns = json_tokener_parse(
		"{\"kind\":\"Namespace\",\"metadata\":{\"name\":\"shop\",\"annotations\":{"
		"\"config.linkerd.io/skip-outbound-ports\":\"5432\","
		"\"config.linkerd.io/skip-inbound-ports\":\"9999\"}}}");
	struct podinit_opts o;
	char *y;

	(void)state;
	y = policy_yaml(pod, ns, &o);
	assert_true(o.linkerd);
	assert_int_equal(o.policy.inbound_port, 4143);
	assert_int_equal(o.policy.outbound_port, 4140);
	assert_int_equal(o.policy.proxy_uid, 2102);
	/* the pod's own skip-outbound-ports wins over the namespace's */
	assert_int_equal(o.policy.out_exclude_ports.n, 1);
	assert_int_equal(o.policy.out_exclude_ports.v[0], 3306);
	/* skip-inbound-ports from the namespace, appended to 4191,4190 */
	assert_int_equal(o.policy.in_exclude_ports.n, 3);
	assert_int_equal(o.policy.in_exclude_src_cidrs.n, 1);
	free(y);
	config_free(&o.policy);
	json_object_put(ns);
	json_object_put(pod);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_injected_pod_parity),
		cmocka_unit_test(test_skip_rules),
		cmocka_unit_test(test_native_sidecar),
		cmocka_unit_test(test_interception_mode),
		cmocka_unit_test(test_annotations),
		cmocka_unit_test(test_linkerd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
