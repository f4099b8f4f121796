// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The sk_lookup program's steering decisions, run in the kernel with BPF_PROG_TEST_RUN:
 * the skeleton is loaded (not attached), its maps hold a compiled policy, one meshed pod
 * (198.18.0.10, netns = the test's own) and a real listening socket as the proxy's inbound
 * listener; each case hands the program a connection and reads back its verdict and the
 * socket it selected. Needs root (CAP_BPF); skipped without it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "shunt.skel.h"
#include "config.h"
#include "maps.h"
#include "policy.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif
#define SK_DROP 0
#define SK_PASS 1

static struct shunt_bpf *skel;
static struct shunt_maps maps;
static int listener = -1;
static __u64 listener_cookie, netns_cookie;

static __u32 ip4(const char *s)
{
	struct in_addr a;

	inet_pton(AF_INET, s, &a);
	return a.s_addr;
}

static int setup(void **state)
{
	struct config_errors errs = { 0 };
	struct shunt_config conf;
	struct shunt_policy pol;
	struct shunt_state st = { .abi_version = SHUNT_ABI_VERSION, .active_slot = 0, .generation = 1 };
	struct shunt_workload wl = { .flags = SHUNT_WL_EXPLICIT_SLOT(0) };
	struct shunt_ip pod = { .family = SHUNT_AF_INET }, self_src = { .family = SHUNT_AF_INET };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	const char *yaml = "proxy: {}\n";
	socklen_t len = sizeof(__u64);
	__u32 one = 1;
	__u64 fd64;

	(void)state;
	skel = shunt_bpf__open();
	if (!skel)
		return -1;
	/* only sk_lookup runs here: leave out the sk_msg variants (one calls a kfunc that
	 * kernels before 6.2 lack; the loader chooses between them) */
	bpf_program__set_autoload(skel->progs.shunt_sk_msg, false);
	bpf_program__set_autoload(skel->progs.shunt_sk_msg_pr, false);
	if (shunt_bpf__load(skel))
		return -1;
	if (config_parse("t.yaml", yaml, strlen(yaml), &conf, &errs) ||
	    policy_compile(&conf, 0, 0, 1, &pol))
		return -1;
	maps_init(&maps);
	maps.fd[MAP_STATE] = bpf_map__fd(skel->maps.shunt_state_v2);
	maps.fd[MAP_CFG] = bpf_map__fd(skel->maps.shunt_cfg_v2);
	maps.fd[MAP_PORTS] = bpf_map__fd(skel->maps.shunt_ports_v2);
	maps.fd[MAP_CIDRS] = bpf_map__fd(skel->maps.shunt_cidrs_v2);
	maps.fd[MAP_SLOTKEYS] = bpf_map__fd(skel->maps.shunt_skeys_v2);
	if (maps_write_slot(&maps, 0, &pol) || maps_flip(&maps, SHUNT_OWNER_DEFAULT, 0, st.generation))
		return -1;
	policy_free(&pol);
	config_free(&conf);

	listener = socket(AF_INET, SOCK_STREAM, 0);
	if (listener < 0 || bind(listener, (void *)&sin, sizeof(sin)) || listen(listener, 8))
		return -1;
	getsockopt(listener, SOL_SOCKET, SO_COOKIE, &listener_cookie, &len);
	len = sizeof(__u64);
	getsockopt(listener, SOL_SOCKET, SO_NETNS_COOKIE, &netns_cookie, &len);

	pod.addr[0] = ip4("198.18.0.10");
	self_src.addr[0] = ip4("198.18.0.10");
	bpf_map_update_elem(bpf_map__fd(skel->maps.shunt_netns_v1), &netns_cookie, &wl, BPF_ANY);
	bpf_map_update_elem(bpf_map__fd(skel->maps.shunt_podip_v1), &pod, &netns_cookie, BPF_ANY);
	{
		struct shunt_local_key lk = { .netns_cookie = netns_cookie, .ip = self_src };

		bpf_map_update_elem(bpf_map__fd(skel->maps.shunt_local_v1), &lk, &one, BPF_ANY);
	}
	fd64 = (__u64)listener;
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.shunt_listen_v1), &netns_cookie, &fd64, BPF_ANY))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (listener >= 0)
		close(listener);
	shunt_bpf__destroy(skel);
	return 0;
}

