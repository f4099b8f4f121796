/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Installing the CNI plugin on a node, as istio-cni's install-cni does: the plugin binary into
 * the host's CNI bin directory (atomically: a temporary file renamed over the old one), and
 * shunt-cni appended to the first network configuration of the host's CNI conf directory (by
 * name, as the container runtime picks it): a .conflist gets any old shunt-cni entry removed
 * and a fresh one appended last, its file mode kept; a lone .conf is wrapped into a .conflist
 * with the plugin appended (the .conf removed). Uninstall removes the entry and the binary.
 * `shunt cni-install` runs it once; `shunt run --cni-install` keeps it installed (another
 * agent that rewrites the file gets shunt-cni appended again) and is not ready until it is.
 */
#ifndef SHUNT_CNI_INSTALL_H
#define SHUNT_CNI_INSTALL_H

#include <stdbool.h>
#include <stddef.h>

#define CNI_BIN_DIR_DEFAULT "/opt/cni/bin"
#define CNI_CONF_DIR_DEFAULT "/etc/cni/net.d"

struct cni_install_opts {
	const char *bin_dir;      /* where the runtime finds plugins */
	const char *conf_dir;     /* where the runtime finds network configurations */
	const char *plugin;       /* the shunt-cni binary to copy; NULL: next to this shunt */
	const char *socket;       /* the daemon's socket, written into the entry */
	bool log_json;            /* --log-format json: the plugin logs JSON too ("log_format") */
};

/* Install (or repair) the binary and the entry. 0 done, 1 already in place (nothing
 * written), or -errno with one sentence in msg. */
int cni_install(const struct cni_install_opts *o, char *msg, size_t len);
/* The conflist file that holds shunt-cni's entry now, into path; false if none. */
bool cni_installed(const struct cni_install_opts *o, char *path, size_t len);
/* Remove shunt-cni's entry from every conflist of conf_dir, and the binary. 0, or -errno. */
int cni_uninstall(const struct cni_install_opts *o, char *msg, size_t len);

#endif
