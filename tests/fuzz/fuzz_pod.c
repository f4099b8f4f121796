// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer target: any bytes as the API server's answer for a pod, through CNI mode's
 * decision and, for a pod it meshes, pod-init's flag parser and the policy compiler: what
 * the daemon does with an object it cannot trust to be well-formed.
 */
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>
#include "cni_decide.h"
#include "podinit.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *pod;
	static struct cni_decision d;
	struct podinit_opts o;
	struct shunt_policy pol;
	char err[256];

	if (!tok)
		return 0;
	pod = json_tokener_parse_ex(tok, (const char *)data, (int)size);
	if (pod) {
		/* the pod as its own namespace object: the Linkerd fallback reads it too */
		cni_decide(pod, pod, &d);
		if (d.verdict == CNI_MESH && !podinit_parse(d.argc, d.argv, NULL, &o, err, sizeof(err))) {
			if (!policy_compile(&o.policy, 1, 0, 1, &pol))
				policy_free(&pol);
			config_free(&o.policy);
		}
		json_object_put(pod);
	}
	json_tokener_free(tok);
	return 0;
}
