/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The daemon's side of pod-init: a Unix socket where a pod's init container registers its
 * own network namespace. Who the caller is comes from the kernel (SO_PEERCRED, a pidfd,
 * the process's netns), never from what it sends: a pod can configure itself and nobody
 * else.
 */
#ifndef SHUNT_PODREG_H
#define SHUNT_PODREG_H

#include <stdarg.h>
#include <sys/types.h>
#include "apply.h"
#include "config.h"

/* Listen at path (its directory is created); a stale socket nobody answers on is replaced,
 * a live one (another shunt) is an error. Returns the listening fd or -errno, and the socket
 * file's inode in *ino. */
int podreg_listen(const char *path, ino_t *ino);
/* Close; remove the socket file if it is still the one bound (inode ino). */
void podreg_close(int fd, const char *path, ino_t ino);
/* Serve every pending connection on the listening fd: read the request, find the caller's
 * netns, check it may be meshed, mesh it with the node policy `node` overlaid by the
 * request, answer (counted in *meshed or *refused). pin_dir is locked around the map writes. */
/* The one answer line of the socket's protocols (pod-init's and CNI's): fmt, a newline.
 * 0 or -errno. */
int podreg_vanswer(int fd, const char *fmt, va_list ap);
struct cni_service;
/* A CNI plugin's request (cni.h) on the same socket is handed to cni. */
void podreg_serve(int lfd, const struct apply_target *t, const struct shunt_config *node,
		  const char *pin_dir, uint64_t *meshed, uint64_t *refused,
		  const struct cni_service *cni);

#endif
