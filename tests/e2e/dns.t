#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# DNS capture (Istio's --redirect-dns), with real DNS software and against the real thing.
# The world runs an authoritative dnsmasq (who.svc.test TXT "upstream", web.svc.test A/AAAA)
# on two addresses of each family; the pod's DNS agent is a dnsmasq forwarder on
# 127.0.0.1:15053 and [::1]:15053 running as the proxy's uid, which answers who.svc.test TXT
# "agent" itself and forwards the rest. So the answer says who handled a query. The app
# asks with dig (connected UDP, and TCP) and through a caching dnsmasq of its own
# (unconnected UDP: sendto/recvfrom), which, like dig, drops a reply that does not come from
# the server it asked. Each configuration runs twice on a fresh pod, under the nat table
# istio-iptables writes (tests/tools/mesh-nat) and under shunt pod-init with the same flags,
# and every query must get the same answer.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/testbed.sh"
. "$here/../tap.sh"

tap_require_root dnsmasq dig iptables-restore ip6tables-restore

tb_init n
POD4=198.18.0.10 POD6=2001:2::10
tb_pod w 198.18.0.53 2001:2::53          # the upstream; .54 / ::54 is a server not listed
tb_addr w 198.18.0.54/24
ip -n "$(tb_ns w)" addr add 2001:2::54/64 dev eth0 nodad
tb_pod c 198.18.0.30 2001:2::30          # never meshed
sleep 1                                  # IPv6 addresses leave "tentative" (nodad aside)
DNSMASQ=(dnsmasq -k -C /dev/null --no-resolv --no-hosts --bind-interfaces --pid-file= --log-queries)
tb_bg w "${DNSMASQ[@]}" --user=root --port 53 --log-facility="$TB_TMP/upstream.log" \
	--listen-address=198.18.0.53,198.18.0.54,2001:2::53,2001:2::54 \
	--host-record=web.svc.test,198.18.7.7,2001:2:7::7 --txt-record=who.svc.test,upstream
tb_wait_listen w 53 || tap_bail "upstream dnsmasq: $(cat "$TB_TMP/upstream.log")"

CFG=$TB_TMP/node.yaml
printf 'mesh: {auto_detect: false}\n' > "$CFG"   # only pods that run pod-init are meshed
tb_shunt_run "$CFG" || tap_bail "shunt"

DIG=(dig +tries=1 +time=2)
# The queries: ID UID GID DIG-ARGS. Answers are joined with commas; dig's own complaints
# (a reply from an unexpected source, a timeout) are kept, so they differ too.
QUERIES=(
	"app/udp4/listed 1000 1000 @198.18.0.53 TXT who.svc.test"
	"app/tcp4/listed 1000 1000 +tcp @198.18.0.53 TXT who.svc.test"
	"app/udp6/listed 1000 1000 @2001:2::53 TXT who.svc.test"
	"app/tcp6/listed 1000 1000 +tcp @2001:2::53 TXT who.svc.test"
	"app/udp4/forwarded 1000 1000 @198.18.0.53 A web.svc.test"
	"app/udp6/forwarded 1000 1000 @2001:2::53 AAAA web.svc.test"
	"app/udp4/unlisted 1000 1000 @198.18.0.54 TXT who.svc.test"
	"app/tcp4/unlisted 1000 1000 +tcp @198.18.0.54 TXT who.svc.test"
	"app/udp6/unlisted 1000 1000 @2001:2::54 TXT who.svc.test"
	"app/udp4/own-pod-ip 1000 1000 @$POD4 TXT who.svc.test"
	"proxy/udp4/listed 1337 1337 @198.18.0.53 TXT who.svc.test"
	"proxy/tcp4/listed 1337 1337 +tcp @198.18.0.53 TXT who.svc.test"
	"proxy/udp6/listed 1337 1337 @2001:2::53 TXT who.svc.test"
	"gid-only/udp4/listed 1000 1337 @198.18.0.53 TXT who.svc.test"
	"app/cache-udp4/listed 1000 1000 -p 5353 @127.0.0.1 TXT who.svc.test"
	"app/cache-udp6/listed 1000 1000 -p 5354 @127.0.0.1 TXT who.svc.test"
	"app/cache-udp4/unlisted 1000 1000 -p 5355 @127.0.0.1 TXT who.svc.test"
)

