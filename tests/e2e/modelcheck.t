#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Model-checked apply. Each generation draws a whole new configuration from pools that
# overlap on purpose: include and exclude CIDRs (v4 and v6, nested prefixes, duplicates, the
# same IPv6 route spelled two ways, inline and from *_cidrs_from files), port lists with
# ranges that cross the 512-port blocks and duplicates, inbound lists and source exclusions,
# and three pods listed or not under workloads: with keys of their own, which replace the
# node's whole. One `shunt apply` a generation; then every policy read back from the maps
# (`shunt dump`: the node default and each pod's own) must be what the configuration means,
# computed here from the draw, not by shunt. MODEL_GENERATIONS=N (default 200) runs longer
# (`make modelcheck`: 3000); MODEL_SEED=N replays a run.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/testbed.sh"
. "$here/../tap.sh"
tap_require_root

# 200 on the host; 50 in the emulated guest of make vmtest, where one generation's dozens of
# small processes cost ~2 s (the same code on another kernel's maps: fewer draws suffice)
GENS=${MODEL_GENERATIONS:-200}
[ -n "${SHUNT_VM:-}" ] && GENS=${MODEL_GENERATIONS:-50}
SEED=${MODEL_SEED:-$((RANDOM * 32768 + RANDOM))}
RANDOM=$SEED
echo "# seed $SEED, $GENS generations (MODEL_SEED=$SEED replays)"

tb_init m
PODS=(p1 p2 p3)
for i in 1 2 3; do tb_pod "p$i" "198.18.0.1$i"; done

# pools: "canonical|another spelling of the same route"
CIDRS=("10.0.0.0/8|10.0.0.0/8" "10.1.0.0/16|10.1.0.0/16" "10.1.2.0/24|10.1.2.0/24"
       "10.1.2.3/32|10.1.2.3/32" "192.0.2.0/24|192.0.2.0/24" "0.0.0.0/0|0.0.0.0/0"
       "2001:db8::/32|2001:0db8::/32" "2001:db8:1::/48|2001:db8:0001::/48"
       "2001:db8:1:2::/64|2001:0db8:1:2:0::/64" "2001:db8::1/128|2001:db8:0:0:0:0:0:1/128"
       "::/0|0::/0")
PORTS=(22 53 80 443 5432 "8000-8010" 8005 "9000-9001" 15020 15021 15090 "1-10" 65535
       "40000-40600" 511 512 513)

