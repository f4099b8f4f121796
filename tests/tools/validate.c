// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The steps of Istio's istio-validation init container (istio-iptables --run-validation
 * --skip-rule-apply, tools/istio-iptables/pkg/validation; shunt's own code): run as the
 * proxy's uid, listen on 127.0.0.1:15001 and 127.0.0.1:15006 (SO_REUSEADDR), connect from
 * 127.0.0.1 to 127.0.0.6:15002 once a second; whichever listener accepts reads the original
 * destination (SO_ORIGINAL_DST) and the check passes only when that port is 15002. After
 * 5 s without it, exit 126 as the validator does. -6: ::1 and ::6 instead.
 * Prints "ok accepted on PORT, original destination port 15002" or "fail ...".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#define IP6T_SO_ORIGINAL_DST 80

static int v6;

static void fill(struct sockaddr_storage *ss, socklen_t *len, const char *ip, unsigned port)
{
	memset(ss, 0, sizeof(*ss));
	if (v6) {
		struct sockaddr_in6 *a = (void *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		inet_pton(AF_INET6, ip, &a->sin6_addr);
		*len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (void *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		inet_pton(AF_INET, ip, &a->sin_addr);
		*len = sizeof(*a);
	}
}

static int listener(unsigned port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	fill(&ss, &len, v6 ? "::1" : "127.0.0.1", port);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 16)) {
		printf("fail listen on port %u: %s\n", port, strerror(errno));
		exit(1);
	}
	return fd;
}

/* One attempt: a non-blocking connect from the loopback address to ::6/127.0.0.6:15002. */
static int attempt(void)
{
	struct sockaddr_storage src, dst;
	socklen_t sl, dl;
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	fill(&src, &sl, v6 ? "::1" : "127.0.0.1", 0);
	fill(&dst, &dl, v6 ? "::6" : "127.0.0.6", 15002);
	if (fd < 0 || bind(fd, (struct sockaddr *)&src, sl))
		return -1;
	if (connect(fd, (struct sockaddr *)&dst, dl) && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	struct pollfd p[2];
	time_t start = time(NULL), last = 0;
	int client = -1;

	v6 = argc > 1 && !strcmp(argv[1], "-6");
	p[0] = (struct pollfd){ .fd = listener(15001), .events = POLLIN };
	p[1] = (struct pollfd){ .fd = listener(15006), .events = POLLIN };
	while (time(NULL) - start < 5) {
		if (time(NULL) != last) {   /* retry each second, as the validator does */
			last = time(NULL);
			if (client >= 0)
				close(client);
			client = attempt();
		}
		if (poll(p, 2, 100) <= 0)
			continue;
		for (int i = 0; i < 2; i++) {
			struct sockaddr_storage od;
			socklen_t ol = sizeof(od);
			unsigned port;
			int c;

			if (!(p[i].revents & POLLIN))
				continue;
			c = accept(p[i].fd, NULL, NULL);
			if (c < 0)
				continue;
			if (getsockopt(c, v6 ? SOL_IPV6 : SOL_IP, v6 ? IP6T_SO_ORIGINAL_DST : SO_ORIGINAL_DST,
				       &od, &ol)) {
				printf("fail accepted on %u, SO_ORIGINAL_DST: %s\n", i ? 15006 : 15001,
				       strerror(errno));
				return 1;
			}
			port = ntohs(v6 ? ((struct sockaddr_in6 *)&od)->sin6_port
					: ((struct sockaddr_in *)&od)->sin_port);
			if (i == 1 && port == 15002) {
				printf("ok accepted on 15006, original destination port 15002\n");
				return 0;
			}
			printf("fail accepted on %u, original destination port %u\n", i ? 15006 : 15001,
			       port);
			return 1;
		}
	}
	printf("fail nothing accepted in 5 s\n");
	return 126;
}
