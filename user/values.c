// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The values of a route configuration as text: numbers, ports and port ranges, CIDRs,
 * acceleration modes. Shared by the YAML walk (config.c) and pod-init's istio-iptables flags
 * (podinit.c), so a value means the same whichever way it arrives.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include "config.h"

int config_parse_number(const char *s, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		v = v * 10 + (unsigned)(*s - '0');
		if (v > max)
			return -2;
	}
	*out = v;
	return 0;
}

const char *config_accel_name(int mode)
{
	return mode == CONFIG_ACCEL_ALL ? "true" : mode == CONFIG_ACCEL_PROXY ? "proxy" : "false";
}

int config_parse_port_range(const char *s, unsigned *lo, unsigned *hi)
{
	unsigned long long a, b;
	const char *dash = strchr(s, '-');
	char first[16];
	int r;

	if (!dash) {
		r = config_parse_number(s, 65535, &a);
		if (r)
			return r;
		if (a < 1)
			return -2;
		*lo = *hi = (unsigned)a;
		return 0;
	}
	if ((size_t)(dash - s) >= sizeof(first))
		return -1;
	memcpy(first, s, (size_t)(dash - s));
	first[dash - s] = '\0';
	r = config_parse_number(first, 65535, &a);
	if (!r)
		r = config_parse_number(dash + 1, 65535, &b);
	if (r)
		return r;
	if (a < 1 || b < 1)
		return -2;
	if (a > b)
		return -3;
	*lo = (unsigned)a;
	*hi = (unsigned)b;
	return 0;
}

int config_parse_cidr(const char *s, struct config_cidr *out, const char **why)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long long plen;
	unsigned max;

	memset(out, 0, sizeof(*out));
	if (alen == 0 || alen >= sizeof(addr)) {
		*why = "is not an address or CIDR";
		return -EINVAL;
	}
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		*why = "is not an address or CIDR";
		return -EINVAL;
	}
	plen = max;
	if (slash && config_parse_number(slash + 1, max, &plen)) {
		*why = out->family == AF_INET ? "has a prefix length outside 0..32"
					      : "has a prefix length outside 0..128";
		return -EINVAL;
	}
	out->prefixlen = (uint8_t)plen;
	for (unsigned bit = (unsigned)plen; bit < max; bit++) {
		if (out->addr[bit / 8] & (0x80 >> (bit % 8))) {
			*why = "has host bits set";
			return -EINVAL;
		}
	}
	return 0;
}

const char *config_cidr_str(const struct config_cidr *cidr, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(cidr->family, cidr->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, cidr->prefixlen);
	return buf;
}

void config_cidr_hint(const char *s, char *buf, size_t len)
{
	struct config_cidr cidr;
	const char *why;
	char tmp[80];
	const char *slash = strchr(s, '/');

	buf[0] = '\0';
	if (!slash || strlen(s) >= sizeof(tmp))
		return;
	strcpy(tmp, s);
	tmp[slash - s] = '\0';
	if (config_parse_cidr(tmp, &cidr, &why))
		return;
	unsigned long long plen;
	if (config_parse_number(slash + 1, cidr.family == AF_INET ? 32 : 128, &plen))
		return;
	for (unsigned bit = (unsigned)plen; bit < (cidr.family == AF_INET ? 32u : 128u); bit++)
		cidr.addr[bit / 8] &= (uint8_t) ~(0x80 >> (bit % 8));
	cidr.prefixlen = (uint8_t)plen;
	config_cidr_str(&cidr, buf, len);
}
