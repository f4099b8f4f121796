/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * shunt pod-init: the init container's command. Its arguments are istio-iptables' (or
 * Linkerd proxy-init's) flags with their names, defaults and meanings; they become one pod
 * policy, sent to the node's `shunt run` over a Unix socket. The daemon meshes the caller's
 * own network namespace (from the socket's peer), never one the caller names.
 *
 * The wire: the client writes "shunt-pod-init 1\n" and the policy as YAML (the keys of a
 * workload entry), then shuts its side down; the daemon answers one line, "ok ..." or
 * "error: ...", and closes.
 */
#ifndef SHUNT_PODINIT_H
#define SHUNT_PODINIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "config.h"

#define PODINIT_SOCKET_DEFAULT "/var/run/shunt/shunt.sock"
#define PODINIT_MAGIC "shunt-pod-init 1\n"
/* An optional first line of the policy YAML (a comment to any other reader): the pod's name */
#define PODINIT_POD_LINE "# shunt-pod: "
#define PODINIT_MAX_REQUEST (1u << 20)

struct podinit_opts {
	const char *socket_path;   /* --socket, $SHUNT_SOCKET, or the default */
	unsigned timeout_s;        /* --timeout: how long to wait for the daemon */
	bool dry_run;              /* -n / --dry-run / --simulate: print the policy, send nothing */
	bool help;
	bool linkerd;              /* the arguments are proxy-init's */
	int acceleration;          /* --acceleration: enum config_accel, -1 the node's */
	const char *resolv_conf;   /* --resolv-conf: the pod's nameservers (/etc/resolv.conf) */
	char note[256];            /* a warning for the user (DNS asked for but no nameserver) */
	char pod[320];             /* $POD_NAMESPACE/$POD_NAME (downward API), or "" */
	bool log_json;             /* --log_as_json: messages as JSON objects */
	struct shunt_config policy;/* what the flags mean (policy keys only) */
};

/* Parse argv (after "pod-init") and the environment variables istio-iptables reads
 * (getenv may be NULL: no environment). 0, or -EINVAL with one line in err naming the flag.
 * opts->policy must be freed with config_free() after a 0 return. */
int podinit_parse(int argc, char **argv, char *(*getenv_fn)(const char *), struct podinit_opts *o,
		  char *err, size_t errlen);
void podinit_usage(FILE *f);
/* Send the policy to the daemon and wait for its answer. Returns the exit code: 0 meshed,
 * 1 not (with one line on stderr saying why). */
int podinit_run(const struct podinit_opts *o);

#endif
