/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * CNI mode, the daemon's side. The node's shunt-cni plugin (user/cni_plugin.c) hands each
 * ADD, DEL and CHECK to `shunt run` over the pod-init socket and waits for the verdict:
 *
 *   "shunt-cni 1\n" then "key=value\n" lines: command (ADD|DEL|CHECK), netns (the CNI_NETNS
 *   path), container (CNI_CONTAINERID), namespace, name, uid (from CNI_ARGS)
 *
 * answered by one line: "ok ..." (meshed / unmeshed / as asked), "skip ..." (not a meshed
 * pod: passed through untouched) or "error: ..." (ADD fails; the kubelet retries the sandbox).
 *
 * The caller must be root in the node's own network namespace, as a CNI plugin run by the
 * container runtime is; a pod's process that reaches the socket is refused. The pod is looked
 * up in the Kubernetes API (kube.h) and decided as istio-cni or linkerd-cni would
 * (cni_decide.h); its policy comes from pod-init's flag parser. ADD returns only once the
 * pod's netns is meshed fail-closed; any failure leaves nothing of it in the maps.
 * Each request runs in its own thread: a slow API server does not hold up the daemon.
 */
#ifndef SHUNT_CNI_H
#define SHUNT_CNI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "apply.h"

#define CNI_MAGIC "shunt-cni 1\n"

struct kube_client;

struct cni_service {
	const struct apply_target *t;
	const char *pin_dir;
	struct kube_client *kube;     /* NULL: no API server configured (ADD of a pod fails) */
	unsigned kube_timeout_s;      /* how long ADD retries the API server */
	uint64_t *ok, *refused;       /* the daemon's counters (atomic adds) */
	uint64_t changes;             /* pods meshed or unmeshed by CNI requests (atomic): the
	                               * daemon's loop does not rescan the node for those */
	dev_t host_dev;               /* the node's netns, taken before any thread enters a pod's: */
	ino_t host_ino;               /* /proc/self/ns/net follows the main thread's setns() */
};

/* Record the node's network namespace (the calling thread's, now) in svc. 0 or -errno. */
int cni_service_init(struct cni_service *svc);
/* Serve one CNI request whose bytes (after the magic) are req; takes conn and req and
 * answers from a thread of its own. */
void cni_serve(const struct cni_service *svc, int conn, char *req);

/* Pods of this node that started before the plugin was in place (node boot, first
 * install): list them from the API (spec.nodeName), find each one's netns by its pod IP
 * among the node's namespaces, and mesh those that should be and are not, from now on.
 * Istio pods only (Linkerd's need their namespace too: a restart does it). Returns how many
 * were meshed, or -errno. */
struct shunt_config;
int cni_repair(const struct cni_service *svc, const char *node, const struct shunt_config *conf);

#endif
