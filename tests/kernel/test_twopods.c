// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Two pods on one node, in the kernel, in a second: pod A (the test's own network namespace)
 * and pod B (a second one, held by a child process so the census finds it), joined by a veth
 * pair (198.18.0.10/24 <-> 198.18.0.20/24, made over rtnetlink), both in shunt's private
 * cgroup, each with a proxy (uid 1337) listening on its outbound port. Stages, one TAP line
 * each:
 *   apply meshes both and attaches B's sk_lookup -> A's proxy connects to B's app port: B's
 *   inbound listener gets it (sk_lookup steering, no NAT: the accepted socket's local
 *   address is the original destination), B's app never sees it -> acceleration on: both
 *   ends of that leg are on the fast path and the bytes go socket to socket, intact both
 *   ways -> acceleration off (applied live): a new leg stays on TCP, intact -> closed: the
 *   fast-path maps are empty.
 * What needs a real proxy, iptables or a container runtime stays in tests/e2e.
 */
#include <signal.h>
#include <sys/wait.h>
#include "ktest.h"

#define A_ADDR "198.18.0.10"
#define B_ADDR "198.18.0.20"
#define APP_PORT 8080
#define CHUNK 65536
#define ROUNDS 16

static int ns_a = -1, ns_b = -1;

static int in_ns(int fd)
{
	return setns(fd, CLONE_NEWNET);
}