# draw_cidrs OUT-CANON OUT-WRITTEN: a random subset, some twice, some respelled
draw_cidrs() {
	local -n canon=$1 written=$2
	local e c alt
	canon=() written=()
	for e in "${CIDRS[@]}"; do
		[ $((RANDOM % 3)) = 0 ] || continue
		c=${e%|*} alt=${e#*|}
		canon+=("$c")
		if [ $((RANDOM % 2)) = 0 ]; then written+=("$alt"); else written+=("$c"); fi
		[ $((RANDOM % 5)) = 0 ] && written+=("$c")
	done
	return 0
}
draw_ports() { # draw_ports OUT: a random subset, some twice
	local -n out=$1
	local p
	out=()
	for p in "${PORTS[@]}"; do
		[ $((RANDOM % 4)) = 0 ] || continue
		out+=("$p")
		[ $((RANDOM % 6)) = 0 ] && out+=("$p")
	done
	return 0
}
yaml_list() { # the items as a YAML flow list, quoted
	local out="" i
	for i in "$@"; do out+=${out:+, }\"$i\"; done
	echo "[$out]"
}
# what dump prints for a CIDR list: sorted here, so the order of the map does not matter
want_cidrs() {
	[ $# = 0 ] && { echo -; return; }
	printf '%s\n' "$@" | sort -u | paste -sd,
}
# what dump prints for a port list: ascending, runs as a-b
want_ports() {
	[ $# = 0 ] && { echo -; return; }
	local p
	for p in "$@"; do
		if [[ $p == *-* ]]; then seq "${p%-*}" "${p#*-}"; else echo "$p"; fi
	done | sort -n -u | awk 'NR == 1 { s = e = $1; next }
		$1 == e + 1 { e = $1; next }
		{ printf "%s%s,", s, (e > s ? "-" e : ""); s = e = $1 }
		END { printf "%s%s\n", s, (e > s ? "-" e : "") }'
}
# got SECTION-TEXT: the seven list lines of one policy in dump, CIDR lists sorted
got() {
	awk '$1 ~ /^(outbound|inbound)\./ { print }' <<<"$1" |
		while read -r k v; do
			case $k in *cidrs) v=$(tr ',' '\n' <<<"$v" | sort -u | paste -sd,) ;; esac
			echo "$k $v"
		done
}

CFG=$TB_TMP/node.yaml
printf 'mesh: {auto_detect: false}\n' > "$CFG"
out=$("$SHUNT" load --config "$CFG" --pin-dir "$TB_PIN" --cgroup "$TB_CG" 2>&1) ||
	tap_bail "load: $out"
declare -A INO
for p in "${PODS[@]}"; do INO[$p]=$(stat -L -c %i "/run/netns/$(tb_ns "$p")"); done

bad=0 applied=0 own_seen=0 first_bad=""
for gen in $(seq 2 $((GENS + 1))); do
	# --- the node default
	n_ic=() w_ic=() n_xc=() w_xc=() n_sc=() w_sc=() iq=() xq=() ib=() xb=()
	draw_cidrs n_ic w_ic; draw_cidrs n_xc w_xc; draw_cidrs n_sc w_sc
	draw_ports iq; draw_ports xq; draw_ports ib; draw_ports xb
	inc_star=$((RANDOM % 3 == 0)) in_star=$((RANDOM % 2)) xfile=$((RANDOM % 3 == 0))
	{
		echo "outbound:"
		if [ "$inc_star" = 1 ]; then echo '  include_cidrs: ["*"]'
		else echo "  include_cidrs: $(yaml_list "${w_ic[@]}")"; fi
		if [ "$xfile" = 1 ]; then
			printf '%s\n' "# drawn for generation $gen" "${w_xc[@]}" > "$TB_TMP/x.txt"
			echo "  exclude_cidrs_from: x.txt"
		else
			echo "  exclude_cidrs: $(yaml_list "${w_xc[@]}")"
		fi
		echo "  include_ports: $(yaml_list "${iq[@]}")"
		echo "  exclude_ports: $(yaml_list "${xq[@]}")"
		echo "inbound:"
		if [ "$in_star" = 1 ]; then echo '  include_ports: ["*"]'
		else echo "  include_ports: $(yaml_list "${ib[@]}")"; fi
		echo "  exclude_ports: $(yaml_list "${xb[@]}")"
		echo "  exclude_source_cidrs: $(yaml_list "${w_sc[@]}")"
		echo "mesh: {auto_detect: false}"
	} > "$CFG"
	if [ "$inc_star" = 1 ]; then w_incl='*'; else w_incl=$(want_cidrs "${n_ic[@]}"); fi
	if [ "$in_star" = 1 ]; then w_inb='*'; else w_inb=$(want_ports "${ib[@]}"); fi
	node_want="outbound.include_cidrs $w_incl
outbound.exclude_cidrs $(want_cidrs "${n_xc[@]}")
outbound.include_ports $(want_ports "${iq[@]}")
outbound.exclude_ports $(want_ports "${xq[@]}")
inbound.include_ports $w_inb
inbound.exclude_ports $(want_ports "${xb[@]}")
inbound.exclude_source_cidrs $(want_cidrs "${n_sc[@]}")"

	# --- the pods: not listed, listed, or listed with keys of their own
	declare -A POD_WANT=()
	listed=0
	for p in "${PODS[@]}"; do
		r=$((RANDOM % 3))
		[ "$r" = 0 ] && continue
		[ "$listed" = 0 ] && echo "workloads:" >> "$CFG"
		listed=1
		echo "  - {name: $p, netns: /run/netns/$(tb_ns "$p")}" >> "$CFG"
		[ "$r" = 1 ] && continue
		# own keys: outbound.exclude_ports and inbound.exclude_source_cidrs replaced
		o_xq=() o_sc=() o_wsc=()
		draw_ports o_xq; draw_cidrs o_sc o_wsc
		sed -i '$ d' "$CFG"
		echo "  - {name: $p, netns: /run/netns/$(tb_ns "$p"), outbound: {exclude_ports: $(yaml_list "${o_xq[@]}")}, inbound: {exclude_source_cidrs: $(yaml_list "${o_wsc[@]}")}}" >> "$CFG"
		POD_WANT[$p]=$(sed -e "s|^outbound.exclude_ports .*|outbound.exclude_ports $(want_ports "${o_xq[@]}")|" \
			-e "s|^inbound.exclude_source_cidrs .*|inbound.exclude_source_cidrs $(want_cidrs "${o_sc[@]}")|" <<<"$node_want")
	done

	out=$("$SHUNT" apply --config "$CFG" --pin-dir "$TB_PIN" 2>&1)
	if [ $? != 0 ]; then
		bad=$((bad + 1))
		[ -z "$first_bad" ] && first_bad="generation $gen: apply failed: $out"$'\n'"$(cat "$CFG")"
		continue
	fi
	applied=$((applied + 1))
	dump=$("$SHUNT" dump --pin-dir "$TB_PIN")
	node_got=$(got "$(sed -n '/^policy (node default/,/^policy\|^workloads/p' <<<"$dump" | sed '1d')")
	mism=""
	[ "$node_got" = "$node_want" ] || mism+="node default:"$'\n'"want:"$'\n'"$node_want"$'\n'"got:"$'\n'"$node_got"$'\n'
	# each pod's own policy, found by its netns inode
	n_own=0
	for p in "${PODS[@]}"; do
		cookie=$(awk -v ino="${INO[$p]}" '$1 == "netns" && $4 == ino { print $2 }' <<<"$dump")
		if [ -z "${POD_WANT[$p]:-}" ]; then
			if [ -n "$cookie" ] && grep -q "^policy of netns $cookie " <<<"$dump"; then
				mism+="$p has an own policy it should not have"$'\n'
			fi
			continue
		fi
		n_own=$((n_own + 1))
		pod_got=$(got "$(sed -n "/^policy of netns $cookie /,/^policy\|^workloads/p" <<<"$dump" | sed '1d')")
		[ "$pod_got" = "${POD_WANT[$p]}" ] ||
			mism+="$p (netns $cookie):"$'\n'"want:"$'\n'"${POD_WANT[$p]}"$'\n'"got:"$'\n'"$pod_got"$'\n'
	done
	own_seen=$((own_seen + n_own))
	if [ -n "$mism" ]; then
		bad=$((bad + 1))
		[ -z "$first_bad" ] && first_bad="generation $gen:"$'\n'"$mism"$'\n'"config:"$'\n'"$(cat "$CFG")"
	fi
done
if [ "$bad" = 0 ]; then
	tap_ok "$GENS generations applied, every policy read back from the maps is what its config means"
else
	tap_fail "$bad of $GENS generations wrong (seed $SEED)" "$first_bad"
fi
check "the draws exercised pods with policies of their own ($own_seen)" test "$own_seen" -gt 0
echo "# $applied applies, $own_seen pod policies checked"
tap_done
