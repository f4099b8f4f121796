// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer target: any bytes as an outbound.exclude_cidrs_from list file (the format that
 * carries 100k routes), read through the config as shunt reads it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "config.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_errors errs = { 0 };
	struct shunt_config conf;
	struct shunt_policy pol;
	char yaml[128];
	int fd = memfd_create("cidrs", MFD_CLOEXEC);

	if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	snprintf(yaml, sizeof(yaml), "outbound:\n  exclude_cidrs_from: /proc/self/fd/%d\n", fd);
	if (!config_parse("fuzz.yaml", yaml, strlen(yaml), &conf, &errs) &&
	    !policy_compile(&conf, 0, 0, 1, &pol))
		policy_free(&pol);
	config_free(&conf);
	config_errors_free(&errs);
	close(fd);
	return 0;
}
