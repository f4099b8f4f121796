#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Parity with the real thing, case by case. For each configuration (a set of istio-iptables
# or Linkerd proxy-init flags) a matrix of real connections runs twice on a fresh pod: once
# under the nat table the init container would install (tests/tools/mesh-nat, written from
# Istio's and Linkerd's sources, loaded with iptables-restore), once under shunt with the
# same flags given to `shunt pod-init`. Every case records where it landed (the proxy's
# outbound or inbound listener and the original destination it read, the app, the world,
# refused, an error) and both runs must agree, but for the differences README lists as
# deliberate. Each pass has a new netns, so no conntrack entry of the iptables pass can
# answer SO_ORIGINAL_DST in the shunt pass.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/testbed.sh"
. "$here/../tap.sh"

tap_require_root iptables-restore ip6tables-restore

tb_init d
POD4=198.18.0.10 POD6=2001:2::10
tb_pod w 198.18.0.100 2001:2::100        # the world, and the inbound caller
# remote addresses: in the include list, in the exclude list, in neither
for a in 198.18.1.1/24 198.18.2.1/24 198.18.3.1/24; do tb_addr w "$a"; done
for a in 2001:2:0:1::1/64 2001:2:0:2::1/64 2001:2:0:3::1/64; do ip -n "$(tb_ns w)" addr add "$a" dev eth0 nodad; done
ip -n "$(tb_ns w)" -6 route add 2001:2::/48 dev eth0 2>/dev/null
PORTS=(53 80 7000 8000 9000 15001 15006 15008 15021)
tb_bg w "$TOOLS/landing" serve world "${PORTS[@]}"
tb_wait_listen w 15021 || tap_bail "world listeners"

CFG=$TB_TMP/node.yaml
printf 'mesh: {auto_detect: false}\n' > "$CFG"   # only pods that run pod-init are meshed
tb_shunt_run "$CFG" || tap_bail "shunt"

# The matrix. Callers: name uid gid [source to bind].
CALLERS4=("app 1000 1000" "proxy 1337 1337" "gid-only 1000 1337" "uid-only 1337 1000"
	  "passthrough 1337 1337 127.0.0.6")
CALLERS6=("app 1000 1000" "proxy 1337 1337" "gid-only 1000 1337" "uid-only 1337 1000"
	  "passthrough 1337 1337 ::6")
DSTS4=(127.0.0.1 127.0.0.5 "$POD4" 198.18.1.1 198.18.2.1 198.18.3.1)
DSTS6=(::1 "$POD6" 2001:2:0:1::1 2001:2:0:2::1 2001:2:0:3::1)

# cases CALLER-SPEC FAMILY: the probe's input for one caller
cases() {
	local name=$1 src=$2 fam=$3 d p dsts
	if [ "$fam" = 4 ]; then dsts=("${DSTS4[@]}"); else dsts=("${DSTS6[@]}"); fi
	# a 127.0.0.6 / ::6 source only means something on lo: elsewhere nothing answers it
	[ "$name" = passthrough ] && dsts=("${dsts[@]:0:$((fam == 4 ? 3 : 2))}")
	for d in "${dsts[@]}"; do
		for p in "${PORTS[@]}"; do
			echo "v$fam/$name/$d/$p $d $p $src"
		done
	done
}

