// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* See httpd.h. Every answer is computed from the pinned maps at request time. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include "httpd.h"
#include "log.h"

#define HEARTBEAT_STALE_MS 10000

struct httpd {
	struct MHD_Daemon *mhd;
	const char *pin_dir;
	const struct report_daemon_stats *ds;
	const uint64_t *heartbeat_ms;
};

int httpd_parse_listen(const char *s, struct sockaddr_storage *ss)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	char *end;
	unsigned long port;
	size_t hl;

	memset(ss, 0, sizeof(*ss));
	if (!colon || colon == s)
		return -EINVAL;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port < 1 || port > 65535)
		return -EINVAL;
	hl = (size_t)(colon - s);
	if (s[0] == '[') {
		if (hl < 3 || s[hl - 1] != ']' || hl - 2 >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, hl - 2);
		host[hl - 2] = '\0';
	} else {
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, hl);
		host[hl] = '\0';
	}
	if (s[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		return inet_pton(AF_INET6, host, &a->sin6_addr) == 1 ? 0 : -EINVAL;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;

	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -EINVAL;
}

#ifdef SHUNT_NO_HTTPD
struct httpd *httpd_start(const char *listen, const char *pin_dir,
			  const struct report_daemon_stats *ds, const uint64_t *heartbeat_ms)
{
	log_err("--listen: this build of shunt has no HTTP server (the static binary cannot "
		"link libmicrohttpd); use the dynamically linked one");
	return NULL;
}

void httpd_stop(struct httpd *h)
{
}
#else
#include <microhttpd.h>

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
			     char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status, const char *text)
{
	size_t len = strlen(text);
	char *body = malloc(len + 2);

	if (!body)
		return MHD_NO;
	memcpy(body, text, len);
	body[len] = '\n';
	body[len + 1] = '\0';
	return reply(c, status, "text/plain; charset=utf-8", body, len + 1);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_len, void **req)
{
	struct httpd *h = cls;
	uint64_t beat = __atomic_load_n(h->heartbeat_ms, __ATOMIC_RELAXED);
	bool alive = mono_ms() - beat < HEARTBEAT_STALE_MS;
	char why[256];

	(void)version;
	(void)upload;
	if (!*req) {            /* first call for this request: headers only */
		*req = h;
		return MHD_YES;
	}
	if (*upload_len)
		return reply_text(c, MHD_HTTP_BAD_REQUEST, "no body expected");
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only");
	if (!strcmp(url, "/healthz"))
		return alive ? reply_text(c, MHD_HTTP_OK, "ok")
			     : reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
					  "the daemon loop has not turned for 10 s");
	if (!strcmp(url, "/readyz")) {
		if (!alive)
			return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
					  "not ready: the daemon loop has not turned for 10 s");
		if (h->ds->unsupported) {
			snprintf(why, sizeof(why), "not ready: this node cannot run shunt: %s",
				 h->ds->unsupported);
			return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, why);
		}
		if (__atomic_load_n(&h->ds->cni_plugin, __ATOMIC_RELAXED) == 1)
			return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
					  "not ready: the CNI plugin is not installed yet");
		if (!report_ready(h->pin_dir, why, sizeof(why)))
			return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, why);
		return reply_text(c, MHD_HTTP_OK, why);
	}
	if (!strcmp(url, "/metrics")) {
		char *body = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&body, &len);
		int err;

		if (!f)
			return MHD_NO;
		err = report_metrics(f, h->pin_dir, h->ds);
		if (fclose(f) || err) {
			free(body);
			return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
					  "cannot read shunt's maps (see the daemon's log)");
		}
		return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, len);
	}
	return reply_text(c, MHD_HTTP_NOT_FOUND, "/healthz, /readyz, /metrics");
}

struct httpd *httpd_start(const char *listen, const char *pin_dir,
			  const struct report_daemon_stats *ds, const uint64_t *heartbeat_ms)
{
	struct sockaddr_storage ss;
	struct httpd *h;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;

	if (httpd_parse_listen(listen, &ss)) {
		log_err("--listen %s: not ADDR:PORT", listen);
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->pin_dir = pin_dir;
	h->ds = ds;
	h->heartbeat_ms = heartbeat_ms;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, handle, h,
				  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				  MHD_OPTION_CONNECTION_LIMIT, 32u,
				  MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	if (!h->mhd) {
		log_err("cannot serve HTTP on %s (in use, or not an address of this host)", listen);
		free(h);
		return NULL;
	}
	log_info("serving /healthz, /readyz and /metrics on http://%s", listen);
	return h;
}

void httpd_stop(struct httpd *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->mhd);
	free(h);
}
#endif /* SHUNT_NO_HTTPD */
