// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* See kube.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include "config.h"
#include "kube.h"
#include "ytree.h"

struct kube_client {
	char *server;        /* scheme://host:port, no trailing slash */
	char *ca_file;       /* CURLOPT_CAINFO */
	char *ca_data;       /* PEM bytes (certificate-authority-data, decoded) */
	size_t ca_len;
	char *token;         /* a literal token */
	char *token_file;    /* read again for every request */
	bool insecure;
};

static int errf(char *err, size_t len, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int errf(char *err, size_t len, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return ret;
}

static char *read_small(const char *path, size_t *len)
{
	struct config_errors errs = { 0 };
	char *buf = NULL;
	size_t n = 0;

	if (config_read_file(path, &buf, &n, &errs))
		buf = NULL;
	config_errors_free(&errs);
	if (len)
		*len = n;
	return buf;
}

/* mapping[key] of a YAML mapping node, or NULL */
static const struct ynode *ymap(const struct ytree *t, const struct ynode *m, const char *key)
{
	if (!m || m->type != YN_MAPPING)
		return NULL;
	for (uint32_t i = 0; i + 1 < m->n; i += 2)
		if (!strcmp(ytree_kid(t, m, i)->value, key))
			return ytree_kid(t, m, i + 1);
	return NULL;
}

static const char *yscalar(const struct ytree *t, const struct ynode *m, const char *key)
{
	const struct ynode *v = ymap(t, m, key);

	return v && v->type == YN_SCALAR ? v->value : NULL;
}

/* list[*].name == name (or the first entry when name is NULL) -> entry[inner] */
static const struct ynode *named(const struct ytree *t, const struct ynode *root,
				 const char *list, const char *name, const char *inner)
{
	const struct ynode *l = ymap(t, root, list);

	if (!l || l->type != YN_SEQUENCE)
		return NULL;
	for (uint32_t i = 0; i < l->n; i++) {
		const struct ynode *e = ytree_kid(t, l, i);
		const char *n = yscalar(t, e, "name");

		if (!name || (n && !strcmp(n, name)))
			return ymap(t, e, inner);
	}
	return NULL;
}

static char *b64_decode(const char *in, size_t *out_len)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(in), o = 0;
	unsigned acc = 0, bits = 0;
	char *out = malloc(n * 3 / 4 + 4);

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const char *p = in[i] ? strchr(tbl, in[i]) : NULL;

		if (in[i] == '=' || in[i] == '\n' || in[i] == '\r' || in[i] == ' ')
			continue;
		if (!p) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned)(p - tbl);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

static int from_kubeconfig(struct kube_client *k, const char *path, char *err, size_t errlen)
{
	struct ytree t = { 0 };
	struct ytree_error ye = { 0 };
	const struct ynode *root, *ctx, *cluster, *user;
	const char *cur, *v;
	size_t len = 0;
	char *text = read_small(path, &len);
	int r = 0;

	if (!text)
		return errf(err, errlen, -ENOENT, "cannot read the kubeconfig %s", path);
	if (ytree_parse(text, len, &t, &ye) || t.empty) {
		r = errf(err, errlen, -EINVAL, "%s:%d:%d: %s", path, ye.line, ye.col,
			 t.empty ? "empty kubeconfig" : ye.msg);
		goto out;
	}
	root = &t.nodes[0];
	cur = yscalar(&t, root, "current-context");
	ctx = named(&t, root, "contexts", cur && *cur ? cur : NULL, "context");
	cluster = named(&t, root, "clusters", ctx ? yscalar(&t, ctx, "cluster") : NULL, "cluster");
	user = named(&t, root, "users", ctx ? yscalar(&t, ctx, "user") : NULL, "user");
	v = yscalar(&t, cluster, "server");
	if (!v || (strncmp(v, "https://", 8) && strncmp(v, "http://", 7))) {
		r = errf(err, errlen, -EINVAL, "%s: the context's cluster has no http(s) server", path);
		goto out;
	}
	k->server = strdup(v);
	if (k->server[strlen(k->server) - 1] == '/')
		k->server[strlen(k->server) - 1] = '\0';
	v = yscalar(&t, cluster, "insecure-skip-tls-verify");
	k->insecure = v && !strcmp(v, "true");
	if ((v = yscalar(&t, cluster, "certificate-authority")))
		k->ca_file = strdup(v);
	if ((v = yscalar(&t, cluster, "certificate-authority-data"))) {
		k->ca_data = b64_decode(v, &k->ca_len);
		if (!k->ca_data) {
			r = errf(err, errlen, -EINVAL, "%s: certificate-authority-data is not base64",
				 path);
			goto out;
		}
	}
	if ((v = yscalar(&t, user, "token")))
		k->token = strdup(v);
	if ((v = yscalar(&t, user, "tokenFile")))
		k->token_file = strdup(v);
out:
	ytree_free(&t);
	free(text);
	return r;
}