# pass KIND N FLAGS...: a fresh pod a, meshed by KIND (iptables or shunt), the agent and the
# app's caches started, every query asked; "ID ANSWER" lines in $TB_TMP/KIND-N.out
pass() {
	local kind=$1 n=$2 ns fam q id uid gid out=$TB_TMP/$1-$2.out
	shift 2
	tb_pod a "$POD4" "$POD6"
	ns=$(tb_ns a)
	ip -n "$ns" -6 route add 2001:2::/48 dev eth0 2>/dev/null
	sleep 1
	if [ "$kind" = iptables ]; then
		for fam in 4 6; do
			local c=iptables-restore
			[ "$fam" = 6 ] && c=ip6tables-restore
			"$here/../tools/mesh-nat" "$fam" --dns-servers 198.18.0.53,2001:2::53 "$@" \
				> "$TB_TMP/nat$fam-$n.rules" || tap_bail "mesh-nat $n"
			nsenter --net="/run/netns/$ns" "$c" --noflush < "$TB_TMP/nat$fam-$n.rules" ||
				tap_bail "$c: $(cat "$TB_TMP/nat$fam-$n.rules")"
		done
	else
		printf '# the pod'"'"'s\nsearch svc.test\nnameserver 198.18.0.53\nnameserver 2001:2::53\n' \
			> "$TB_TMP/resolv.conf"
		tb_run a "$SHUNT" pod-init --socket "$SOCK" --resolv-conf "$TB_TMP/resolv.conf" "$@" \
			> "$TB_TMP/podinit-$n.log" 2>&1 || tap_bail "pod-init: $(cat "$TB_TMP/podinit-$n.log")"
	fi
	# the agent, as the proxy; the app's own caches (unconnected UDP clients)
	(tb_run_as 1337 1337 a "${DNSMASQ[@]}" --port 15053 --listen-address=127.0.0.1,::1 \
		--server=198.18.0.53 --txt-record=who.svc.test,agent \
		--log-facility="$TB_TMP/agent-$kind-$n.log" 2>> "$TB_TMP/dnsmasq.err" &)
	(tb_run_as 1000 1000 a "${DNSMASQ[@]}" --port 5353 --listen-address=127.0.0.1 \
		--server=198.18.0.53 --log-facility="$TB_TMP/cache.log" 2>> "$TB_TMP/dnsmasq.err" &)
	(tb_run_as 1000 1000 a "${DNSMASQ[@]}" --port 5354 --listen-address=127.0.0.1 \
		--server=2001:2::53 --log-facility="$TB_TMP/cache.log" 2>> "$TB_TMP/dnsmasq.err" &)
	(tb_run_as 1000 1000 a "${DNSMASQ[@]}" --port 5355 --listen-address=127.0.0.1 \
		--server=198.18.0.54 --log-facility="$TB_TMP/cache.log" 2>> "$TB_TMP/dnsmasq.err" &)
	tb_wait_listen a 15053 && tb_wait_listen a 5355 ||
		tap_bail "pod a's dnsmasqs: $(cat "$TB_TMP/dnsmasq.err")"
	: > "$out"
	for q in "${QUERIES[@]}"; do
		read -r id uid gid args <<<"$q"
		# shellcheck disable=SC2086  # args are words
		echo "$id $(tb_run_as "$uid" "$gid" a "${DIG[@]}" +short $args 2>&1 | paste -sd, -)" >> "$out"
	done
	# the full answer of one query, for what dig says about the server
	tb_run_as 1000 1000 a "${DIG[@]}" @198.18.0.53 TXT who.svc.test > "$TB_TMP/dig-$kind-$n.full" 2>&1
	tb_pod_del a
}

# compare N DESC: every query got the same answer both ways
compare() {
	local n=$1 desc=$2 diffs
	diffs=$(diff "$TB_TMP/iptables-$n.out" "$TB_TMP/shunt-$n.out" | grep '^[<>]')
	check_eq "config $n ($desc): ${#QUERIES[@]} queries, each answered as under iptables" "" "$diffs"
}

ISTIO=(-p 15001 -z 15006 -u 1337 -g 1337 -m REDIRECT -i '*' -b '*' --dual-stack)
answer() { sed -n "s|^$2 ||p" "$TB_TMP/$1.out"; }

