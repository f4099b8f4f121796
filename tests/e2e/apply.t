#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# apply writes only the difference into the inactive slot (shunt_skeys_v2): after every
# apply in a run of random edits to a route set, the live slot must hold exactly the
# configured CIDRs, and the other slot exactly the previous generation's.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/testbed.sh"
. "$here/../tap.sh"
tap_require_root

tb_init a
# the live slot's exclude list as shunt dump decodes it, one CIDR a line, sorted
live_excludes() {
	"$SHUNT" dump --pin-dir "$TB_PIN" | sed -n 's/^  outbound.exclude_cidrs *//p' | tr ',' '\n' | grep -v '^-$' | sort
}
# write_set N SEED FILE: a random set of N CIDRs (IPv4 /32 and /24, IPv6 /64), canonical
# spelling, sorted, unique: what the live slot must hold.
write_set() {
	awk -v n="$1" -v seed="$2" 'BEGIN { srand(seed); for (i = 0; i < n; i++) { r = rand();
		if (r < 0.6) printf "10.%d.%d.%d/32\n", int(rand() * 4), int(rand() * 256), int(rand() * 256);
		else if (r < 0.9) printf "172.%d.%d.0/24\n", 16 + int(rand() * 8), int(rand() * 256);
		else printf "2001:db8:%x:%x::/64\n", 1 + int(rand() * 65535), 1 + int(rand() * 65535) } }' | sort -u > "$3"
}
# messy SEED < CANONICAL > CONFIG-LIST: the same set as an operator may write it, in random
# order, about a fifth of the lines twice, and every other IPv6 route spelled out in full
# (2001:0db8:00ab:...): duplicates must not cost a route.
messy() {
	awk -v seed="$1" 'BEGIN { srand(seed) } {
		line = $0
		if (line ~ /^2001:/ && rand() < 0.5) {
			split(line, p, "[:/]"); line = "2001:0db8:" substr("000" p[3], length(p[3])) ":" substr("000" p[4], length(p[4])) ":0:0:0:0/64"
		}
		print rand() "\t" line; if (rand() < 0.2) print rand() "\t" $0 }' | sort | cut -f2
}

write_set 500 1 "$TB_TMP/set.txt"
messy 1 < "$TB_TMP/set.txt" > "$TB_TMP/list.txt"
printf 'outbound:\n  exclude_cidrs_from: list.txt\n' > "$TB_TMP/routes.yaml"
out=$("$SHUNT" load --config "$TB_TMP/routes.yaml" --pin-dir "$TB_PIN" --cgroup "$TB_CG" 2>&1)
check_eq "load 500 routes from a list file" "0" "$?"
check_eq "generation 1 holds exactly the file" "$(cat "$TB_TMP/set.txt")" "$(live_excludes)"

cp "$TB_TMP/set.txt" "$TB_TMP/prev-1.txt"
prev=$TB_TMP/prev-1.txt
for gen in 2 3 4 5 6 7 8 9; do
	# edit: drop a random tenth, add fresh ones; every few generations a whole new set
	if [ $((gen % 4)) = 0 ]; then
		write_set 300 "$gen" "$TB_TMP/next.txt"
	else
		write_set 60 "$gen" "$TB_TMP/add.txt"
		awk -v seed="$gen" 'BEGIN { srand(seed) } rand() > 0.1' "$prev" | cat - "$TB_TMP/add.txt" | sort -u > "$TB_TMP/next.txt"
	fi
	cp "$TB_TMP/next.txt" "$TB_TMP/set.txt"
	messy "$gen" < "$TB_TMP/set.txt" > "$TB_TMP/list.txt"
	out=$("$SHUNT" apply --config "$TB_TMP/routes.yaml" --pin-dir "$TB_PIN" 2>&1)
	check_match "apply generation $gen" "policy generation $gen" "$out"
	check_eq "generation $gen: the live slot holds exactly the configured $(wc -l < "$TB_TMP/set.txt") routes" \
		"$(cat "$TB_TMP/set.txt")" "$(live_excludes)"
	n_prev=$(wc -l < "$prev")
	n_now=$(wc -l < "$TB_TMP/set.txt")
	check_match "generation $gen: both slots together hold $((n_prev + n_now)) entries" \
		"\"cidrs\":$((n_prev + n_now))," "$("$SHUNT" status --json --pin-dir "$TB_PIN")"
	cp "$TB_TMP/set.txt" "$TB_TMP/prev-$gen.txt"
	prev=$TB_TMP/prev-$gen.txt
done

# a record that does not match its slot is not trusted: break it, the next apply rewrites
bpftool map delete pinned "$TB_PIN/maps/shunt_skeys_v2" key 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 2>/dev/null
bpftool map delete pinned "$TB_PIN/maps/shunt_skeys_v2" key 0 0 0 0 0 0 0 0 1 0 0 0 0 0 0 0 2>/dev/null
write_set 200 99 "$TB_TMP/set.txt"
messy 99 < "$TB_TMP/set.txt" > "$TB_TMP/list.txt"
out=$("$SHUNT" apply --config "$TB_TMP/routes.yaml" --pin-dir "$TB_PIN" 2>&1)
check_eq "without a record the slot is rewritten in full, exactly" "$(cat "$TB_TMP/set.txt")" "$(live_excludes)"

# The reproduction from the reliability review: a duplicate in the list, applied into both
# slots, then the duplicate removed: 10.0.0.0/8 must stay live.
printf 'outbound:\n  exclude_cidrs: [10.0.0.0/8, 10.0.0.0/8, 192.0.2.0/24, "2001:db8::/32", "2001:0db8::/32"]\n' > "$TB_TMP/dup.yaml"
printf 'outbound:\n  exclude_cidrs: [10.0.0.0/8, 192.0.2.0/24, "2001:db8::/32"]\n' > "$TB_TMP/nodup.yaml"
want=$(printf '10.0.0.0/8\n192.0.2.0/24\n2001:db8::/32' | sort)
for f in dup dup nodup dup nodup nodup; do
	if ! "$SHUNT" apply --config "$TB_TMP/$f.yaml" --pin-dir "$TB_PIN" >/dev/null 2>&1; then
		got="apply $f failed"
		break
	fi
	got=$(live_excludes)
	[ "$got" = "$want" ] || break
done
check_eq "duplicates and respellings applied into both slots and then dropped: no route lost" "$want" "$got"
tap_done
