// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* See daemon.h. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <libgen.h>
#include <limits.h>
#include "apply.h"
#include "cni.h"
#include "cni_install.h"
#include "kube.h"
#include "daemon.h"
#include "httpd.h"
#include "log.h"
#include "maps.h"
#include "pins.h"
#include "podreg.h"
#include "trace.h"

#define TICK_MS        100   /* how often the workload map is checked for kernel detections */
#define FULL_SCAN_MS  2000   /* how often /proc is rescanned regardless */
#define GONE_CHECK_MS  400   /* how often pods' sk_lookup links are checked for a gone netns */

static __u64 now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000 + (__u64)ts.tv_nsec / 1000000;
}

/* A cheap fingerprint of the workload map's keys: changes when the kernel meshes a pod. */
static __u64 workload_keys_sum(const struct shunt_maps *m)
{
	__u64 key, next, sum = 0, n = 0;
	void *prev = NULL;

	while (!bpf_map_get_next_key(m->fd[MAP_NETNS], prev, &next)) {
		sum += next * 0x9e3779b97f4a7c15ull;
		n++;
		key = next;
		prev = &key;
	}
	return sum ^ n;
}

/* The bytes of the config file last read (applied or refused), to tell a change of the file
 * from an unrelated event in its directory. */
struct config_watch {
	int wd;                /* on the config file's directory, -1 none */
	char *bytes;
	size_t len;
};

/* run --cni-install: put the plugin in place, or back when another agent rewrote the
 * network configuration. Cheap when it is there (one directory read, one file parse). */
static void keep_cni_installed(const struct daemon_opts *o, struct report_daemon_stats *ds)
{
	char path[4096], msg[1024];
	int err;

	if (!o->cni || cni_installed(o->cni, path, sizeof(path)))
		return;
	err = cni_install(o->cni, msg, sizeof(msg));
	if (err < 0) {
		/* said once per state change: the conf dir may stay empty for a while */
		if (__atomic_load_n(&ds->cni_plugin, __ATOMIC_RELAXED) != 1)
			log_warn("CNI plugin not installed yet: %s", msg);
		__atomic_store_n(&ds->cni_plugin, 1, __ATOMIC_RELAXED);
		return;
	}
	log_info("CNI plugin: %s", msg);
	__atomic_store_n(&ds->cni_plugin, 2, __ATOMIC_RELAXED);
}

/* Read the configuration once and apply what was read. With only_if_changed, a file whose
 * bytes are those last read is left alone (1). */
static int reload_config(const struct daemon_opts *o, struct shunt_config *conf,
			 const struct apply_target *t, const char *why, bool only_if_changed,
			 struct config_watch *cw, struct report_daemon_stats *ds)
{
	struct config_errors errs = { 0 };
	struct shunt_config next;
	__u32 gen = 0;
	char *bytes = NULL;
	size_t len = 0;
	int err;

	if (!o->config_path) {
		err = config_load_default(&next, &errs);
	} else {
		err = config_read_file(o->config_path, &bytes, &len, &errs);
		if (err && only_if_changed) {
			/* gone for a moment (an editor's rename): the next event tells */
			config_errors_free(&errs);
			return 1;
		}
		if (!err && only_if_changed && cw->bytes && len == cw->len &&
		    !memcmp(bytes, cw->bytes, len)) {
			free(bytes);
			return 1;
		}
		if (!err) {
			free(cw->bytes);
			cw->bytes = bytes;
			cw->len = len;
			err = config_parse(o->config_path, bytes, len, &next, &errs);
			if (err)
				config_free(&next);
		}
	}
	if (!err) {
		err = apply_config(t, &next, &errs, &gen);
		if (!err) {
			config_free(conf);
			*conf = next;
			log_info("%s: applied %s as generation %u", why, conf->source, gen);
		} else {
			config_free(&next);
		}
	}
	if (err) {
		config_errors_print(&errs);
		log_err("%s: configuration not applied; the running policy is unchanged", why);
	}
	__atomic_add_fetch(err ? &ds->reloads_failed : &ds->reloads_ok, 1, __ATOMIC_RELAXED);
	config_errors_free(&errs);
	return err;
}

static void reload_locked(const struct daemon_opts *o, struct shunt_config *conf,
			  const struct apply_target *t, const char *why, bool only_if_changed,
			  struct config_watch *cw, struct report_daemon_stats *ds)
{
	int lock = pins_lock(o->pin_dir, false);

	if (lock >= 0) {
		reload_config(o, conf, t, why, only_if_changed, cw, ds);
		pins_unlock(lock);
	}
}