# pass KIND N FLAGS...: one pass (iptables or shunt) of configuration N; results in
# $TB_TMP/KIND-N.out, sorted by case.
pass() {
	local kind=$1 n=$2 ns c spec name uid gid src fam out=$TB_TMP/$1-$2.out
	shift 2
	local -a flags=("$@") initflags=()
	local skip=0 f
	# --dns-servers stands for the pod's resolv.conf: mesh-nat takes the list, pod-init
	# reads a resolv.conf with those nameservers
	for f in "${flags[@]}"; do
		if [ "$skip" = 1 ]; then
			skip=0
			tr ',' '\n' <<<"$f" | sed 's/^/nameserver /' > "$TB_TMP/resolv-$n.conf"
			initflags+=(--resolv-conf "$TB_TMP/resolv-$n.conf")
			continue
		fi
		[ "$f" = --dns-servers ] && { skip=1; continue; }
		initflags+=("$f")
	done
	tb_pod a "$POD4" "$POD6"
	ns=$(tb_ns a)
	ip -n "$ns" -6 route add 2001:2::/48 dev eth0
	ip -n "$ns" -6 addr add ::6/128 dev lo          # istio-iptables adds it with IPv6 on
	# the app listens on 53 and 80 as uid 1000
	nsenter --net="/run/netns/$ns" sysctl -qw net.ipv4.ip_unprivileged_port_start=0
	if [ "$kind" = iptables ]; then
		for fam in 4 6; do
			c=iptables-restore
			[ "$fam" = 6 ] && c=ip6tables-restore
			"$here/../tools/mesh-nat" "$fam" "${flags[@]}" > "$TB_TMP/nat$fam-$n.rules" ||
				tap_bail "mesh-nat $n"
			nsenter --net="/run/netns/$ns" "$c" --noflush < "$TB_TMP/nat$fam-$n.rules" ||
				tap_bail "$c: config $n: $(cat "$TB_TMP/nat$fam-$n.rules")"
		done
	else
		tb_run a "$SHUNT" pod-init --socket "$SOCK" "${initflags[@]}" > "$TB_TMP/podinit-$n.log" 2>&1 ||
			tap_bail "pod-init, config $n: $(cat "$TB_TMP/podinit-$n.log")"
	fi
	# the proxy starts after the init container, as in a pod
	# (not jobs of this shell: they die with the pod, tb_pod_del kills its cgroup)
	(tb_run_as 1000 1000 a "$TOOLS/landing" serve app 53 80 7000 8000 9000 2>> "$TB_TMP/listeners.log" &)
	(tb_run_as 1337 1337 a "$TOOLS/landing" serve proxy -o 15001 15006 15053 2>> "$TB_TMP/listeners.log" &)
	(tb_run_as 1337 1337 a "$TOOLS/landing" serve proxy 15008 15021 2>> "$TB_TMP/listeners.log" &)
	tb_wait_listen a 9000 && tb_wait_listen a 15006 && tb_wait_listen a 15021 ||
		tap_bail "pod listeners, config $n: $(cat "$TB_TMP/listeners.log")"
	ip -n "$(tb_ns w)" neigh flush all
	sleep 0.2
	: > "$out.raw"
	for fam in 4 6; do
		local callers pod=$POD4
		if [ "$fam" = 4 ]; then callers=("${CALLERS4[@]}"); else callers=("${CALLERS6[@]}") pod=$POD6; fi
		for spec in "${callers[@]}"; do
			read -r name uid gid src <<<"$spec"
			cases "$name" "${src:-}" "$fam" |
				tb_run_as "$uid" "$gid" a "$TOOLS/landing" probe -t 2000 >> "$out.raw"
		done
		# inbound from the world, and from its address in the exclude lists (a source
		# Linkerd's --subnets-to-ignore names)
		src2=198.18.2.1
		[ "$fam" = 6 ] && src2=2001:2:0:2::1
		for p in "${PORTS[@]}"; do
			echo "v$fam/inbound/$p $pod $p"
			echo "v$fam/inbound-from-excluded/$p $pod $p $src2"
		done |
			tb_run w "$TOOLS/landing" probe -t 2000 >> "$out.raw"
	done
	sort "$out.raw" > "$out"
	[ "$kind" = shunt ] && explain_pass "$n" "$ns"
	tb_pod_del a
}

# explain_pass N NETNS: `shunt explain` asked about every outbound case of the shunt pass,
# while the pod is still there, must say where the case really landed: redirected to port X
# with original destination D:P = landed at the proxy's X reading D:P; direct = landed on
# D:P itself (or nothing answered there). In the guest (TCG) only the first configuration.
EXPLAIN_BAD=0 EXPLAIN_CASES=0 EXPLAIN_DIFFS=""
explain_pass() {
	local n=$1 ns=$2 fam spec name uid gid src id d p got want landed callers j
	[ -n "${SHUNT_VM:-}" ] && [ "$n" != 1 ] && return 0
	for fam in 4 6; do
		if [ "$fam" = 4 ]; then callers=("${CALLERS4[@]}"); else callers=("${CALLERS6[@]}"); fi
		for spec in "${callers[@]}"; do
			read -r name uid gid src <<<"$spec"
			cases "$name" "${src:-}" "$fam" > "$TB_TMP/explain-cases"
			while read -r id d p _; do
				[ "$fam" = 6 ] && d="[$d]"
				j=$("$SHUNT" explain --pin-dir "$TB_PIN" --pod "$ns" --uid "$uid" --gid "$gid" \
					--json ${src:+"$src"} "$d:$p" 2>&1)
				landed=$(sed -n "s|^$id ||p" "$TB_TMP/shunt-$n.out")
				if [ "${j#*\"redirected\":true}" != "$j" ]; then
					want="proxy:$(sed 's/.*"to":"[^"]*:\([0-9]*\)".*/\1/' <<<"$j") orig=$(sed 's/.*"original_dst":"\([^"]*\)".*/\1/' <<<"$j")"
					[ "$landed" = "$want" ]
				else
					want="direct to $d:$p"
					case $landed in
					app:* | world:* | proxy:*) [ "${landed%% *}" = "${landed%%:*}:$p" ] ;;
					*) true ;;   # refused, timed out: nothing listened on D:P
					esac
				fi || {
					EXPLAIN_BAD=$((EXPLAIN_BAD + 1))
					[ "$EXPLAIN_BAD" -le 10 ] && EXPLAIN_DIFFS+="config $n $id: explain '$want' ($j), landed '$landed'"$'\n'
				}
				EXPLAIN_CASES=$((EXPLAIN_CASES + 1))
			done < "$TB_TMP/explain-cases"
		done
	done
}

