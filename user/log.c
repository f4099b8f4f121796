// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Logging to stderr with a "shunt: " prefix; errors and warnings always, the rest with -v. */
#include <stdio.h>
#include "log.h"

int log_verbosity = LOG_WARN;

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *const prefix[] = { "error: ", "warning: ", "", "debug: " };
	va_list ap;

	if ((int)lvl > log_verbosity)
		return;
	fprintf(stderr, "shunt: %s", prefix[lvl]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