int daemon_unsupported(const struct daemon_opts *o, const char *why)
{
	struct report_daemon_stats ds = { .version = o->version, .unsupported = why };
	uint64_t heartbeat = now_ms();
	struct httpd *http;
	sigset_t mask;
	int sig = 0;

	if (!o->listen) {
		log_err("%s", why);
		return -ENOTSUP;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	http = httpd_start(o->listen, o->pin_dir, &ds, &heartbeat);
	if (!http)
		return -EADDRNOTAVAIL;
	log_fields(LOG_ERR, LOG_F({ "event", "node_unsupported" }, { "reason", why }),
		   "this node cannot run shunt (%s): nothing is loaded, no pod is meshed; /readyz "
		   "says so until the pod is removed", why);
	for (;;) {
		struct timespec ts = { .tv_sec = 1 };

		__atomic_store_n(&heartbeat, now_ms(), __ATOMIC_RELAXED);
		sig = sigtimedwait(&mask, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			break;
	}
	httpd_stop(http);
	return 0;
}

/* The inotify descriptor: /run/netns (`ip netns add` creates /run/netns/NAME: heard at once)
 * and the configuration file's directory (cw->wd), with what is in force read into cw. -1
 * when inotify is unavailable (the full scans and SIGHUP still work). */
static int watch_start(const struct daemon_opts *o, struct config_watch *cw)
{
	int ifd;

	mkdir("/run/netns", 0755);
	ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ifd >= 0 && inotify_add_watch(ifd, "/run/netns", IN_CREATE | IN_DELETE | IN_MOVED_TO) < 0)
		log_warn("cannot watch /run/netns: %s (rescanning every %d ms instead)",
			 strerror(errno), FULL_SCAN_MS);
	if (ifd >= 0 && o->config_path) {
		/* The directory, not the file: a ConfigMap volume swaps its ..data symlink and an
		 * editor renames over the file, and a watch on the file would lose both. */
		char dir[PATH_MAX];

		snprintf(dir, sizeof(dir), "%s", o->config_path);
		cw->wd = inotify_add_watch(ifd, dirname(dir), IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE |
						       IN_DELETE | IN_ATTRIB);
		if (cw->wd < 0)
			log_warn("cannot watch %s: %s (SIGHUP re-reads the configuration)", dir,
				 strerror(errno));
		else {
			struct config_errors errs = { 0 };

			/* what is in force now; unreadable, the first event reads it again */
			config_read_file(o->config_path, &cw->bytes, &cw->len, &errs);
			config_errors_free(&errs);
		}
	}
	return ifd;
}

/* Every pending inotify event: did the configuration's directory change, did /run/netns? */
static void watch_read(int ifd, const struct config_watch *cw, bool *config, bool *netns)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(ifd, buf, sizeof(buf))) > 0) {
		for (char *e = buf; e < buf + n;) {
			const struct inotify_event *ev = (const void *)e;

			if (ev->wd == cw->wd)
				*config = true;
			else
				*netns = true;
			e += sizeof(*ev) + ev->len;
		}
	}
}

/* One refresh of the node's pods under the pin lock; says how many are meshed when that
 * changed. false: the lock was not to be had (the next tick tries again). */
static bool refresh(const struct daemon_opts *o, struct apply_target *t, struct shunt_config *conf,
		    int *meshed)
{
	int lock = pins_lock(o->pin_dir, false);
	int n;

	if (lock < 0)
		return false;
	n = apply_refresh(t, conf);
	pins_unlock(lock);
	if (n >= 0 && n != *meshed) {
		log_info("%d meshed pods", n);
		*meshed = n;
	}
	return true;
}

