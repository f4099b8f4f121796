/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * shunt explain: what would happen to one outbound connection from a pod, answered from the
 * live maps with the decision function the connect program runs (shunt_decide.h): whether
 * the pod is meshed, which policy applies, which rule decides, where the connection goes
 * and what the proxy reads as its original destination.
 */
#ifndef SHUNT_EXPLAIN_H
#define SHUNT_EXPLAIN_H

#include <stdbool.h>

struct explain_opts {
	const char *pin_dir;
	const char *pod;     /* a netns: NAME under /run/netns, a path, or NULL */
	int pid;             /* or a process of the pod (0: none) */
	long long uid, gid;  /* the caller's; -1: an app process (not the proxy's ids) */
	bool proxy;          /* the caller is the proxy (its uid, gid and cgroup) */
	bool udp;
	const char *src;     /* the socket's bound source address, or NULL */
	const char *dst;     /* ADDR:PORT or [ADDR6]:PORT */
	bool json;
};

/* Prints the answer; returns 0, or -errno with the reason on stderr (2 for bad input). */
int explain_outbound(const struct explain_opts *o);

#endif
