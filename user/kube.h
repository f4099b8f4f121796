/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The least Kubernetes API client CNI mode needs: GET one object as JSON (libcurl, json-c).
 * The server, CA and token come from a kubeconfig (`shunt run --kubeconfig PATH`: the current
 * context's cluster.server, certificate-authority[-data], insecure-skip-tls-verify, and
 * user.token or user.tokenFile; `http://` servers work too, for labs and tests) or from the
 * in-cluster environment (KUBERNETES_SERVICE_HOST/PORT and the ServiceAccount's token and
 * ca.crt). A token file is read again for every request, so a rotated token is used at once.
 */
#ifndef SHUNT_KUBE_H
#define SHUNT_KUBE_H

#include <stddef.h>

struct json_object;
struct kube_client;

#define KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define KUBE_MAX_OBJECT (4u << 20)   /* a pod object larger than this is refused */

/* kubeconfig NULL: in-cluster. 0, or -EINVAL/-ENOENT with one sentence in err. */
int kube_open(const char *kubeconfig, struct kube_client **out, char *err, size_t errlen);
/* GET path (e.g. /api/v1/namespaces/NS/pods/NAME), one try. 0 with *obj (json_object_put
 * it), or -errno with *status the HTTP status (0: no answer) and one sentence in err. */
int kube_get(struct kube_client *k, const char *path, struct json_object **obj, long *status,
	     char *err, size_t errlen);
void kube_close(struct kube_client *k);
/* Where it talks to, for logs. */
const char *kube_server(const struct kube_client *k);

#endif
