// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* shunt uninstall: remove the plugin, drain, wait for the last meshed pod, unload. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "apply.h"
#include "cni_install.h"
#include "loader.h"
#include "log.h"
#include "maps.h"
#include "pins.h"
#include "uninstall.h"

#define POLL_MS 500

/* Does a shunt run answer at path? (A connect that succeeds: someone listens.) */
static bool daemon_answers(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, ok;

	if (strlen(path) >= sizeof(sa.sun_path))
		return false;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	ok = !connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return ok;
}

static int remove_plugin(const struct cni_install_opts *cni)
{
	char msg[1024];

	if (!cni || access(cni->conf_dir, F_OK))
		return 0;      /* no CNI configuration directory: never installed here */
	if (cni_uninstall(cni, msg, sizeof(msg)) < 0) {
		log_err("%s", msg);
		return -EIO;
	}
	log_info("%s", msg);
	return 0;
}

/* The pods still meshed, the gone ones forgotten on the way (the daemon's refresh). */
static int meshed_pods(const char *pin_dir, const struct shunt_config *conf)
{
	struct apply_target t;
	struct shunt_maps m;
	int lockfd, n;

	lockfd = pins_lock(pin_dir, false);
	if (lockfd < 0)
		return lockfd;
	n = apply_target_open(&t, &m, pin_dir);
	if (!n) {
		n = apply_refresh(&t, conf);
		apply_target_close(&t, &m);
	}
	pins_unlock(lockfd);
	return n;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int uninstall_run(const struct uninstall_opts *o, struct shunt_config *conf)
{
	struct config_errors errs = { 0 };
	struct loader_opts lo = { .pin_dir = o->pin_dir };
	uint64_t start = mono_ms();
	sigset_t mask;
	__u32 gen = 0;
	int err, n, last = -1;

	if (daemon_answers(o->socket)) {
		log_err("a shunt run answers at %s: stop it first (delete the DaemonSet), or it meshes "
			"new pods again", o->socket);
		return -EBUSY;
	}
	err = remove_plugin(o->cni);
	if (err)
		return err;
	if (!pins_loaded(o->pin_dir)) {
		printf("shunt is not loaded at %s: nothing to uninstall\n", o->pin_dir);
		return 0;
	}
	conf->draining = true;
	err = apply_pinned(o->pin_dir, conf, &errs, &gen);
	config_errors_print(&errs);
	config_errors_free(&errs);
	if (err)
		return err;
	log_fields(LOG_INFO, LOG_F({ "event", "draining" }),
		   "draining (policy generation %u): no new pod is meshed; the meshed ones stay "
		   "meshed until they are deleted", gen);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	for (;;) {
		struct timespec ts = { .tv_nsec = POLL_MS * 1000000L };
		int sig;

		n = meshed_pods(o->pin_dir, conf);
		if (n < 0)
			return n;
		if (!n)
			break;
		if (n != last)
			printf("%d pod%s still meshed: waiting for %s to be deleted ('shunt status' "
			       "lists them)\n", n, n == 1 ? "" : "s", n == 1 ? "it" : "them");
		fflush(stdout);
		last = n;
		if (o->timeout_s && mono_ms() - start >= o->timeout_s * 1000ull) {
			log_err("%d pod%s still meshed after %u s: shunt stays loaded and draining; run "
				"'shunt uninstall' again later, or 'shunt unload' to un-mesh them at once",
				n, n == 1 ? "" : "s", o->timeout_s);
			return -ETIMEDOUT;
		}
		sig = sigtimedwait(&mask, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT) {
			log_err("stopped by signal %d with %d pod%s meshed: shunt stays loaded and "
				"draining", sig, n, n == 1 ? "" : "s");
			return -EINTR;
		}
	}
	err = loader_unload(&lo);
	if (!err)
		printf("uninstalled: no pod was meshed any more; nothing attached or pinned at %s\n",
		       o->pin_dir);
	return err;
}