struct result {
	__u32 retval;
	__u64 selected;   /* cookie of the socket the program picked, 0 = none */
};

static struct result run(int protocol, const char *src, __u16 sport, const char *dst, __u16 dport)
{
	struct bpf_sk_lookup ctx = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &ctx, .ctx_size_in = sizeof(ctx),
		    .ctx_out = &ctx, .ctx_size_out = sizeof(ctx));
	struct result r;

	ctx.family = AF_INET;
	ctx.protocol = (__u32)protocol;
	ctx.remote_ip4 = ip4(src);
	ctx.remote_port = htons(sport);
	ctx.local_ip4 = ip4(dst);
	ctx.local_port = dport;
	if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.shunt_sk_lookup), &opts))
		fail_msg("BPF_PROG_TEST_RUN: %s", strerror(errno));
	r.retval = opts.retval;
	r.selected = ctx.cookie;
	return r;
}

static void test_steers_to_listener(void **state)
{
	struct result r = run(IPPROTO_TCP, "198.18.0.30", 40000, "198.18.0.10", 8080);

	(void)state;
	assert_int_equal(r.retval, SK_PASS);
	assert_int_equal(r.selected, listener_cookie);
}

static void test_exemptions(void **state)
{
	struct result r;

	(void)state;
	r = run(IPPROTO_TCP, "198.18.0.30", 40000, "198.18.0.10", 15020);   /* excluded */
	assert_int_equal(r.retval, SK_PASS);
	assert_int_equal(r.selected, 0);
	r = run(IPPROTO_TCP, "198.18.0.30", 40000, "198.18.0.10", 15008);   /* tunnel */
	assert_int_equal(r.selected, 0);
	r = run(IPPROTO_TCP, "127.0.0.6", 40000, "198.18.0.10", 8080);      /* passthrough */
	assert_int_equal(r.retval, SK_PASS);
	assert_int_equal(r.selected, 0);
	r = run(IPPROTO_TCP, "198.18.0.10", 40000, "198.18.0.10", 8080);    /* own pod IP */
	assert_int_equal(r.selected, 0);
	r = run(IPPROTO_TCP, "198.18.0.30", 40000, "198.18.0.99", 8080);    /* not a pod */
	assert_int_equal(r.selected, 0);
	r = run(IPPROTO_UDP, "198.18.0.30", 40000, "198.18.0.10", 8080);    /* not TCP */
	assert_int_equal(r.retval, SK_PASS);
	assert_int_equal(r.selected, 0);
}

static void test_fail_closed_without_listener(void **state)
{
	int fd = bpf_map__fd(skel->maps.shunt_listen_v1);
	struct result r;
	__u64 fd64 = (__u64)listener;

	(void)state;
	assert_int_equal(bpf_map_delete_elem(fd, &netns_cookie), 0);
	r = run(IPPROTO_TCP, "198.18.0.30", 40000, "198.18.0.10", 8080);
	assert_int_equal(r.retval, SK_DROP);
	/* excluded ports still reach the app while the proxy is away */
	r = run(IPPROTO_TCP, "198.18.0.30", 40000, "198.18.0.10", 15021);
	assert_int_equal(r.retval, SK_PASS);
	assert_int_equal(bpf_map_update_elem(fd, &netns_cookie, &fd64, BPF_ANY), 0);
	r = run(IPPROTO_TCP, "198.18.0.30", 40000, "198.18.0.10", 8080);
	assert_int_equal(r.selected, listener_cookie);
}

