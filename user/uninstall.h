/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * shunt uninstall: take shunt off a node without breaking a running pod, as istio-cni's
 * uninstall does. The CNI plugin is removed (new pods start without it), the node's policy is
 * rewritten draining (SHUNT_CFG_DRAIN: the kernel's detection and the scan mesh no new pod,
 * the meshed ones stay meshed), then it waits until the last meshed pod is gone and unloads:
 * nothing attached, nothing pinned. `shunt run` must be stopped first (it would mesh new pods
 * again); pod-init templates must be gone too (their init container waits for a shunt run).
 */
#ifndef SHUNT_UNINSTALL_H
#define SHUNT_UNINSTALL_H

#include "config.h"

struct cni_install_opts;

struct uninstall_opts {
	const char *pin_dir;
	const char *socket;                   /* where a running shunt run would answer */
	const struct cni_install_opts *cni;   /* the plugin's directories */
	unsigned timeout_s;                   /* 0: wait as long as pods are meshed */
};

/* 0 when uninstalled (or nothing was installed); -ETIMEDOUT with pods still meshed (left
 * draining, loaded); -EBUSY when a shunt run answers; another -errno, said. */
int uninstall_run(const struct uninstall_opts *o, struct shunt_config *conf);

#endif
