/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * CNI mode's decision: is this Kubernetes pod meshed, and with which policy? The same rules
 * as istio-cni (cni/pkg/plugin: which pods are skipped, every annotation with its default,
 * the proxy's uid/gid from the istio-proxy container, DNS capture from its env) and as
 * linkerd-cni (a linkerd-proxy container, config.linkerd.io annotations with the namespace
 * fallback). The outcome is the istio-iptables (or proxy-init) argument list those plugins
 * would run, so the policy comes from pod-init's own parser: an annotation set gives exactly
 * the policy of the same flags (one code path).
 *
 * Pure: JSON in, a decision out; no I/O.
 */
#ifndef SHUNT_CNI_DECIDE_H
#define SHUNT_CNI_DECIDE_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;

enum cni_verdict {
	CNI_MESH,    /* mesh the pod with args */
	CNI_SKIP,    /* not a meshed pod: pass, untouched (why says which rule) */
	CNI_REFUSE,  /* a meshed pod shunt cannot serve as asked: fail ADD (why) */
};

#define CNI_MAX_ARGS 40

struct cni_decision {
	enum cni_verdict verdict;
	bool linkerd;                    /* args are proxy-init's */
	int argc;
	char *argv[CNI_MAX_ARGS];        /* point into buf */
	char why[256];
	char buf[8192];
	size_t used;
};

/* pod: the pod object as the API server returns it; ns: its namespace object or NULL
 * (Linkerd's annotation fallback). */
void cni_decide(const struct json_object *pod, const struct json_object *ns,
		struct cni_decision *d);

#endif