# Deliberate differences (README, "Parity with istio-iptables"): only one. Without
# --dual-stack, istio-iptables writes no ip6tables rules for an IPv4 pod and its IPv6 goes
# around the proxy; shunt captures IPv6 as if --dual-stack were given. For such a
# configuration, V6_AS names the configuration with --dual-stack whose iptables results its
# IPv6 cases must match instead.
V6_AS=""

# compare N DESC: both passes of configuration N agree
compare() {
	local n=$1 desc=$2 total bad=0 id a b diffs=""
	total=$(grep -c . "$TB_TMP/iptables-$n.out")
	# no process substitution: the 6.1 guest has no /dev/fd
	sed 's/ /_/2g' "$TB_TMP/iptables-$n.out" > "$TB_TMP/i-$n"
	sed 's/ /_/2g' "$TB_TMP/shunt-$n.out" > "$TB_TMP/s-$n"
	if [ -n "$V6_AS" ]; then
		{ grep -v '^v6/' "$TB_TMP/i-$n"; grep '^v6/' "$TB_TMP/i-$V6_AS"; } | sort > "$TB_TMP/i6-$n"
		mv "$TB_TMP/i6-$n" "$TB_TMP/i-$n"
	fi
	join -j1 -a1 -a2 -e missing -o 0,1.2,2.2 "$TB_TMP/i-$n" "$TB_TMP/s-$n" > "$TB_TMP/joined-$n"
	# PARITY_KEEP=DIR keeps each configuration's cases side by side, to read
	[ -n "${PARITY_KEEP:-}" ] && cp "$TB_TMP/joined-$n" "$TB_TMP/nat4-$n.rules" "$TB_TMP/nat6-$n.rules" "$PARITY_KEEP/"
	while read -r id a b; do
		[ "$a" = "$b" ] && continue
		bad=$((bad + 1))
		[ "$bad" -le 25 ] && diffs+="$id: iptables '${a//_/ }', shunt '${b//_/ }'"$'\n'
	done < "$TB_TMP/joined-$n"
	if [ "$total" -gt 0 ] && [ "$bad" = 0 ] &&
	   [ "$(grep -c . "$TB_TMP/shunt-$n.out")" = "$total" ]; then
		tap_ok "config $n ($desc): $total cases, shunt lands each where iptables does"
	else
		tap_fail "config $n ($desc): $bad of $total cases differ" "$diffs"
	fi
	TOTAL_CASES=$((TOTAL_CASES + total))
}

TOTAL_CASES=0
N=0
config() { # config DESC FLAGS...
	local desc=$1
	shift
	N=$((N + 1))
	# PARITY_ONLY=N runs configuration N alone (reading one case by hand)
	[ -n "${PARITY_ONLY:-}" ] && [ "$PARITY_ONLY" != "$N" ] && return 0
	pass iptables "$N" "$@"
	pass shunt "$N" "$@"
	compare "$N" "$desc"
}

ISTIO=(-p 15001 -z 15006 -u 1337 -g 1337 -m REDIRECT)
config "Istio's defaults" "${ISTIO[@]}" -i '*' -x '' -b '*' -d 15090,15021,15020 --dual-stack
# the reference is what it claims to be: the iptables pass captured, both ways
r=""; [ -f "$TB_TMP/iptables-1.out" ] &&
r=$(sed -n 's|^v4/app/198.18.3.1/80 ||p' "$TB_TMP/iptables-1.out")
check_eq "reference: app -> remote:80 reached the outbound listener under iptables" \
	"proxy:15001 orig=198.18.3.1:80" "$r"
r=$(sed -n 's|^v6/inbound/80 ||p' "$TB_TMP/iptables-1.out")
check_eq "reference: inbound [pod]:80 reached the inbound listener under iptables" \
	"proxy:15006 orig=[2001:2::10]:80" "$r"
config "outbound include CIDRs only" "${ISTIO[@]}" -i 198.18.1.0/24,2001:2:0:1::/64 -b '*' --dual-stack
config "exclude CIDRs win over include ports" "${ISTIO[@]}" -i '*' \
	-x 198.18.2.0/24,2001:2:0:2::/64 -q 8000 -b '*' --dual-stack