static int in_cluster(struct kube_client *k, char *err, size_t errlen)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
	char buf[512];

	if (!host || !*host || !port || !*port)
		return errf(err, errlen, -ENOENT, "no Kubernetes API server: not in a cluster "
			    "(KUBERNETES_SERVICE_HOST/PORT unset) and no --kubeconfig");
	snprintf(buf, sizeof(buf), strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
		 port);
	k->server = strdup(buf);
	k->ca_file = strdup(KUBE_SA_DIR "/ca.crt");
	k->token_file = strdup(KUBE_SA_DIR "/token");
	return 0;
}

int kube_open(const char *kubeconfig, struct kube_client **out, char *err, size_t errlen)
{
	static bool curl_ready;
	struct kube_client *k = calloc(1, sizeof(*k));
	int r;

	if (!k)
		return errf(err, errlen, -ENOMEM, "out of memory");
	if (!curl_ready) {
		curl_global_init(CURL_GLOBAL_DEFAULT);   /* once, before any thread uses curl */
		curl_ready = true;
	}
	r = kubeconfig ? from_kubeconfig(k, kubeconfig, err, errlen) : in_cluster(k, err, errlen);
	if (r) {
		kube_close(k);
		return r;
	}
	*out = k;
	return 0;
}

void kube_close(struct kube_client *k)
{
	if (!k)
		return;
	free(k->server);
	free(k->ca_file);
	free(k->ca_data);
	free(k->token);
	free(k->token_file);
	free(k);
}

const char *kube_server(const struct kube_client *k)
{
	return k->server;
}

struct body {
	char *p;
	size_t n;
	bool too_big;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb;
	char *g;

	if (b->n + n > KUBE_MAX_OBJECT) {
		b->too_big = true;
		return 0;   /* aborts the transfer */
	}
	g = realloc(b->p, b->n + n + 1);
	if (!g)
		return 0;
	b->p = g;
	memcpy(b->p + b->n, ptr, n);
	b->n += n;
	b->p[b->n] = '\0';
	return n;
}

int kube_get(struct kube_client *k, const char *path, struct json_object **obj, long *status,
	     char *err, size_t errlen)
{
	char url[1024], auth[8192];
	struct curl_slist *hdr = NULL;
	struct body b = { 0 };
	struct json_tokener *tok;
	CURL *c = curl_easy_init();
	CURLcode rc;
	int r = 0;

	*obj = NULL;
	*status = 0;
	if (!c)
		return errf(err, errlen, -ENOMEM, "cannot start an HTTP request");
	snprintf(url, sizeof(url), "%s%s", k->server, path);
	hdr = curl_slist_append(hdr, "Accept: application/json");
	if (k->token_file || k->token) {
		char *tok_text = k->token_file ? read_small(k->token_file, NULL) : NULL;
		const char *t = tok_text ? tok_text : k->token;

		if (!t) {
			r = errf(err, errlen, -EACCES, "cannot read the token %s", k->token_file);
			goto out;
		}
		snprintf(auth, sizeof(auth), "Authorization: Bearer %.*s", (int)strcspn(t, "\r\n"), t);
		hdr = curl_slist_append(hdr, auth);
		free(tok_text);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (k->insecure) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	} else if (k->ca_data) {
		struct curl_blob blob = { .data = k->ca_data, .len = k->ca_len,
					  .flags = CURL_BLOB_COPY };

		curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
	} else if (k->ca_file) {
		curl_easy_setopt(c, CURLOPT_CAINFO, k->ca_file);
	}
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	if (b.too_big) {
		r = errf(err, errlen, -EFBIG, "GET %s: the object is larger than %u bytes", path,
			 KUBE_MAX_OBJECT);
		goto out;
	}
	if (rc != CURLE_OK) {
		r = errf(err, errlen, rc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -ECONNREFUSED,
			 "GET %s%s: %s", k->server, path, curl_easy_strerror(rc));
		*status = 0;
		goto out;
	}
	if (*status != 200) {
		r = errf(err, errlen, *status == 404 ? -ENOENT : -EIO, "GET %s: HTTP %ld", path,
			 *status);
		goto out;
	}
	tok = json_tokener_new();
	*obj = tok ? json_tokener_parse_ex(tok, b.p ? b.p : "", (int)b.n) : NULL;
	if (!*obj || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(*obj, json_type_object)) {
		json_object_put(*obj);
		*obj = NULL;
		r = errf(err, errlen, -EBADMSG, "GET %s: the answer is not a JSON object", path);
	}
	json_tokener_free(tok);
out:
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	free(b.p);
	return r;
}