int daemon_run(const struct daemon_opts *o, struct shunt_config *conf)
{
	struct apply_target t;
	struct report_daemon_stats ds = { .version = o->version };
	struct config_watch cw = { .wd = -1 };
	struct httpd *http = NULL;
	struct kube_client *kube = NULL;
	struct cni_service cni = { .t = &t, .pin_dir = o->pin_dir, .ok = &ds.cni_ok,
				   .refused = &ds.cni_failed,
				   .kube_timeout_s = o->kube_timeout_s ? o->kube_timeout_s : 30 };
	uint64_t heartbeat = 0;
	struct shunt_maps m;
	sigset_t mask;
	int sfd, ifd, lfd = -1, err, meshed = -1;
	ino_t sock_ino = 0;
	__u64 last_full = 0, last_sum = 0, last_gone = 0, last_cni = 0;
	bool dirty = true, repair_due = false;

	err = apply_target_open(&t, &m, o->pin_dir);
	if (err)
		return err;        /* it said why */
	if (o->adopt)
		log_info("adopting the shunt already loaded at %s", o->pin_dir);
	if (!t.cgroup_id)
		log_warn("cannot tell which cgroup shunt is attached to: only listed workloads and "
			 "the kernel's detections are meshed");

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	ifd = watch_start(o, &cw);
	__atomic_store_n(&heartbeat, now_ms(), __ATOMIC_RELAXED);
	if (o->listen) {
		http = httpd_start(o->listen, o->pin_dir, &ds, &heartbeat);
		if (!http) {
			err = -EADDRNOTAVAIL;
			goto out;
		}
	}
	if (o->kubeconfig || getenv("KUBERNETES_SERVICE_HOST")) {
		char kerr[512];

		err = kube_open(o->kubeconfig, &kube, kerr, sizeof(kerr));
		if (err) {
			log_err("%s", kerr);
			goto out;
		}
		log_info("CNI mode: pods are looked up at %s", kube_server(kube));
	}
	err = cni_service_init(&cni);
	if (err) {
		log_err("cannot tell the node's network namespace: %s", strerror(-err));
		goto out;
	}
	cni.kube = kube;
	repair_due = kube && o->node_name && *o->node_name;
	if (o->socket_path) {
		lfd = podreg_listen(o->socket_path, &sock_ino);
		if (lfd < 0) {
			log_err("cannot listen for pod-init at %s: %s", o->socket_path, strerror(-lfd));
			err = lfd;
			goto out;
		}
		log_info("pod-init registers pods at %s", o->socket_path);
	}
	if (o->cni) {
		ds.cni_plugin = 1;
		keep_cni_installed(o, &ds);
	}
	log_info("running: watching network namespaces for meshed pods (pin dir %s)", o->pin_dir);

	for (;;) {
		struct pollfd p[3] = { { sfd, POLLIN, 0 }, { ifd, POLLIN, 0 }, { lfd, POLLIN, 0 } };
		__u64 sum;

		if (poll(p, 3, TICK_MS) < 0 && errno != EINTR)
			break;
		__atomic_store_n(&heartbeat, now_ms(), __ATOMIC_RELAXED);
		if (p[2].revents & POLLIN) {
			podreg_serve(lfd, &t, conf, o->pin_dir, &ds.registrations_ok,
				     &ds.registrations_failed, &cni);
			/* a registration did what a refresh would for its pod: its own new
			 * workload entry is no reason to rescan the node */
			last_sum = workload_keys_sum(&m);
		}
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGHUP) {
					reload_locked(o, conf, &t, "SIGHUP", false, &cw, &ds);
					continue;
				}
				log_info("signal %d: exiting; programs, links and maps stay attached",
					 (int)si.ssi_signo);
				break;
			}
		}
		if (p[1].revents & POLLIN) {
			bool netns = false, config = false;

			watch_read(ifd, &cw, &config, &netns);
			if (config)
				reload_locked(o, conf, &t, "configuration file changed", true, &cw,
					      &ds);
			dirty |= netns;
		}
		sum = workload_keys_sum(&m);
		if (sum != last_sum &&
		    __atomic_load_n(&cni.changes, __ATOMIC_RELAXED) != last_cni) {
			/* a CNI request meshed or unmeshed a pod: it did what a refresh would for
			 * it (as a pod-init registration does). A kernel detection in the same
			 * tick waits for the next full scan. */
			last_cni = __atomic_load_n(&cni.changes, __ATOMIC_RELAXED);
			last_sum = sum;
		}
		if (sum != last_sum || now_ms() - last_full >= FULL_SCAN_MS) {
			dirty = true;
			keep_cni_installed(o, &ds);
		}
		/* once the plugin is in place, the pods that started before it */
		if (repair_due && (!o->cni || __atomic_load_n(&ds.cni_plugin, __ATOMIC_RELAXED) == 2)) {
			repair_due = false;
			cni_repair(&cni, o->node_name, conf);
		}
		/* a deleted pod: its policy and entries go within a second */
		if (!dirty && now_ms() - last_gone >= GONE_CHECK_MS) {
			last_gone = now_ms();
			dirty = apply_links_defunct(&t);
			trace_sweep(&m, o->pin_dir);   /* a tracer killed with -9 */
		}
		if (!dirty)
			continue;
		if (!refresh(o, &t, conf, &meshed))
			continue;
		/* The fingerprint from before the refresh: a pod the kernel meshed while it
		 * ran is picked up on the next tick, not at the next full scan. */
		last_sum = sum;
		last_full = now_ms();
		dirty = false;
	}
	err = 0;
out:
	httpd_stop(http);
	/* kube is not closed: CNI threads still answering use it until the process exits */
	free(cw.bytes);
	if (lfd >= 0)
		podreg_close(lfd, o->socket_path, sock_ino);
	if (ifd >= 0)
		close(ifd);
	close(sfd);
	apply_target_close(&t, &m);
	return err;
}
