/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * shunt run: stays in the foreground and keeps the meshed pods up to date as namespaces
 * appear and disappear (inotify on /run/netns, the kernel's own detections in the workload
 * map, and a periodic rescan of /proc for unnamed namespaces), and registers pods that ask
 * over the pod-init socket (podreg.h). SIGHUP re-reads the config and applies it, and so
 * does a change of the config file (its directory is watched: a ConfigMap's ..data swap, an
 * editor's rename, a rewrite); SIGTERM/SIGINT exit and leave everything attached. With
 * --listen it serves /healthz, /readyz and /metrics (httpd.h).
 */
#ifndef SHUNT_DAEMON_H
#define SHUNT_DAEMON_H

#include <stdbool.h>
#include "config.h"

struct cni_install_opts;

struct daemon_opts {
	const char *pin_dir;
	const char *config_path;   /* re-read on SIGHUP; NULL = the embedded default */
	bool adopt;                /* an earlier shunt loaded what is pinned */
	const char *socket_path;   /* where pod-init registers pods */
	const char *listen;        /* --listen ADDR:PORT for /healthz /readyz /metrics; NULL off */
	const char *version;       /* for shunt_build_info */
	const char *kubeconfig;    /* CNI mode's API server; NULL: in-cluster if there is one */
	unsigned kube_timeout_s;   /* how long a CNI ADD retries the API server */
	const struct cni_install_opts *cni;  /* --cni-install: keep the plugin installed */
	const char *node_name;     /* this node (--node-name, $NODE_NAME): CNI repair lists its pods */
};

int daemon_run(const struct daemon_opts *o, struct shunt_config *conf);
/* A node whose kernel cannot run shunt (why): with --listen, serve /healthz 200 and /readyz
 * 503 saying why until SIGTERM, so the DaemonSet's pod shows not-ready with one log line
 * instead of a crash loop (a restart would not change the kernel). Without, return -ENOTSUP. */
int daemon_unsupported(const struct daemon_opts *o, const char *why);

#endif