# --- 1: the pod's nameservers --------------------------------------------------------------------
s0=$(tb_status)
pass iptables 1 "${ISTIO[@]}" --redirect-dns
pass shunt 1 "${ISTIO[@]}" --redirect-dns
s1=$(tb_status)
compare 1 "--redirect-dns: the pod's nameservers"
check_eq "reference: under iptables the app's query reached the agent" '"agent"' \
	"$(answer iptables-1 app/udp4/listed)"
for id in app/udp4/listed app/tcp4/listed app/udp6/listed app/tcp6/listed app/cache-udp4/listed \
	app/cache-udp6/listed; do
	check_eq "shunt: $id answered by the agent" '"agent"' "$(answer shunt-1 "$id")"
done
check_eq "shunt: the agent forwarded what it does not know (A)" "198.18.7.7" \
	"$(answer shunt-1 app/udp4/forwarded)"
check_eq "shunt: ... (AAAA over IPv6)" "2001:2:7::7" "$(answer shunt-1 app/udp6/forwarded)"
for id in app/udp4/unlisted app/udp6/unlisted app/cache-udp4/unlisted \
	proxy/udp4/listed proxy/tcp4/listed proxy/udp6/listed gid-only/udp4/listed; do
	check_eq "shunt: $id went straight to the upstream" '"upstream"' "$(answer shunt-1 "$id")"
done
# TCP to a server not listed follows the outbound rules: to 15001, where nobody listens in
# this pod (fail-closed), as under iptables
check_match "shunt: app/tcp4/unlisted went to the outbound port (refused: no proxy here)" \
	'connection refused' "$(answer shunt-1 app/tcp4/unlisted)"
full=$(cat "$TB_TMP/dig-shunt-1.full")
check_match "shunt: dig saw the reply come from the server it asked" 'SERVER: 198.18.0.53#53' "$full"
check_nomatch "shunt: ... and no reply from an unexpected source" 'unexpected source' "$full"
check_match "shunt: the agent logged the app's query from localhost" \
	'query\[TXT\] who.svc.test from 127.0.0.1' "$(cat "$TB_TMP/agent-shunt-1.log")"
check "shunt: dns_captured counted (+$(( $(tb_counter "$s1" dns_captured) - $(tb_counter "$s0" dns_captured) )))" \
	test "$(tb_counter "$s1" dns_captured)" -gt "$(tb_counter "$s0" dns_captured)"
check "shunt: replies shown from the server asked (dns_reply_source_restored +$(( $(tb_counter "$s1" dns_reply_source_restored) - $(tb_counter "$s0" dns_reply_source_restored) )))" \
	test "$(tb_counter "$s1" dns_reply_source_restored)" -gt "$(tb_counter "$s0" dns_reply_source_restored)"

# --- 2: every server -----------------------------------------------------------------------------
pass iptables 2 "${ISTIO[@]}" --redirect-dns --capture-all-dns
pass shunt 2 "${ISTIO[@]}" --redirect-dns --capture-all-dns
compare 2 "--capture-all-dns"
for id in app/udp4/unlisted app/tcp4/unlisted app/udp6/unlisted app/cache-udp4/unlisted \
	app/udp4/own-pod-ip; do
	check_eq "shunt, all servers: $id answered by the agent" '"agent"' "$(answer shunt-2 "$id")"
done
check_eq "shunt, all servers: the proxy's own query still goes out" '"upstream"' \
	"$(answer shunt-2 proxy/udp4/listed)"

# --- 3: DNS excluded by port, and no DNS capture at all --------------------------------------------
pass iptables 3 "${ISTIO[@]}" --redirect-dns --capture-all-dns -o 53
pass shunt 3 "${ISTIO[@]}" --redirect-dns --capture-all-dns -o 53
compare 3 "--capture-all-dns with port 53 excluded"
pass iptables 4 "${ISTIO[@]}"
pass shunt 4 "${ISTIO[@]}"
compare 4 "no --redirect-dns"
check_eq "shunt, no DNS capture: UDP untouched" '"upstream"' "$(answer shunt-4 app/udp4/listed)"

# --- a pod nobody meshed ---------------------------------------------------------------------------
check_eq "not meshed: pod c asks the upstream" '"upstream"' \
	"$(tb_run_as 1000 1000 c "${DIG[@]}" +short @198.18.0.53 TXT who.svc.test 2>&1)"

# --- the policy as dump shows it ---------------------------------------------------------------------
check_match "status: no pod left over" '"own_policies":\[\]' "$(tb_status)"
tap_done
