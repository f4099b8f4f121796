// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The capture path stage by stage, in the kernel, in a second: the kernel tier of the suite,
 * on the model of the kernel's prog_tests. shunt is loaded by its own loader onto a private
 * cgroup with its pins in a private directory; the test joins that cgroup and a network
 * namespace of its own (loopback only), and plays both the app (uid 0) and the sidecar
 * (uid 1337, Istio's defaults). Each stage is one TAP line:
 *   the proxy's bind meshes the netns -> an app's connect goes to the proxy -> the
 *   connection's entry is there -> the proxy reads the original destination -> the app's
 *   getpeername shows it -> bytes arrive -> the proxy's own connect and localhost stay
 *   direct -> the same for IPv6 -> close: the per-connection maps are empty -> DNS capture
 *   applied live: a query reaches the agent, its answer reads as from the server -> unload.
 * No proxy binary, no shell, no ip(8): static-linkable, so the same file is the smoke test of
 * an arm64 build in an arm64 guest (scripts/arm64-smoke.sh). Needs root; skipped without.
 */
#include "ktest.h"

#define WORLD4 "198.18.0.100"
#define WORLD6 "2001:db8::100"
#define PORT 7001

/* One family's capture, app -> proxy, stage by stage. */
static void capture(const struct shunt_maps *m, int family, const char *world, int proxy)
{
	const char *v = family == AF_INET ? "IPv4" : "IPv6";
	struct sockaddr_storage od = { 0 }, peer = { 0 };
	socklen_t len = sizeof(od);
	char buf[128], want[80], data[8] = { 0 };
	int app, conn, err;

	snprintf(want, sizeof(want), family == AF_INET ? "%s:%d" : "[%s]:%d", world, PORT);
	err = connect_to(family, world, PORT, &app);
	tap(!err, "%s: an app's connect to %s succeeds (to the proxy: %s has no route here)", v,
	    want, world);
	if (err)
		return;
	tap(entries(m, MAP_CONN) >= 1,
	    "%s: the connection's entry is in the connection map", v);
	conn = accept4(proxy, NULL, NULL, SOCK_CLOEXEC);
	tap(conn >= 0, "%s: the proxy accepts it", v);
	if (conn < 0) {
		close(app);
		return;
	}
	as_proxy(1);
	err = family == AF_INET
		? getsockopt(conn, SHUNT_SOL_IP, SHUNT_SO_ORIGINAL_DST, &od, &len)
		: getsockopt(conn, SHUNT_SOL_IPV6, SHUNT_SO_ORIGINAL_DST, &od, &len);
	as_proxy(0);
	tap(!err && !strcmp(str(&od, buf, sizeof(buf)), want),
	    "%s: the proxy's SO_ORIGINAL_DST is %s (got %s)", v, want, err ? strerror(errno) : buf);
	len = sizeof(peer);
	err = getpeername(app, (struct sockaddr *)&peer, &len);
	tap(!err && !strcmp(str(&peer, buf, sizeof(buf)), want),
	    "%s: the app's getpeername is %s, not the proxy's port (got %s)", v, want, buf);
	tap(send(app, "ping", 4, 0) == 4 && recv(conn, data, sizeof(data), 0) == 4 &&
	    !strcmp(data, "ping"), "%s: the app's bytes reach the proxy intact", v);
	close(app);
	close(conn);
}

/* dns.capture: an app's query to a nameserver (port 53) goes to the proxy's DNS agent, and
 * the agent's reply reads as from the server asked (a resolver drops any other). */
static void dns(const struct shunt_maps *m, int family, const char *server, const char *lo)
{
	const char *v = family == AF_INET ? "IPv4" : "IPv6";
	struct sockaddr_storage to, from, app_addr;
	socklen_t tolen = sockaddr_of(family, server, 53, &to), flen, alen;
	struct timeval tv = { .tv_sec = 2 };
	char buf[128], want[80], q[16] = { 0 }, a[16] = { 0 };
	__u64 restored = counter(m, SHUNT_C_DNS_REPLY_RESTORED);
	int agent, app;
	ssize_t n;

	snprintf(want, sizeof(want), family == AF_INET ? "%s:53" : "[%s]:53", server);
	as_proxy(1);
	agent = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	flen = sockaddr_of(family, lo, 15053, &from);
	if (agent >= 0 && bind(agent, (struct sockaddr *)&from, flen)) {
		close(agent);
		agent = -1;
	}
	as_proxy(0);
	app = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (agent < 0 || app < 0) {
		tap(0, "%s: the DNS agent binds %s:15053 (uid %d)", v, lo, PROXY_UID);
		goto out;
	}
	setsockopt(agent, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(app, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = sendto(app, "query", 5, 0, (struct sockaddr *)&to, tolen);
	alen = sizeof(app_addr);
	tap(n == 5 && recvfrom(agent, q, sizeof(q) - 1, 0, (struct sockaddr *)&app_addr, &alen) == 5 &&
	    !strcmp(q, "query"), "%s: an app's query to %s reaches the DNS agent on %s:15053 "
	    "(sendmsg: %s has no route here)", v, want, lo, server);
	/* the agent answers from its own address; the app must see the server's */
	n = sendto(agent, "answer", 6, 0, (struct sockaddr *)&app_addr, alen);
	flen = sizeof(from);
	memset(&from, 0, sizeof(from));
	tap(n == 6 && recvfrom(app, a, sizeof(a) - 1, 0, (struct sockaddr *)&from, &flen) == 6 &&
	    !strcmp(a, "answer") && !strcmp(str(&from, buf, sizeof(buf)), want),
	    "%s: the agent's answer reads as from %s (got %s)", v, want, buf);
	tap(counter(m, SHUNT_C_DNS_REPLY_RESTORED) == restored + 1,
	    "%s: dns_reply_source_restored counted it", v);
out:
	if (agent >= 0)
		close(agent);
	if (app >= 0)
		close(app);
}

int main(void)
{
	struct shunt_maps m;
	struct shunt_workload wl;
	struct ktest k;
	__u64 cookie;
	int p4, p6, fd, err, i;

	err = ktest_start(&k, "capture");
	if (err > 0)
		return n_failed;
	if (err)
		return ktest_finish(&k);
	err = maps_open_pinned(&m, k.pin);
	tap(!err, "its maps open from the pins");
	if (err)
		return ktest_finish(&k);
	cookie = netns_cookie();

	/* the sidecar starts: its outbound listeners, bound as the proxy */
	as_proxy(1);
	p4 = listen_on(AF_INET, "127.0.0.1", 15001);
	p6 = listen_on(AF_INET6, "::1", 15001);
	as_proxy(0);
	tap(p4 >= 0 && p6 >= 0, "the proxy (uid %d) listens on 127.0.0.1:15001 and [::1]:15001",
	    PROXY_UID);
	err = bpf_map_lookup_elem(m.fd[MAP_NETNS], &cookie, &wl);
	tap(!err && (wl.flags & SHUNT_WL_AUTO),
	    "its bind meshed the pod: a workload entry for netns cookie %llu, flag auto", (unsigned long long)cookie);

	capture(&m, AF_INET, WORLD4, p4);
	capture(&m, AF_INET6, WORLD6, p6);

	as_proxy(1);
	err = connect_to(AF_INET, WORLD4, PORT, &fd);
	as_proxy(0);
	tap(err == -ENETUNREACH, "the proxy's own connect to %s:%d is left alone (ENETUNREACH, "
	    "not the proxy's port; got %s)", WORLD4, PORT, err ? strerror(-err) : "connected");
	if (fd >= 0)
		close(fd);
	err = connect_to(AF_INET, "127.0.0.1", 7002, &fd);
	tap(err == -ECONNREFUSED, "the app's connect to 127.0.0.1:7002 stays on localhost "
	    "(ECONNREFUSED; got %s)", err ? strerror(-err) : "connected");
	if (fd >= 0)
		close(fd);
	{
		__u64 inc = counter(&m, SHUNT_V_INCLUDE_CIDR), own = counter(&m, SHUNT_V_PROXY_OWNER),
		      lo = counter(&m, SHUNT_V_APP_LOOPBACK), od = counter(&m, SHUNT_C_GETSOCKOPT_HIT);

		tap(inc == 2 && own == 1 && lo == 1 && od == 2,
		    "the counters say so: 2 redirect_include_cidr, 1 direct_proxy_owner, 1 "
		    "direct_app_loopback, 2 so_original_dst_answered (got %llu %llu %llu %llu)",
		    (unsigned long long)inc, (unsigned long long)own, (unsigned long long)lo,
		    (unsigned long long)od);
	}
	/* closed: sock_release takes the entries (TIME_WAIT is not a socket any more) */
	for (i = 0; i < 200 && entries(&m, MAP_CONN) > 0; i++)
		usleep(10000);
	tap(entries(&m, MAP_CONN) == 0 && entries(&m, MAP_ODST) == 0,
	    "every socket closed: the connection and original-destination maps are empty");

	/* the node's policy now captures DNS: applied as `shunt apply` does, to a live pod */
	{
		__u32 gen = 0;

		err = ktest_apply(&k, "dns: {capture: true, capture_all: true}\n", &gen);
		tap(!err, "apply dns.capture (capture_all) to the loaded shunt: generation %u", gen);
		if (!err) {
			dns(&m, AF_INET, "198.18.0.53", "127.0.0.1");
			dns(&m, AF_INET6, "2001:db8::53", "::1");
		}
	}
	close(p4);
	close(p6);
	maps_close(&m);
	return ktest_finish(&k);
}
