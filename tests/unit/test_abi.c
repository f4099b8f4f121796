// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The kernel/user contract: every struct of include/shunt/abi.h has the same size and
 * member offsets in the BPF object's BTF as in the host compiler's view, has no implicit
 * padding (keys are hashed byte by byte), and every map's key and value sizes match the
 * structs user space writes. Reads the object embedded in the skeleton; needs no root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "shunt.skel.h"
#include "shunt/abi.h"

static struct bpf_object *obj;
static const struct btf *btf;

static int setup(void **state)
{
	size_t sz;
	const void *bytes = shunt_bpf__elf_bytes(&sz);

	(void)state;
	obj = bpf_object__open_mem(bytes, sz, NULL);
	if (!obj)
		return -1;
	btf = bpf_object__btf(obj);
	return btf ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	bpf_object__close(obj);
	return 0;
}

struct member {
	const char *name;
	size_t offset, size;
};

static void check_struct(const char *name, size_t size, const struct member *m, size_t n)
{
	int id = btf__find_by_name_kind(btf, name, BTF_KIND_STRUCT);
	const struct btf_type *t;
	const struct btf_member *bm;
	size_t covered = 0;

	if (id < 0)
		fail_msg("struct %s is not in the BPF object's BTF", name);
	t = btf__type_by_id(btf, (__u32)id);
	if ((size_t)btf__resolve_size(btf, (__u32)id) != size)
		fail_msg("struct %s: BPF size %lld, host size %zu", name,
			 (long long)btf__resolve_size(btf, (__u32)id), size);
	if (btf_vlen(t) != n)
		fail_msg("struct %s: BPF has %u members, the test lists %zu", name, btf_vlen(t), n);
	bm = btf_members(t);
	for (size_t i = 0; i < n; i++, bm++) {
		const char *mname = btf__name_by_offset(btf, bm->name_off);

		if (strcmp(mname, m[i].name))
			fail_msg("struct %s: member %zu is '%s' in BPF, '%s' on the host", name, i,
				 mname, m[i].name);
		if (btf_member_bit_offset(t, (__u32)i) / 8 != m[i].offset)
			fail_msg("struct %s.%s: BPF offset %u, host offset %zu", name, mname,
				 btf_member_bit_offset(t, (__u32)i) / 8, m[i].offset);
		if ((size_t)btf__resolve_size(btf, bm->type) != m[i].size)
			fail_msg("struct %s.%s: BPF size %lld, host size %zu", name, mname,
				 (long long)btf__resolve_size(btf, bm->type), m[i].size);
		covered += m[i].size;
	}
	if (covered != size)
		fail_msg("struct %s has %zu bytes of implicit padding: make it explicit", name,
			 size - covered);
}

#define M(type, field) { #field, offsetof(struct type, field), sizeof(((struct type *)0)->field) }
#define CHECK(type, ...)                                                               \
	do {                                                                           \
		const struct member m_[] = { __VA_ARGS__ };                           \
		check_struct(#type, sizeof(struct type), m_, sizeof(m_) / sizeof(m_[0])); \
	} while (0)

static void test_structs(void **state)
{
	(void)state;
	CHECK(shunt_cfg, M(shunt_cfg, abi_version), M(shunt_cfg, generation), M(shunt_cfg, flags),
	      M(shunt_cfg, proxy_uid), M(shunt_cfg, proxy_gid), M(shunt_cfg, outbound_port),
	      M(shunt_cfg, inbound_port), M(shunt_cfg, tunnel_port), M(shunt_cfg, dns_port),
	      M(shunt_cfg, accel_queue_limit), M(shunt_cfg, proxy_cgroup_id));
	CHECK(shunt_state, M(shunt_state, abi_version), M(shunt_state, active_slot),
	      M(shunt_state, generation), M(shunt_state, pad0), M(shunt_state, applied_ns));
	CHECK(shunt_pol_key, M(shunt_pol_key, owner), M(shunt_pol_key, slot),
	      M(shunt_pol_key, pad0));
	CHECK(shunt_port_key, M(shunt_port_key, owner), M(shunt_port_key, slot),
	      M(shunt_port_key, list), M(shunt_port_key, block), M(shunt_port_key, pad0));
	CHECK(shunt_port_block, M(shunt_port_block, bits));
	CHECK(shunt_cidr_key, M(shunt_cidr_key, prefixlen), M(shunt_cidr_key, slot),
	      M(shunt_cidr_key, list), M(shunt_cidr_key, family), M(shunt_cidr_key, pad0),
	      M(shunt_cidr_key, owner), M(shunt_cidr_key, addr));
	CHECK(shunt_cidr_val, M(shunt_cidr_val, hits_unused));
	CHECK(shunt_workload, M(shunt_workload, flags), M(shunt_workload, workload_id),
	      M(shunt_workload, since_ns), M(shunt_workload, netns_ino));
	CHECK(shunt_ip, M(shunt_ip, family), M(shunt_ip, pad0), M(shunt_ip, addr));
	CHECK(shunt_origdst, M(shunt_origdst, dst), M(shunt_origdst, dst_port),
	      M(shunt_origdst, verdict), M(shunt_origdst, flags), M(shunt_origdst, generation));
	CHECK(shunt_tuple, M(shunt_tuple, netns_cookie), M(shunt_tuple, local),
	      M(shunt_tuple, remote), M(shunt_tuple, local_port),
	      M(shunt_tuple, remote_port), M(shunt_tuple, pad0));
	CHECK(shunt_local_key, M(shunt_local_key, netns_cookie), M(shunt_local_key, ip),
	      M(shunt_local_key, pad0));
	CHECK(shunt_counter_val, M(shunt_counter_val, count));
	CHECK(shunt_slotkeys_key, M(shunt_slotkeys_key, owner), M(shunt_slotkeys_key, slot),
	      M(shunt_slotkeys_key, chunk));
	CHECK(shunt_slotkeys, M(shunt_slotkeys, generation), M(shunt_slotkeys, n),
	      M(shunt_slotkeys, total), M(shunt_slotkeys, pad0), M(shunt_slotkeys, keys));
	CHECK(shunt_trace_ctl, M(shunt_trace_ctl, active), M(shunt_trace_ctl, pad0),
	      M(shunt_trace_ctl, pid), M(shunt_trace_ctl, starttime));
	CHECK(shunt_podname, M(shunt_podname, ns), M(shunt_podname, name));
}

static void check_map(const char *name, size_t key, size_t value)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);

	if (!m)
		fail_msg("map %s is not in the BPF object", name);
	if (bpf_map__key_size(m) != key || bpf_map__value_size(m) != value)
		fail_msg("map %s: BPF key/value %u/%u bytes, user space writes %zu/%zu", name,
			 bpf_map__key_size(m), bpf_map__value_size(m), key, value);
	if (strlen(name) > 15)
		fail_msg("map %s: kernel object names stop at 15 characters", name);
}

