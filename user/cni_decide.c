// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* See cni_decide.h. The rules and defaults follow istio-cni (cni/pkg/plugin/plugin.go,
 * sidecar_redirect.go) and linkerd-cni (cni-plugin/main.go); the code is shunt's own. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <json-c/json.h>
#include "cni_decide.h"

static const char *str_at(const struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static struct json_object *obj_at(const struct json_object *o, const char *key, json_type t)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t))
		return NULL;
	return v;
}

/* metadata.{annotations,labels}[key] */
static const char *meta(const struct json_object *obj, const char *map, const char *key)
{
	return str_at(obj_at(obj_at(obj, "metadata", json_type_object), map, json_type_object), key);
}

/* A container by name among spec.containers and spec.initContainers (native sidecars). */
static struct json_object *container(const struct json_object *pod, const char *name)
{
	static const char *const lists[] = { "containers", "initContainers" };
	struct json_object *spec = obj_at(pod, "spec", json_type_object);

	for (size_t l = 0; l < 2; l++) {
		struct json_object *a = obj_at(spec, lists[l], json_type_array);

		for (size_t i = 0; a && i < json_object_array_length(a); i++) {
			struct json_object *c = json_object_array_get_idx(a, i);
			const char *n = str_at(c, "name");

			if (n && !strcmp(n, name))
				return c;
		}
	}
	return NULL;
}

/* A literal env value of a container (valueFrom is not resolved, as istio-cni does). */
static const char *env_of(const struct json_object *c, const char *name)
{
	struct json_object *a = obj_at(c, "env", json_type_array);

	for (size_t i = 0; a && i < json_object_array_length(a); i++) {
		struct json_object *e = json_object_array_get_idx(a, i);
		const char *n = str_at(e, "name");

		if (n && !strcmp(n, name))
			return str_at(e, "value");
	}
	return NULL;
}

/* securityContext.runAsUser / runAsGroup as a string, or NULL when missing or 0. */
static const char *run_as(const struct json_object *c, const char *key, char *buf, size_t len)
{
	struct json_object *sc = obj_at(c, "securityContext", json_type_object), *v;
	int64_t id;

	if (!sc || !json_object_object_get_ex(sc, key, &v) || !json_object_is_type(v, json_type_int))
		return NULL;
	id = json_object_get_int64(v);
	if (id <= 0 || id > 0xffffffffLL)
		return NULL;
	snprintf(buf, len, "%lld", (long long)id);
	return buf;
}

