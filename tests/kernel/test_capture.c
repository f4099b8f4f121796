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
 *   direct -> the same for IPv6 -> close: the per-connection maps are empty -> unload.
 * No proxy binary, no shell, no ip(8): static-linkable, so the same file is the smoke test of
 * an arm64 build in an arm64 guest (scripts/arm64-smoke.sh). Needs root; skipped without.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include "cgroup.h"
#include "config.h"
#include "loader.h"
#include "log.h"
#include "maps.h"
#include "pins.h"
#include "shunt/abi.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif
#define PROXY_UID 1337
#define WORLD4 "198.18.0.100"
#define WORLD6 "2001:db8::100"
#define PORT 7001

static int n_tests, n_failed;

static void tap(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tap(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", ok ? "" : "not ", ++n_tests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	n_failed += !ok;
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* As the proxy: real uid 1337 (what the programs read), root kept as the saved uid. */
static void as_proxy(int on)
{
	if (setresuid(on ? PROXY_UID : 0, on ? PROXY_UID : 0, 0))
		perror("setresuid");
}

/* addr:port of family into ss; its length */
static socklen_t sockaddr_of(int family, const char *addr, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		inet_pton(AF_INET, addr, &s->sin_addr);
		return sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons(port);
		inet_pton(AF_INET6, addr, &s->sin6_addr);
		return sizeof(*s);
	}
}

static int listen_on(int family, const char *addr, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = sockaddr_of(family, addr, port, &ss);
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 16)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* connect() to addr:port; 0 or -errno. *fd is the socket either way (closed on error). */
static int connect_to(int family, const char *addr, int port, int *fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sockaddr_of(family, addr, port, &ss);

	*fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(*fd, (struct sockaddr *)&ss, len)) {
		int err = -errno;

		close(*fd);
		*fd = -1;
		return err;
	}
	return 0;
}

/* "ADDR:PORT" / "[ADDR]:PORT" of a sockaddr */
static const char *str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(s->sin_port));
	} else {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, ntohs(s->sin6_port));
	}
	return buf;
}

static long entries(const struct shunt_maps *m, enum shunt_map_id id, size_t key_size)
{
	return maps_count_entries(m->fd[id], key_size);
}

static __u64 counter(const struct shunt_maps *m, unsigned idx)
{
	__u64 c[SHUNT_COUNTERS] = { 0 };

	return maps_read_counters(m, c) ? 0 : c[idx];
}

static int lo_up(void)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err;

	strcpy(ifr.ifr_name, "lo");
	err = ioctl(fd, SIOCGIFFLAGS, &ifr);
	ifr.ifr_flags |= IFF_UP;
	err = err ? err : ioctl(fd, SIOCSIFFLAGS, &ifr);
	close(fd);
	return err;
}

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
	tap(entries(m, MAP_CONN, sizeof(struct shunt_tuple)) >= 1,
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

int main(void)
{
	struct config_errors errs = { 0 };
	struct shunt_config conf;
	struct shunt_maps m;
	struct shunt_workload wl;
	struct timespec t0;
	char root[PATH_MAX], cg[PATH_MAX + 32], pin[64], procs[PATH_MAX + 64];
	socklen_t clen = sizeof(__u64);
	struct loader_opts o;
	__u64 cookie = 0;
	int p4, p6, fd, err, i;
	FILE *f;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid()) {
		printf("1..0 # SKIP needs root (loads and attaches BPF programs)\n");
		return 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	log_verbosity = LOG_ERR;
	if (cgroup2_root(root, sizeof(root))) {
		printf("1..0 # SKIP no cgroup2 mount\n");
		return 0;
	}
	snprintf(cg, sizeof(cg), "%s/shunt-ktest-%d", root, (int)getpid());
	snprintf(pin, sizeof(pin), "/sys/fs/bpf/shunt-ktest-%d", (int)getpid());
	if (mkdir(cg, 0755)) {
		printf("Bail out! mkdir %s: %s\n", cg, strerror(errno));
		return 1;
	}
	o = (struct loader_opts){ .pin_dir = pin, .cgroup = cg };
	config_load_default(&conf, &errs);
	err = loader_load(&conf, &o, &errs);
	tap(!err, "shunt loads onto a private cgroup, pinned at %s", pin);
	if (err)
		goto out_cg;
	/* into its cgroup, then a network namespace of our own (the pod) */
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg);
	f = fopen(procs, "w");
	err = !f || fprintf(f, "%d\n", (int)getpid()) < 0;
	if (f)
		err |= fclose(f) != 0;
	err = err || unshare(CLONE_NEWNET) || lo_up();
	tap(!err, "the test is a pod: the cgroup, a network namespace of its own");
	if (err)
		goto out_unload;
	err = maps_open_pinned(&m, pin);
	tap(!err, "its maps open from the pins");
	if (err)
		goto out_unload;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &clen);
	close(fd);

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
	for (i = 0; i < 200 && entries(&m, MAP_CONN, sizeof(struct shunt_tuple)) > 0; i++)
		usleep(10000);
	tap(entries(&m, MAP_CONN, sizeof(struct shunt_tuple)) == 0 &&
	    entries(&m, MAP_ODST, sizeof(__u64)) == 0,
	    "every socket closed: the connection and original-destination maps are empty");
	close(p4);
	close(p6);
	maps_close(&m);
out_unload:
	err = loader_unload(&o);
	tap(!err && access(pin, F_OK), "unload: nothing pinned");
	/* back to the root cgroup so ours can go */
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", root);
	f = fopen(procs, "w");
	if (f) {
		fprintf(f, "%d\n", (int)getpid());
		fclose(f);
	}
out_cg:
	rmdir(cg);
	config_free(&conf);
	config_errors_free(&errs);
	printf("# %.0f ms\n1..%d\n", ms_since(&t0), n_tests);
	return n_failed ? 1 : 0;
}