static void test_maps(void **state)
{
	(void)state;
	/* every map of abi.h's list: in the object, of the sizes user space uses */
	static const struct { const char *name; size_t key, value; } all[] = {
#define X(id, name, key, value, sizing, label) { name, key, value },
		SHUNT_MAP_LIST(X)
#undef X
	};
	unsigned rings = 0;

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		check_map(all[i].name, all[i].key, all[i].value);
		if (!all[i].key) {
			rings++;
			assert_int_equal(bpf_map__max_entries(bpf_object__find_map_by_name(obj, all[i].name)),
					 SHUNT_TRACE_RING_BYTES);
		}
	}
	assert_int_equal(rings, SHUNT_TRACE_RINGS);
	/* and nothing in the object that the list lacks */
	{
		struct bpf_map *m;
		size_t n = 0;

		bpf_object__for_each_map(m, obj)
			if (!strncmp(bpf_map__name(m), "shunt_", 6))
				n++;
		assert_int_equal(n, sizeof(all) / sizeof(all[0]));
	}
	assert_int_equal(bpf_map__max_entries(bpf_object__find_map_by_name(obj, "shunt_stats_v2")),
			 SHUNT_COUNTERS);
}

static void test_abi_constants(void **state)
{
	(void)state;
	/* The LPM key header is exactly the 12 bytes after prefixlen that prefixlen counts. */
	assert_int_equal(offsetof(struct shunt_cidr_key, addr) - offsetof(struct shunt_cidr_key, slot),
			 SHUNT_CIDR_KEY_HDR_BITS / 8);
	assert_true(SHUNT_SLOTS == 2);
	assert_true(SHUNT_PORT_BLOCKS * SHUNT_PORT_BLOCK_WORDS * 64 == 65536);
	assert_true(SHUNT_WL_EXPLICIT_SLOT(SHUNT_SLOTS - 1) < SHUNT_WL_NO_ACCEL);
	assert_true(SHUNT_WL_POD_INIT < SHUNT_WL_EXPLICIT_SLOT(0));
	/* the per-list flags stay clear of the other cfg flags */
	assert_true(SHUNT_CFG_PORTS(0) > SHUNT_CFG_LINKERD);
	assert_true(SHUNT_CFG_PORTS(SHUNT_PORT_LISTS - 1) < (1u << 16));
}

/* The verdict and counter lists: the indexes are the ABI (a counter's place in
 * shunt_stats_v2, what status and /metrics print it as), each has a unique lower-case name
 * and a sentence. Values pinned here: a line inserted in the middle would move them. */
static void test_counter_lists(void **state)
{
	static const struct { unsigned idx; const char *name, *what; } all[] = {
#define X(e, name, what) { e, name, what },
#define XC(e, name, metric, what) { e, name, what },
		SHUNT_VERDICT_LIST(X) SHUNT_COUNTER_LIST(XC)
#undef X
#undef XC
	};
	size_t n = sizeof(all) / sizeof(all[0]);

	(void)state;
	assert_int_equal(SHUNT_V_VERDICTS, 22);
	assert_int_equal(SHUNT_C_GETSOCKOPT_HIT, 22);
	assert_int_equal(SHUNT_V_DNS, 14);
	assert_int_equal(SHUNT_V_IN_NO_LISTENER, 21);
	assert_int_equal(SHUNT_C_DNS_REPLY_RESTORED, 38);
	assert_int_equal(n, SHUNT_COUNTERS);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(all[i].idx, i);
		assert_true(all[i].name[0] && strspn(all[i].name, "abcdefghijklmnopqrstuvwxyz_0123456789") ==
						      strlen(all[i].name));
		assert_true(strlen(all[i].what) > 5);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(all[i].name, all[j].name);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_structs),
		cmocka_unit_test(test_maps),
		cmocka_unit_test(test_abi_constants),
		cmocka_unit_test(test_counter_lists),
	};

	return cmocka_run_group_tests_name("abi", tests, setup, teardown);
}