static void set_why(struct cni_decision *d, enum cni_verdict v, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_why(struct cni_decision *d, enum cni_verdict v, const char *fmt, ...)
{
	va_list ap;

	d->verdict = v;
	va_start(ap, fmt);
	vsnprintf(d->why, sizeof(d->why), fmt, ap);
	va_end(ap);
}

/* Append one argument (copied into d->buf). False when full. */
static bool arg(struct cni_decision *d, const char *s)
{
	size_t n = strlen(s) + 1;

	if (d->argc >= CNI_MAX_ARGS - 1 || d->used + n > sizeof(d->buf))
		return false;
	memcpy(d->buf + d->used, s, n);
	d->argv[d->argc++] = d->buf + d->used;
	d->used += n;
	return true;
}

static bool flag(struct cni_decision *d, const char *name, const char *value)
{
	return arg(d, name) && arg(d, value);
}

/* The comma list `list` then `more`, each item once, in order, blanks trimmed (istio-cni
 * appends its always-excluded inbound ports this way; linkerd-cni its skip-inbound-ports). */
static void join_unique(char *out, size_t len, const char *list, const char *more)
{
	char all[2200], *save = NULL;
	size_t o = 0;

	out[0] = '\0';
	snprintf(all, sizeof(all), "%s,%s", list ? list : "", more ? more : "");
	for (char *t = strtok_r(all, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		const char *p = out;
		size_t tl;
		bool dup = false;

		while (*t == ' ')
			t++;
		tl = strlen(t);
		while (tl && t[tl - 1] == ' ')
			t[--tl] = '\0';
		if (!tl)
			continue;
		while (*p && !dup) {
			size_t l = strcspn(p, ",");

			dup = l == tl && !strncmp(p, t, l);
			p += l + (p[l] == ',');
		}
		if (!dup && o + tl + 2 < len)
			o += (size_t)snprintf(out + o, len - o, "%s%s", o ? "," : "", t);
	}
}

static void decide_istio(const struct json_object *pod, struct json_object *proxy,
			 struct cni_decision *d)
{
	const char *v, *mode;
	char ports[1100], uid[24], gid[24];
	struct json_object *args = obj_at(proxy, "args", json_type_array);

	v = env_of(proxy, "DISABLE_ENVOY");
	if (v && !strcasecmp(v, "true"))
		return set_why(d, CNI_SKIP, "istio-proxy has DISABLE_ENVOY=true");
	/* args "proxy <type>": a gateway or router is not a sidecar */
	if (args && json_object_array_length(args) >= 2) {
		const char *a0 = json_object_get_string(json_object_array_get_idx(args, 0));
		const char *a1 = json_object_get_string(json_object_array_get_idx(args, 1));

		if (a0 && a1 && !strcmp(a0, "proxy") && strcmp(a1, "sidecar"))
			return set_why(d, CNI_SKIP, "istio-proxy runs as '%s', not a sidecar", a1);
	}
	v = meta(pod, "labels", "sidecar.istio.io/inject");
	if (!v)
		v = meta(pod, "annotations", "sidecar.istio.io/inject");
	if (v && !strcasecmp(v, "false"))
		return set_why(d, CNI_SKIP, "sidecar.istio.io/inject is false");
	if (!meta(pod, "annotations", "sidecar.istio.io/status"))
		return set_why(d, CNI_SKIP, "no sidecar.istio.io/status annotation (not injected)");

	mode = meta(pod, "annotations", "sidecar.istio.io/interceptionMode");
	if (mode && !strcmp(mode, "TPROXY"))
		return set_why(d, CNI_REFUSE, "sidecar.istio.io/interceptionMode is TPROXY: shunt has "
			       "no TPROXY mode (it steers inbound with sk_lookup); use REDIRECT");
	if (mode && strcmp(mode, "REDIRECT"))
		return set_why(d, CNI_REFUSE, "sidecar.istio.io/interceptionMode: '%s' is neither "
			       "REDIRECT nor TPROXY", mode);

	/* istio-cni's fixed ports, then the annotations with their defaults */
	flag(d, "-p", "15001");
	flag(d, "-z", "15006");
	flag(d, "-e", "15008");
	flag(d, "-u", run_as(proxy, "runAsUser", uid, sizeof(uid)) ?: "1337");
	flag(d, "-g", run_as(proxy, "runAsGroup", gid, sizeof(gid)) ?: "1337");
	flag(d, "-m", "REDIRECT");
	v = meta(pod, "annotations", "traffic.sidecar.istio.io/includeOutboundIPRanges");
	flag(d, "-i", v ? v : "*");
	v = meta(pod, "annotations", "traffic.sidecar.istio.io/excludeOutboundIPRanges");
	flag(d, "-x", v ? v : "");
	v = meta(pod, "annotations", "traffic.sidecar.istio.io/includeInboundPorts");
	flag(d, "-b", v ? v : "*");
	v = meta(pod, "annotations", "traffic.sidecar.istio.io/excludeInboundPorts");
	join_unique(ports, sizeof(ports), v ? v : "15020", "15020,15021,15090");
	flag(d, "-d", ports);
	v = meta(pod, "annotations", "traffic.sidecar.istio.io/excludeOutboundPorts");
	flag(d, "-o", v ? v : "15020");
	v = meta(pod, "annotations", "traffic.sidecar.istio.io/includeOutboundPorts");
	flag(d, "-q", v ? v : "");
	v = meta(pod, "annotations", "istio.io/reroute-virtual-interfaces");
	if (!v)
		v = meta(pod, "annotations", "traffic.sidecar.istio.io/kubevirtInterfaces");
	if (v && *v)
		flag(d, "-k", v);
	v = meta(pod, "annotations", "traffic.sidecar.istio.io/excludeInterfaces");
	if (v && *v)
		flag(d, "-c", v);
	v = env_of(proxy, "ISTIO_META_DNS_CAPTURE");
	if (v && !strcasecmp(v, "true")) {
		/* istio-cni: DNS redirect with capture-all (no nameserver list to read) */
		arg(d, "--redirect-dns");
		arg(d, "--capture-all-dns");
		flag(d, "--resolv-conf", "/dev/null");
	}
	if (!arg(d, "--run-validation")) /* a no-op that proves the list did not overflow */
		return set_why(d, CNI_REFUSE, "the pod's annotations are too long");
	d->argc--;
	d->verdict = CNI_MESH;
	snprintf(d->why, sizeof(d->why), "istio sidecar");
}

/* Pod first, then its namespace (linkerd-cni's fallback). */
static const char *linkerd_ann(const struct json_object *pod, const struct json_object *ns,
			       const char *key)
{
	const char *v = meta(pod, "annotations", key);

	return v ? v : meta(ns, "annotations", key);
}

static void decide_linkerd(const struct json_object *pod, const struct json_object *ns,
			   struct cni_decision *d)
{
	const char *v, *in_ignore;
	char ports[1100];

	d->linkerd = true;
	/* linkerd-cni's defaults (its chart: proxy 4143/4140, uid 2102, admin 4191 and 4190) */
	flag(d, "--incoming-proxy-port", "4143");
	flag(d, "--outgoing-proxy-port", "4140");
	v = linkerd_ann(pod, ns, "config.linkerd.io/proxy-uid");
	flag(d, "--proxy-uid", v ? v : "2102");
	v = linkerd_ann(pod, ns, "config.linkerd.io/proxy-gid");
	if (v)
		flag(d, "--proxy-gid", v);
	/* skip-inbound-ports is appended to the defaults */
	in_ignore = linkerd_ann(pod, ns, "config.linkerd.io/skip-inbound-ports");
	join_unique(ports, sizeof(ports), "4191,4190", in_ignore);
	flag(d, "--inbound-ports-to-ignore", ports);
	v = linkerd_ann(pod, ns, "config.linkerd.io/skip-outbound-ports");
	if (v)
		flag(d, "--outbound-ports-to-ignore", v);
	v = linkerd_ann(pod, ns, "config.linkerd.io/skip-subnets");
	if (v)
		flag(d, "--subnets-to-ignore", v);
	if (!arg(d, "--simulate=false"))
		return set_why(d, CNI_REFUSE, "the pod's annotations are too long");
	d->argc--;
	d->verdict = CNI_MESH;
	snprintf(d->why, sizeof(d->why), "linkerd proxy");
}

void cni_decide(const struct json_object *pod, const struct json_object *ns,
		struct cni_decision *d)
{
	struct json_object *proxy;

	memset(d, 0, sizeof(*d));
	if (!json_object_is_type(pod, json_type_object) || !obj_at(pod, "spec", json_type_object))
		return set_why(d, CNI_REFUSE, "the API server's answer is not a pod object");
	if (container(pod, "istio-init"))
		return set_why(d, CNI_SKIP, "the pod has an istio-init container (it meshes itself)");
	if (container(pod, "linkerd-init"))
		return set_why(d, CNI_SKIP, "the pod has a linkerd-init container (it meshes itself)");
	proxy = container(pod, "istio-proxy");
	if (proxy)
		return decide_istio(pod, proxy, d);
	if (container(pod, "linkerd-proxy"))
		return decide_linkerd(pod, ns, d);
	set_why(d, CNI_SKIP, "no istio-proxy or linkerd-proxy container");
}