static void test_not_meshed(void **state)
{
	int fd = bpf_map__fd(skel->maps.shunt_netns_v1);
	struct shunt_workload wl = { .flags = SHUNT_WL_EXPLICIT_SLOT(1) };  /* other slot only */
	struct result r;

	(void)state;
	assert_int_equal(bpf_map_update_elem(fd, &netns_cookie, &wl, BPF_ANY), 0);
	r = run(IPPROTO_TCP, "198.18.0.30", 40000, "198.18.0.10", 8080);
	assert_int_equal(r.retval, SK_PASS);
	assert_int_equal(r.selected, 0);
	wl.flags = SHUNT_WL_EXPLICIT_SLOT(0);
	assert_int_equal(bpf_map_update_elem(fd, &netns_cookie, &wl, BPF_ANY), 0);
}

/* A pod's own policy decides for it alone; removing it brings the default back. */
static void test_own_policy(void **state)
{
	struct config_errors errs = { 0 };
	struct shunt_config base, own;
	const char *doc = "inbound: {include_ports: [9090, \"7000-7002\"]}\n";
	int fd = bpf_map__fd(skel->maps.shunt_netns_v1);
	struct shunt_workload wl = { .flags = SHUNT_WL_POD_INIT | SHUNT_WL_OWN_POLICY };
	struct result r;

	(void)state;
	assert_int_equal(config_load_default(&base, &errs), 0);
	assert_int_equal(config_parse_overlay("pod", doc, strlen(doc), &base, &own, &errs), 0);
	assert_int_equal(maps_set_policy(&maps, netns_cookie, &own, NULL), 0);
	assert_int_equal(bpf_map_update_elem(fd, &netns_cookie, &wl, BPF_ANY), 0);
	r = run(IPPROTO_TCP, "198.18.0.30", 40000, "198.18.0.10", 8080);   /* not in its list */
	assert_int_equal(r.retval, SK_PASS);
	assert_int_equal(r.selected, 0);
	r = run(IPPROTO_TCP, "198.18.0.30", 40000, "198.18.0.10", 7001);
	assert_int_equal(r.selected, listener_cookie);
	/* an update flips its own slot */
	config_free(&own);
	doc = "inbound: {include_ports: [8080]}\n";
	assert_int_equal(config_parse_overlay("pod", doc, strlen(doc), &base, &own, &errs), 0);
	assert_int_equal(maps_set_policy(&maps, netns_cookie, &own, NULL), 0);
	r = run(IPPROTO_TCP, "198.18.0.30", 40000, "198.18.0.10", 7001);
	assert_int_equal(r.selected, 0);
	r = run(IPPROTO_TCP, "198.18.0.30", 40000, "198.18.0.10", 8080);
	assert_int_equal(r.selected, listener_cookie);
	/* gone: every entry of that owner, and the default decides again */
	assert_int_equal(maps_delete_policy(&maps, netns_cookie), 0);
	r = run(IPPROTO_TCP, "198.18.0.30", 40000, "198.18.0.10", 7001);
	assert_int_equal(r.selected, listener_cookie);
	{
		struct shunt_port_key k, next;
		void *prev = NULL;
		int left = 0;

		while (!bpf_map_get_next_key(maps.fd[MAP_PORTS], prev, &next)) {
			left += next.owner == netns_cookie;
			k = next;
			prev = &k;
		}
		assert_int_equal(left, 0);
	}
	wl.flags = SHUNT_WL_EXPLICIT_SLOT(0);
	assert_int_equal(bpf_map_update_elem(fd, &netns_cookie, &wl, BPF_ANY), 0);
	config_free(&own);
	config_free(&base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_steers_to_listener),
		cmocka_unit_test(test_exemptions),
		cmocka_unit_test(test_fail_closed_without_listener),
		cmocka_unit_test(test_not_meshed),
		cmocka_unit_test(test_own_policy),
	};

	if (geteuid() != 0) {
		printf("[  SKIPPED ] sk_lookup: needs root\n");
		return 0;
	}
	return cmocka_run_group_tests_name("sk_lookup (BPF_PROG_TEST_RUN)", tests, setup, teardown);
}
