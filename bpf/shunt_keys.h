/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The map keys both sides build and what an entry means, as pure functions: the programs
 * look the keys up in their maps (bpf/shunt.bpf.h), `shunt explain` in the pinned ones
 * (user/explain.c). One definition, so explain asks exactly the kernel's question: the port
 * block and bit, the CIDR key with its header bits, the v4-mapped fold.
 *
 * Needs abi.h's types in scope; no helpers, no maps.
 */
#ifndef SHUNT_KEYS_H
#define SHUNT_KEYS_H

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SHUNT_BE32(x) __builtin_bswap32(x)
#else
#define SHUNT_BE32(x) (x)
#endif

/* ::ffff:a.b.c.d: a v6 socket talking IPv4; stored as IPv4 so both ends' keys match. */
static __always_inline int shunt_ip6_is_v4mapped(const __u32 *a)
{
	return a[0] == 0 && a[1] == 0 && a[2] == SHUNT_BE32(0x0000ffff);
}

/* An IPv6 address (network order words) as shunt keys it. ip must be zeroed: the programs
 * build keys on zeroed stack, and every word is compared. */
static __always_inline void shunt_ip_set6(struct shunt_ip *ip, const __u32 *a)
{
	if (shunt_ip6_is_v4mapped(a)) {
		ip->family = SHUNT_AF_INET;
		ip->addr[0] = a[3];
		return;
	}
	ip->family = SHUNT_AF_INET6;
	ip->addr[0] = a[0];
	ip->addr[1] = a[1];
	ip->addr[2] = a[2];
	ip->addr[3] = a[3];
}

static __always_inline void shunt_ip_set4(struct shunt_ip *ip, __u32 a)
{
	ip->family = SHUNT_AF_INET;
	ip->addr[0] = a;
}

/* Port lists are bitmaps in blocks of SHUNT_PORT_BLOCK_PORTS: the block's key (k zeroed) */
static __always_inline void shunt_port_key_of(struct shunt_port_key *k, __u64 owner, __u32 slot,
					      __u32 list, __u16 port)
{
	k->owner = owner;
	k->slot = slot;
	k->list = list;
	k->block = port / SHUNT_PORT_BLOCK_PORTS;
}

/* ... and the port's bit in it */
static __always_inline int shunt_port_bit(const struct shunt_port_block *b, __u16 port)
{
	__u32 bit = port % SHUNT_PORT_BLOCK_PORTS;

	return (b->bits[(bit >> 6) & (SHUNT_PORT_BLOCK_WORDS - 1)] >> (bit & 63)) & 1;
}

/* The LPM key of one address in owner's `list` of `slot` (k zeroed): the header (owner,
 * slot, list, family) always matches whole, then the address's bits. */
static __always_inline void shunt_cidr_key_of(struct shunt_cidr_key *k, __u64 owner, __u32 slot,
					      __u32 list, const struct shunt_ip *ip)
{
	k->owner = owner;
	k->slot = slot;
	k->list = list;
	k->family = ip->family;
	if (ip->family == SHUNT_AF_INET) {
		k->prefixlen = SHUNT_CIDR_KEY_HDR_BITS + 32;
		__builtin_memcpy(k->addr, &ip->addr[0], 4);
	} else {
		k->prefixlen = SHUNT_CIDR_KEY_HDR_BITS + 128;
		__builtin_memcpy(k->addr, ip->addr, 16);
	}
}

/* 127.0.0.0/8, ::1, or ::ffff:127.x (already folded to IPv4 by shunt_ip_set6). */
static __always_inline int shunt_ip_is_loopback(const struct shunt_ip *ip)
{
	if (ip->family == SHUNT_AF_INET)
		return (SHUNT_BE32(ip->addr[0]) >> 24) == 127;
	return !ip->addr[0] && !ip->addr[1] && !ip->addr[2] && ip->addr[3] == SHUNT_BE32(1);
}

/* ::6, the source Istio's inbound passthrough binds on lo (127.0.0.6 is in 127/8 already) */
static __always_inline int shunt_ip_is_passthrough6(const struct shunt_ip *ip)
{
	return ip->family == SHUNT_AF_INET6 && !ip->addr[0] && !ip->addr[1] && !ip->addr[2] &&
	       ip->addr[3] == SHUNT_BE32(6);
}

/* 127.0.0.1 or ::1 exactly: iptables' "-d 127.0.0.1/32" and its IPv6 twin */
static __always_inline int shunt_ip_is_localhost(const struct shunt_ip *ip)
{
	if (ip->family == SHUNT_AF_INET)
		return ip->addr[0] == SHUNT_BE32(0x7f000001);
	return !ip->addr[0] && !ip->addr[1] && !ip->addr[2] && ip->addr[3] == SHUNT_BE32(1);
}

/* Where every redirect sends a socket: 127.0.0.1, ::1, or ::ffff:127.0.0.1 (a v6 socket
 * talking IPv4), as network-order words. A socket connected anywhere else has no original
 * destination of ours, which lets the hooks that see every socket of the node skip the
 * cookie-keyed map (a cold hash bucket) for all the others. */
static __always_inline int shunt_words_are_localhost(int family, __u32 ip4, const __u32 *ip6)
{
	if (family == SHUNT_AF_INET)
		return ip4 == SHUNT_BE32(0x7f000001);
	return !ip6[0] && !ip6[1] &&
	       ((!ip6[2] && ip6[3] == SHUNT_BE32(1)) ||
		(ip6[2] == SHUNT_BE32(0x0000ffff) && ip6[3] == SHUNT_BE32(0x7f000001)));
}

/* The source of the proxy's inbound passthrough leg: 127.0.0.6 or ::6 */
static __always_inline int shunt_ip_is_passthrough(const struct shunt_ip *ip)
{
	if (ip->family == SHUNT_AF_INET)
		return ip->addr[0] == SHUNT_BE32(0x7f000006);
	return shunt_ip_is_passthrough6(ip);
}

#endif /* SHUNT_KEYS_H */
