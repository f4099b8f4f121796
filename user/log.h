/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Logging: one place decides what reaches stderr and how it looks. -v raises the verbosity;
 * --log-format json turns each message into one JSON object a line (time, level, msg, and the
 * event's fields) for the log shipper of a node agent; text keeps "shunt: warning: ..." lines.
 */
#ifndef SHUNT_LOG_H
#define SHUNT_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_ERR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

extern int log_verbosity; /* messages at or below this level are printed */
extern bool log_json;     /* --log-format json */

/* A field of a structured event: printed as "key":"val" in JSON (a NULL val is left out);
 * the text format prints only the message, which says the same in words. */
struct log_field {
	const char *key;
	const char *val;
};

void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_event(enum log_level lvl, const struct log_field *f, size_t nf, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
#define log_err(...)   log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
/* log_fields(LOG_INFO, LOG_F({"pod", name}, {"netns", ns}), "meshed %s", name) */
#define LOG_F(...) ((const struct log_field[]){ __VA_ARGS__ }), \
	(sizeof((const struct log_field[]){ __VA_ARGS__ }) / sizeof(struct log_field))
#define log_fields(lvl, ...) log_event(lvl, __VA_ARGS__)

/* "text" or "json"; false for anything else */
bool log_set_format(const char *name);

#endif
