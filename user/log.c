// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Logging to stderr: "shunt: warning: ..." lines, or one JSON object a line. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "jsonw.h"
#include "log.h"

int log_verbosity = LOG_WARN;
bool log_json;

bool log_set_format(const char *name)
{
	if (!strcmp(name, "text"))
		log_json = false;
	else if (!strcmp(name, "json"))
		log_json = true;
	else
		return false;
	return true;
}

static void log_vevent(enum log_level lvl, const struct log_field *f, size_t nf, const char *fmt,
		       va_list ap)
{
	static const char *const prefix[] = { "error: ", "warning: ", "", "debug: " };
	static const char *const level[] = { "error", "warning", "info", "debug" };
	char msg[2048], line[8192];
	size_t n;

	if ((int)lvl > log_verbosity)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (!log_json) {
		n = (size_t)snprintf(line, sizeof(line), "shunt: %s%s\n", prefix[lvl], msg);
	} else {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = strftime(line, sizeof(line), "{\"time\":\"%Y-%m-%dT%H:%M:%S", &tm);
		n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ\",\"level\":\"%s\",\"msg\":\"",
				      ts.tv_nsec / 1000000, level[lvl]);
		n += json_escape(line + n, sizeof(line) - n, msg, SIZE_MAX);
		for (size_t i = 0; i < nf && n + 8 < sizeof(line); i++) {
			if (!f[i].val)
				continue;
			n += (size_t)snprintf(line + n, sizeof(line) - n, "\",\"%s\":\"", f[i].key);
			if (n < sizeof(line))
				n += json_escape(line + n, sizeof(line) - n, f[i].val, SIZE_MAX);
		}
		if (n + 3 >= sizeof(line))
			n = sizeof(line) - 4;
		memcpy(line + n, "\"}\n", 4);
		n += 3;
	}
	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	/* one write a line: threads (the CNI server) never interleave within one */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

void log_event(enum log_level lvl, const struct log_field *f, size_t nf, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vevent(lvl, f, nf, fmt, ap);
	va_end(ap);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vevent(lvl, NULL, 0, fmt, ap);
	va_end(ap);
}