/* Pod B: a child in a network namespace of its own, lo up; it waits to be killed. */
static pid_t pod_b(void)
{
	int p[2];
	char c = 0;
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		if (!unshare(CLONE_NEWNET) && !link_up("lo"))
			c = 1;
		if (write(p[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	if (pid < 0 || read(p[0], &c, 1) != 1 || !c) {
		close(p[0]);
		return -1;
	}
	close(p[0]);
	return pid;
}

/* CHUNK bytes ROUNDS times from one socket to the other, read back in full each round: all
 * arrived, in order. */
static int stream(int from, int to)
{
	static char out[CHUNK], in[CHUNK];

	for (int r = 0; r < ROUNDS; r++) {
		size_t got = 0;

		for (size_t i = 0; i < sizeof(out); i++)
			out[i] = (char)(i * 31 + r);
		if (send(from, out, sizeof(out), 0) != (ssize_t)sizeof(out))
			return -1;
		while (got < sizeof(in)) {
			ssize_t n = recv(to, in + got, sizeof(in) - got, 0);

			if (n <= 0)
				return -1;
			got += (size_t)n;
		}
		if (memcmp(in, out, sizeof(in)))
			return -1;
	}
	return 0;
}

/* A's proxy to B's app port, accepted by B's inbound listener: *c and *s, 0 or -1. */
static int leg(int inbound, int *c, int *s)
{
	struct timeval tv = { .tv_sec = 2 };
	int err;

	*s = -1;
	as_proxy(1);
	err = connect_to(AF_INET, B_ADDR, APP_PORT, c);
	as_proxy(0);
	if (err)
		return -1;
	setsockopt(*c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	*s = accept4(inbound, NULL, NULL, SOCK_CLOEXEC);
	if (*s < 0)
		return -1;
	setsockopt(*s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return 0;
}

int main(void)
{
	struct sockaddr_storage local = { 0 };
	socklen_t len = sizeof(local);
	int out_a = -1, out_b = -1, in_b = -1, app_b = -1, c = -1, s = -1, err;
	__u64 added, bytes, off, steered;
	struct shunt_maps m;
	struct ktest k;
	char buf[128];
	pid_t child = -1;
	__u32 gen = 0;

	err = ktest_start(&k, "twopods");
	if (err > 0)
		return n_failed;
	if (err)
		return ktest_finish(&k);
	if (maps_open_pinned(&m, k.pin)) {
		tap(0, "its maps open from the pins");
		return ktest_finish(&k);
	}
	ns_a = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	child = pod_b();
	if (child > 0) {
		snprintf(buf, sizeof(buf), "/proc/%d/ns/net", (int)child);
		ns_b = open(buf, O_RDONLY | O_CLOEXEC);
	}
	err = ns_a < 0 || ns_b < 0 || veth_pair("kta", "ktb", ns_b) || addr_add4("kta", A_ADDR, 24) ||
	      link_up("kta");
	/* pod B's side, its proxy and its app */
	err = err || in_ns(ns_b) || addr_add4("ktb", B_ADDR, 24) || link_up("ktb");
	if (!err) {
		as_proxy(1);
		out_b = listen_on(AF_INET, "127.0.0.1", 15001);
		in_b = listen_on(AF_INET, "0.0.0.0", 15006);
		as_proxy(0);
		app_b = listen_on(AF_INET, "0.0.0.0", APP_PORT);
		fcntl(app_b, F_SETFL, O_NONBLOCK);
	}
	err = in_ns(ns_a) || err || out_b < 0 || in_b < 0 || app_b < 0;
	if (!err) {
		as_proxy(1);
		out_a = listen_on(AF_INET, "127.0.0.1", 15001);
		as_proxy(0);
	}
	tap(!err && out_a >= 0, "pods A (%s) and B (%s) on a veth pair, each with a proxy on "
	    "15001; B's also on 15006 (inbound), B's app on %d", A_ADDR, B_ADDR, APP_PORT);
	if (err || out_a < 0)
		goto out;

	err = ktest_apply(&k, "acceleration: true\n", &gen);
	tap(!err && entries(&m, MAP_NETNS) == 2 && entries(&m, MAP_PODIP) >= 2,
	    "apply (acceleration on, generation %u): both pods meshed, their addresses known "
	    "(%ld workloads, %ld pod addresses)", gen, entries(&m, MAP_NETNS), entries(&m, MAP_PODIP));

	steered = counter(&m, SHUNT_V_IN_STEERED);
	added = counter(&m, SHUNT_C_ACCEL_SOCKETS);
	bytes = counter(&m, SHUNT_C_BYTES_REDIRECTED);
	err = leg(in_b, &c, &s);
	tap(!err, "A's proxy -> %s:%d is accepted by B's inbound listener (sk_lookup)", B_ADDR,
	    APP_PORT);
	if (err)
		goto out;
	err = getsockname(s, (struct sockaddr *)&local, &len);
	tap(!err && !strcmp(str(&local, buf, sizeof(buf)), B_ADDR ":8080"),
	    "no NAT: the accepted socket's own address is the original destination " B_ADDR
	    ":8080 (got %s)", buf);
	tap(accept(app_b, NULL, NULL) < 0 && errno == EAGAIN, "B's app on %d saw nothing",
	    APP_PORT);
	tap(counter(&m, SHUNT_V_IN_STEERED) == steered + 1, "inbound_steered counted it");
	tap(counter(&m, SHUNT_C_ACCEL_SOCKETS) == added + 2 && entries(&m, MAP_SOCKS) == 2,
	    "acceleration on: both ends of the proxy-to-proxy leg are on the fast path "
	    "(added %llu, sockhash %ld)", (unsigned long long)(counter(&m, SHUNT_C_ACCEL_SOCKETS) - added),
	    entries(&m, MAP_SOCKS));
	tap(!stream(c, s) && !stream(s, c), "%d KiB each way, intact", CHUNK / 1024 * ROUNDS);
	tap(counter(&m, SHUNT_C_BYTES_REDIRECTED) > bytes,
	    "the bytes went socket to socket (fastpath_bytes +%llu)",
	    (unsigned long long)(counter(&m, SHUNT_C_BYTES_REDIRECTED) - bytes));
	close(c);
	close(s);
	c = s = -1;

	err = ktest_apply(&k, "acceleration: false\n", &gen);
	tap(!err, "apply acceleration off, live (generation %u)", gen);
	added = counter(&m, SHUNT_C_ACCEL_SOCKETS);
	off = counter(&m, SHUNT_C_ACCEL_SWITCHED_OFF);
	bytes = counter(&m, SHUNT_C_BYTES_REDIRECTED);
	err = leg(in_b, &c, &s);
	tap(!err && counter(&m, SHUNT_C_ACCEL_SOCKETS) == added &&
	    counter(&m, SHUNT_C_ACCEL_SWITCHED_OFF) >= off + 2,
	    "a new leg stays off the fast path (fastpath_switched_off +%llu)",
	    (unsigned long long)(counter(&m, SHUNT_C_ACCEL_SWITCHED_OFF) - off));
	tap(!err && !stream(c, s) && !stream(s, c) &&
	    counter(&m, SHUNT_C_BYTES_REDIRECTED) == bytes, "over TCP, intact both ways");
	if (c >= 0)
		close(c);
	if (s >= 0)
		close(s);
	c = s = -1;
	for (int i = 0; i < 200 && (entries(&m, MAP_SOCKS) || entries(&m, MAP_SKADDR)); i++)
		usleep(10000);
	tap(!entries(&m, MAP_SOCKS) && !entries(&m, MAP_SKADDR),
	    "every leg closed: the fast-path maps are empty");
out:
	for (int *fd = (int[]){ out_a, out_b, in_b, app_b, c, s, ns_a, ns_b, -2 }; *fd != -2; fd++)
		if (*fd >= 0)
			close(*fd);
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	maps_close(&m);
	return ktest_finish(&k);
}
