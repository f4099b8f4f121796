/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Address text <-> sockaddr for the test tools: "IP:PORT", "[IPv6]:PORT", or a bare address
 * (port 0, for binding a source). */
#ifndef SHUNT_TEST_SOCKADDR_H
#define SHUNT_TEST_SOCKADDR_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static inline int addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char buf[128];
	const char *colon = strrchr(s, ':');
	int bracketed = s[0] == '[';
	size_t alen;
	unsigned port = 0;

	/* a colon that is part of a bare IPv6 address is not a port separator */
	if (colon && !bracketed && strchr(s, ':') != colon)
		colon = NULL;
	if (bracketed && (!colon || colon[-1] != ']'))
		colon = NULL;
	alen = colon ? (size_t)(colon - s) : strlen(s);
	if (colon)
		port = (unsigned)atoi(colon + 1);
	if (alen >= sizeof(buf))
		return -1;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (bracketed || strchr(buf, ':')) {
		struct sockaddr_in6 *a = (void *)ss;
		char *b = buf;

		if (bracketed) {
			buf[strlen(buf) - 1] = '\0';
			b = buf + 1;
		}
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((unsigned short)port);
		*len = sizeof(*a);
		return inet_pton(AF_INET6, b, &a->sin6_addr) == 1 ? 0 : -1;
	}
	struct sockaddr_in *a = (void *)ss;

	a->sin_family = AF_INET;
	a->sin_port = htons((unsigned short)port);
	*len = sizeof(*a);
	return inet_pton(AF_INET, buf, &a->sin_addr) == 1 ? 0 : -1;
}

static inline const char *addr_fmt(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)ss;

		inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(s->sin_port));
	} else {
		const struct sockaddr_in6 *s = (const void *)ss;

		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, ntohs(s->sin6_port));
	}
	return buf;
}

#endif
