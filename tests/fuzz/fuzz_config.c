// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer target: any bytes as the YAML route configuration. The parser must return 0 or
 * -EINVAL with messages, never crash, leak or read out of bounds (ASan + UBSan), and a
 * config it accepts must compile into a policy.
 */
#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_errors errs = { 0 };
	struct shunt_config conf;
	struct shunt_policy pol;

	if (!config_parse("fuzz.yaml", (const char *)data, size, &conf, &errs) &&
	    !policy_compile(&conf, 0, 1, 2, &pol))
		policy_free(&pol);
	config_free(&conf);
	config_errors_free(&errs);
	return 0;
}
