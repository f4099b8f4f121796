/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * shunt doctor: can this node run shunt, and is the shunt on it healthy? One line per check
 * with its fix: the kernel's program types, attach types, helpers, kfuncs and map types
 * that shunt's own BPF object uses (probed), cgroup2, bpffs, the pin directory (ABI, links
 * alive), other programs on shunt's cgroup hooks, and per meshed pod: the proxy listening,
 * the inbound link, the addresses, iptables nat rules left by istio-init or istio-cni.
 */
#ifndef SHUNT_DOCTOR_H
#define SHUNT_DOCTOR_H

#include <stdbool.h>

struct doctor_opts {
	const char *pin_dir;
	const char *cgroup;  /* NULL: the cgroup2 root */
	bool json;
};

/* 0 when every check passed, 1 when one failed (each said on stdout). */
int doctor_run(const struct doctor_opts *o);

#endif
