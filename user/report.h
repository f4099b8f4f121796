/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* What shunt tells a person: status (attachments, policy, counters) and dump (map contents). */
#ifndef SHUNT_REPORT_H
#define SHUNT_REPORT_H

#include <stdbool.h>

int report_status(const char *pin_dir, bool json);
int report_dump(const char *pin_dir);
/* Name of a verdict/counter index of shunt_stats_v2. */
const char *report_counter_name(unsigned idx);

#endif