config "ports only" "${ISTIO[@]}" -i '' -o 7000 -q 8000,15006 -b 80,8000 --dual-stack
config "gid apart from uid, tunnel port elsewhere" -p 15001 -z 15006 -u 1337 -g 1500 -e 9000 \
	-i '*' -b '*' -d 15021 --dual-stack
config "every list at once" "${ISTIO[@]}" -i 198.18.0.0/15,2001:2::/48 \
	-x 198.18.2.0/24,2001:2:0:2::/64 -o 7000 -q 8000 -b '*' -d 9000,15021 --dual-stack
config "edges: widest and narrowest prefixes, a loopback prefix" "${ISTIO[@]}" \
	-i 0.0.0.0/0,127.0.0.0/8,::/0 -x 198.18.2.1/32,2001:2:0:2::1/128 -b '*' -d 53 --dual-stack
# the widest prefixes contain loopback, but no address of theirs is one: Istio keeps its
# "app -> lo -> direct" shortcut (an app calling its own pod IP goes direct)
config "widest prefixes, no loopback address" "${ISTIO[@]}" -i 0.0.0.0/0,::/0 -b '*' --dual-stack
config "Linkerd proxy-init" --incoming-proxy-port 15006 --outgoing-proxy-port 15001 \
	--proxy-uid 1337 --inbound-ports-to-ignore 9000,15021 --outbound-ports-to-ignore 7000-7001 \
	--subnets-to-ignore 198.18.2.0/24,2001:2:0:2::/64 --ipv6
config "DNS (TCP) to the pod's nameservers" "${ISTIO[@]}" -i '*' -b '*' -d 15021 --dual-stack \
	--redirect-dns --dns-servers 198.18.1.1,2001:2:0:1::1
config "DNS (TCP) to any server, gid apart, a loopback include" -p 15001 -z 15006 -u 1337 -g 1500 \
	-i 198.18.3.0/24,127.0.0.0/8,2001:2:0:3::/64 -b 53,80 --dual-stack --redirect-dns --capture-all-dns
# Istio's defaults again without --dual-stack: IPv4 as under iptables, IPv6 as config 1's
V6_AS=1
config "no --dual-stack: IPv6 captured all the same" "${ISTIO[@]}" -i '*' -x '' -b '*' \
	-d 15090,15021,15020
V6_AS=""
v6_direct=$(grep -c '^v6/app/2001:2:0:3::1/80 world:' "$TB_TMP/iptables-$N.out" 2>/dev/null)
check_eq "... where istio-iptables alone leaves it direct" "1" "$v6_direct"

# one drawn from a seed (PARITY_SEED=N reproduces it)
SEED=${PARITY_SEED:-$((RANDOM * 32768 + RANDOM))}
RANDOM=$SEED
pick() { # pick N ITEMS...: a random subset of the items, comma-joined
	local n=$1 out="" i
	shift
	for i in "$@"; do [ $((RANDOM % n)) = 0 ] && out+=${out:+,}$i; done
	echo "$out"
}
R_I=$(pick 2 198.18.1.0/24 198.18.3.0/24 2001:2:0:1::/64 2001:2:0:3::/64)
[ $((RANDOM % 3)) = 0 ] && R_I='*'
R_B=$(pick 2 53 80 7000 8000 9000)
[ $((RANDOM % 3)) = 0 ] && R_B='*'
RAND=("${ISTIO[@]}" -i "$R_I" -x "$(pick 2 198.18.2.0/24 198.18.3.1/32 2001:2:0:2::/64)"
	-o "$(pick 3 53 80 7000 15001)" -q "$(pick 3 80 8000 9000)" -b "$R_B"
	-d "$(pick 2 80 9000 15021)" --dual-stack)
case $((RANDOM % 3)) in
1) RAND+=(--redirect-dns --dns-servers "$(pick 2 198.18.1.1 198.18.2.1 2001:2:0:1::1 2001:2:0:3::1)") ;;
2) RAND+=(--redirect-dns --capture-all-dns) ;;
esac
echo "# random configuration, seed $SEED: ${RAND[*]}"
config "random, seed $SEED" "${RAND[@]}"

check "at least 8 configurations, 4000 cases" test "$N" -ge 8 -a "$TOTAL_CASES" -ge 4000
if [ "$EXPLAIN_BAD" = 0 ] && [ "$EXPLAIN_CASES" -gt 0 ]; then
	tap_ok "shunt explain says where each of $EXPLAIN_CASES outbound cases landed"
else
	tap_fail "shunt explain: $EXPLAIN_BAD of $EXPLAIN_CASES outbound cases landed elsewhere" "$EXPLAIN_DIFFS"
fi
echo "# $N configurations, $TOTAL_CASES cases each way"
tap_done
