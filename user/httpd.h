/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * shunt run --listen ADDR:PORT: /healthz, /readyz and /metrics (Prometheus text format) over
 * HTTP, served by libmicrohttpd on a thread of its own. Off unless asked for.
 */
#ifndef SHUNT_HTTPD_H
#define SHUNT_HTTPD_H

#include <stdint.h>
#include <sys/socket.h>
#include "report.h"

struct httpd;

/* "127.0.0.1:9402", "[::1]:9402", "0.0.0.0:9402". 0, or -EINVAL. */
int httpd_parse_listen(const char *s, struct sockaddr_storage *ss);
/* Serve until httpd_stop(). *heartbeat_ms is the daemon loop's last turn (CLOCK_MONOTONIC
 * ms): /healthz fails when it is older than 10 s. NULL on failure (it said why). */
struct httpd *httpd_start(const char *listen, const char *pin_dir,
			  const struct report_daemon_stats *ds, const uint64_t *heartbeat_ms);
void httpd_stop(struct httpd *h);

#endif
