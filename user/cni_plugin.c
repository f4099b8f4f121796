// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shunt-cni: the chained CNI plugin (spec 1.0.0 and 0.4.0; 0.3.x without CHECK). Installed
 * into the host's CNI bin directory and run there by the container runtime, so it is one
 * static binary depending on no host library. It decides nothing itself: ADD, DEL and CHECK
 * go to the node's `shunt run` over its socket (cni.h), which looks the pod up and meshes it;
 * the plugin waits for the verdict. prevResult is passed through unchanged.
 *
 * Its entry in the conflist:
 *   {"type": "shunt-cni", "socket": "/var/run/shunt/shunt.sock",
 *    "exclude_namespaces": ["kube-system"], "log_level": "info", "timeout": 60,
 *    "log_format": "json"}
 * Its stderr (the runtime's log) is "shunt-cni: ..." lines, or with "log_format": "json" one
 * JSON object a line (time, level, msg, pod), as the daemon's --log-format json.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include "cni.h"

#define SOCKET_DEFAULT "/var/run/shunt/shunt.sock"
#define MAX_CONFIG (1u << 20)

/* The spec's error codes */
enum { E_VERSION = 1, E_FIELD = 2, E_ENV = 4, E_IO = 5, E_DECODE = 6, E_CONFIG = 7,
       E_AGAIN = 11, E_REFUSED = 100 };

static const char *version = "1.0.0";   /* the config's, once read */
static bool debug, log_json;
static char pod_label[600];             /* namespace/name once read, for JSON lines */

/* One line on stderr: "shunt-cni: MSG", or {"time":...,"level":...,"msg":...,"pod":...} */
static void say(const char *level, const char *pod, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(const char *level, const char *pod, const char *fmt, ...)
{
	char msg[2048], t[40];
	struct json_object *o;
	struct timespec ts;
	struct tm tm;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!log_json) {
		fprintf(stderr, "shunt-cni: %s\n", msg);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(t + strlen(t), sizeof(t) - strlen(t), ".%03ldZ", ts.tv_nsec / 1000000);
	o = json_object_new_object();
	json_object_object_add(o, "time", json_object_new_string(t));
	json_object_object_add(o, "level", json_object_new_string(level));
	json_object_object_add(o, "msg", json_object_new_string(msg));
	if (!pod && pod_label[0])
		pod = pod_label;
	if (pod)
		json_object_object_add(o, "pod", json_object_new_string(pod));
	fprintf(stderr, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

static int fail(int code, const char *details, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(int code, const char *details, const char *fmt, ...)
{
	struct json_object *o = json_object_new_object();
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(o, "cniVersion", json_object_new_string(version));
	json_object_object_add(o, "code", json_object_new_int(code));
	json_object_object_add(o, "msg", json_object_new_string(msg));
	if (details)
		json_object_object_add(o, "details", json_object_new_string(details));
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	say("error", NULL, "%s%s%s", msg, details ? ": " : "", details ? details : "");
	return 1;
}

static char *read_stdin(size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);

	while (buf) {
		ssize_t r;

		if (n == cap) {
			char *g = cap >= MAX_CONFIG ? NULL : realloc(buf, (cap *= 2) + 1);

			if (!g) {
				free(buf);
				return NULL;
			}
			buf = g;
		}
		r = read(0, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (buf)
		buf[n] = '\0';
	*len = n;
	return buf;
}

/* CNI_ARGS "K=V;K=V": the value of key into out ("" if absent; the last one wins). */
static void cni_arg(const char *args, const char *key, char *out, size_t len)
{
	size_t kl = strlen(key);

	out[0] = '\0';
	for (const char *p = args; p && *p;) {
		size_t l = strcspn(p, ";");

		if (l > kl && !strncmp(p, key, kl) && p[kl] == '=')
			snprintf(out, len, "%.*s", (int)(l - kl - 1), p + kl + 1);
		p += l + (p[l] == ';');
	}
}

static bool valid_field(const char *s)
{
	return !strpbrk(s, "\n=");
}

/* Ask the daemon; its one-line answer in reply. 0, or -errno (not reachable). */
static int ask(const char *sock, unsigned timeout_s, const char *req, char *reply, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = (time_t)timeout_s };
	size_t got = 0, n = strlen(req);
	int fd, err = 0;

	if (strlen(sock) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		goto out;
	}
	for (size_t off = 0; off < n;) {
		ssize_t w = write(fd, req + off, n - off);

		if (w < 0) {
			err = -errno;
			goto out;
		}
		off += (size_t)w;
	}
	shutdown(fd, SHUT_WR);
	while (got + 1 < len) {
		ssize_t r = read(fd, reply + got, len - 1 - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = errno == EAGAIN ? -ETIMEDOUT : -errno;
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	reply[got] = '\0';
	reply[strcspn(reply, "\n")] = '\0';
	if (!got)
		err = -ECONNRESET;
out:
	close(fd);
	return err;
}

static bool excluded(struct json_object *conf, const char *ns)
{
	struct json_object *a;

	if (!json_object_object_get_ex(conf, "exclude_namespaces", &a) ||
	    !json_object_is_type(a, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(a, i));

		if (s && !strcmp(s, ns))
			return true;
	}
	return false;
}

/* ADD's output: prevResult unchanged, in the config's version. */
static int pass_through(struct json_object *conf)
{
	struct json_object *prev;

	if (!json_object_object_get_ex(conf, "prevResult", &prev) ||
	    !json_object_is_type(prev, json_type_object))
		return fail(E_CONFIG, NULL, "shunt-cni is a chained plugin: no prevResult (list it "
			    "after the plugin that sets up the pod's interface)");
	json_object_object_add(prev, "cniVersion", json_object_new_string(version));
	puts(json_object_to_json_string_ext(prev, JSON_C_TO_STRING_PLAIN));
	return 0;
}

static const char *str_field(struct json_object *conf, const char *key, const char *dflt)
{
	struct json_object *v;

	if (!json_object_object_get_ex(conf, key, &v) || !json_object_is_type(v, json_type_string))
		return dflt;
	return json_object_get_string(v);
}

int main(int argc, char **argv)
{
	static const char *const supported[] = { "0.3.0", "0.3.1", "0.4.0", "1.0.0" };
	const char *cmd = getenv("CNI_COMMAND"), *netns = getenv("CNI_NETNS");
	const char *cid = getenv("CNI_CONTAINERID"), *args = getenv("CNI_ARGS");
	const char *sock;
	char ns[256], name[256], uid[256], reply[2048], *req = NULL, *text;
	struct json_object *conf, *v;
	unsigned timeout = 60;
	size_t len = 0;
	bool known = false;
	int err, ret;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("shunt-cni: shunt's chained CNI plugin; run by the container runtime "
		       "(CNI_COMMAND=ADD|DEL|CHECK|VERSION, config on stdin), not by hand\n");
		return 0;
	}
	if (!cmd)
		return fail(E_ENV, NULL, "CNI_COMMAND is not set: run by a container runtime");
	text = read_stdin(&len);
	if (!text)
		return fail(E_IO, NULL, "cannot read the network configuration on stdin");
	if (!strcmp(cmd, "VERSION")) {
		struct json_object *o = json_object_new_object(), *a = json_object_new_array();

		for (size_t i = 0; i < 4; i++)
			json_object_array_add(a, json_object_new_string(supported[i]));
		json_object_object_add(o, "cniVersion", json_object_new_string("1.0.0"));
		json_object_object_add(o, "supportedVersions", a);
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		return 0;
	}
	conf = json_tokener_parse(text);
	if (!conf || !json_object_is_type(conf, json_type_object))
		return fail(E_DECODE, NULL, "the network configuration is not a JSON object");
	if (json_object_object_get_ex(conf, "cniVersion", &v) && json_object_is_type(v, json_type_string))
		version = json_object_get_string(v);
	for (size_t i = 0; i < 4; i++)
		known |= !strcmp(version, supported[i]);
	if (!known) {
		const char *asked = version;

		version = "1.0.0";
		return fail(E_VERSION, NULL, "cniVersion %s is not supported (0.3.0 to 1.0.0)", asked);
	}
	debug = !strcmp(str_field(conf, "log_level", "info"), "debug");
	log_json = !strcmp(str_field(conf, "log_format", "text"), "json");
	sock = str_field(conf, "socket", SOCKET_DEFAULT);
	if (json_object_object_get_ex(conf, "timeout", &v)) {
		if (!json_object_is_type(v, json_type_int) || json_object_get_int(v) < 1 ||
		    json_object_get_int(v) > 600)
			return fail(E_CONFIG, NULL, "timeout: seconds from 1 to 600");
		timeout = (unsigned)json_object_get_int(v);
	}
	if (json_object_object_get_ex(conf, "exclude_namespaces", &v) &&
	    !json_object_is_type(v, json_type_array))
		return fail(E_CONFIG, NULL, "exclude_namespaces: a list of namespace names");
	if (strcmp(cmd, "ADD") && strcmp(cmd, "DEL") && strcmp(cmd, "CHECK"))
		return fail(E_ENV, NULL, "CNI_COMMAND %s is not ADD, DEL, CHECK or VERSION", cmd);
	if (!strcmp(cmd, "CHECK") && !strncmp(version, "0.3.", 4))
		return fail(E_VERSION, NULL, "CHECK needs cniVersion 0.4.0 or later");
	cni_arg(args, "K8S_POD_NAMESPACE", ns, sizeof(ns));
	cni_arg(args, "K8S_POD_NAME", name, sizeof(name));
	cni_arg(args, "K8S_POD_UID", uid, sizeof(uid));
	if (ns[0] && name[0])
		snprintf(pod_label, sizeof(pod_label), "%s/%s", ns, name);
	/* not a Kubernetes pod, or one of an excluded namespace: nothing to do */
	if (!ns[0] || !name[0] || excluded(conf, ns)) {
		if (debug)
			say("debug", NULL, "%s %s/%s: passed (%s)", cmd, ns, name,
			    !ns[0] || !name[0] ? "not a Kubernetes pod" : "excluded namespace");
		return strcmp(cmd, "ADD") ? 0 : pass_through(conf);
	}
	if (!strcmp(cmd, "ADD") && (!netns || !*netns))
		return fail(E_ENV, NULL, "CNI_NETNS is not set");
	/* everything that can fail ADD after the daemon answered is checked before asking it:
	 * a pod is never left meshed behind a failed ADD */
	if (!strcmp(cmd, "ADD") && (!json_object_object_get_ex(conf, "prevResult", &v) ||
				    !json_object_is_type(v, json_type_object)))
		return pass_through(conf);
	if (!valid_field(ns) || !valid_field(name) || !valid_field(uid) ||
	    !valid_field(netns ? netns : "") || !valid_field(cid ? cid : ""))
		return fail(E_ENV, NULL, "CNI_ARGS, CNI_NETNS or CNI_CONTAINERID holds a newline or '='");
	if (asprintf(&req, CNI_MAGIC "command=%s\nnetns=%s\ncontainer=%s\nnamespace=%s\nname=%s\n"
		     "uid=%s\n", cmd, netns ? netns : "", cid ? cid : "", ns, name, uid) < 0)
		return fail(E_IO, NULL, "out of memory");
	err = ask(sock, timeout, req, reply, sizeof(reply));
	free(req);
	if (err) {
		/* DEL must succeed when there is nothing to undo: a daemon that is down removes a
		 * gone pod's entries itself when it is back */
		if (!strcmp(cmd, "DEL")) {
			say("warning", NULL, "DEL %s/%s: shunt is not answering on %s (%s): nothing "
			    "removed now", ns, name, sock, strerror(-err));
			return 0;
		}
		return fail(E_AGAIN, NULL, "pod %s/%s: shunt is not answering on %s: %s (is the "
			    "shunt DaemonSet running on this node?)", ns, name, sock, strerror(-err));
	}
	if (debug)
		say("debug", NULL, "%s %s/%s: %s", cmd, ns, name, reply);
	if (!strncmp(reply, "ok", 2) || !strncmp(reply, "skip", 4))
		ret = strcmp(cmd, "ADD") ? 0 : pass_through(conf);
	else
		ret = fail(E_REFUSED, NULL, "%s", !strncmp(reply, "error: ", 7) ? reply + 7 : reply);
	return ret;
}
