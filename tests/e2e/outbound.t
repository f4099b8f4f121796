#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Outbound capture end to end: a meshed pod (app + HAProxy sidecar as uid 1337) and a
# non-meshed pod side by side on a bridge, a backend netns as "the world". shunt is loaded
# on the test's own cgroup. Each case asserts where the bytes went (the backend's view of
# its peer), what the proxy saw as original destination (its log), and that the data came
# back intact.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/testbed.sh"
. "$here/../tap.sh"

tap_require_root haproxy

tb_init o
tb_pod a 198.18.0.10 2001:2::10     # meshed: runs the sidecar (IPv6 from 2001:2::/48, RFC 5180)
tb_pod b 198.18.0.11                # not meshed: no sidecar
tb_pod srv 198.18.0.100 2001:2::100 # the backend
tb_addr srv 198.18.1.100/24
ip -n "$(tb_ns srv)" addr add 2001:2::200/64 dev eth0 nodad
for p in 7000 7001 7002; do tb_echo srv "0.0.0.0:$p" || tap_bail "backend on $p"; done
tb_echo srv "[::]:7100" || tap_bail "IPv6 backend"
# HAProxy asks SO_ORIGINAL_DST for IPv4 only; for IPv6, an Envoy-like listener (uid 1337)
# that logs what IP6T_SO_ORIGINAL_DST answers stands on [::1]:15001.
tb_bg_as 1337 1337 a "$TOOLS/tcpecho" "[::1]:15001" "$TB_TMP/proxy6-a.log"
tb_sidecar a || tap_bail "sidecar did not start: $(cat "$TB_TMP"/haproxy-a.*.log)"
tb_echo a 0.0.0.0:9000 || tap_bail "app server in pod a"   # loopback / own pod IP cases

CFG=$TB_TMP/routes.yaml
cat > "$CFG" <<'YAML'
proxy:
  uid: 1337
  gid: 1337
  outbound_port: 15001
  inbound_port: 15006
outbound:
  include_cidrs: ["*"]
  exclude_cidrs: ["198.18.1.0/24", "2001:2::200/128"]
  include_ports: [7002]
  exclude_ports: [7001]
YAML

hap_lines() { tb_sidecar_log a | grep -c .; }
wait_hap() { # wait_hap N: until the proxy has logged N connections (3 s)
	local i
	for i in $(seq 30); do
		[ "$(hap_lines)" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
re_escape() { printf '%s' "$1" | sed 's/[].[]/\\&/g'; }   # [.] is not a collating symbol
echo_log_has() { cat "$TB_TMP"/echo-*-"$1".log | grep -qF "peer=$2 "; }

# captured DESC POD DST [RUNAS_UID RUNAS_GID]: must pass through the sidecar.
captured() {
	local desc=$1 pod=$2 dst=$3 before out line via v4
	shift 3
	v4=$(sed 's/^\[::ffff:\(.*\)\]/\1/' <<<"$dst")   # a v4-mapped destination, as IPv4
	before=$(hap_lines)
	if [ $# -gt 0 ]; then
		out=$(tb_run_as "$1" "$2" "$pod" "$TOOLS/tcpclient" -n 65536 "$dst")
	else
		out=$(tb_run "$pod" "$TOOLS/tcpclient" -n 65536 "$dst")
	fi
	check_match "$desc: data intact" '^ok ' "$out"
	check_match "$desc: app's getpeername shows $dst" "peer=$(re_escape "$dst")\$" "$out"
	if ! wait_hap $((before + 1)); then
		tap_fail "$desc: proxy logged the connection" "haproxy log:" "$(tail -3 "$TB_TMP"/haproxy-a.*.log)"
		return
	fi
	line=$(tb_sidecar_log a | tail -1)
	check_match "$desc: proxy saw original destination $v4" "origdst=$v4 " "$line"
	via=$(sed -n 's/.* via=\([^ ]*\) .*/\1/p' <<<"$line")
	if echo_log_has "${dst##*:}" "$via"; then
		tap_ok "$desc: backend got it from the proxy ($via)"
	else
		tap_fail "$desc: backend got it from the proxy ($via)" "$(tail -3 "$TB_TMP/echo-srv-${dst##*:}.log")"
	fi
}

# direct DESC POD DST [RUNAS...]: must reach DST from the client's own socket.
direct() {
	local desc=$1 pod=$2 dst=$3 before out local
	shift 3
	before=$(hap_lines)
	if [ $# -gt 0 ]; then
		out=$(tb_run_as "$1" "$2" "$pod" "$TOOLS/tcpclient" "$dst")
	else
		out=$(tb_run "$pod" "$TOOLS/tcpclient" "$dst")
	fi
	check_match "$desc: data intact" '^ok ' "$out"
	local=$(sed -n 's/.*local=\([^ ]*\) .*/\1/p' <<<"$out")
	if echo_log_has "${dst##*:}" "$local"; then
		tap_ok "$desc: server saw the client itself ($local)"
	else
		tap_fail "$desc: server saw the client itself ($local)" "$(tail -3 "$TB_TMP"/echo-*-"${dst##*:}".log)"
	fi
	sleep 0.2
	check_eq "$desc: proxy not involved" "$before" "$(hap_lines)"
}

# --- load -------------------------------------------------------------------------------
out=$("$SHUNT" load --config "$CFG" --pin-dir "$TB_PIN" --cgroup "$TB_CG" 2>&1)
check_eq "load succeeds" "0" "$?"
[ -d "$TB_PIN/links" ] || { tap_fail "pins exist" "$out"; tap_done; exit 1; }
check_eq "iptables is not involved (no nat rules in pod a)" "0" \
	"$(ip netns exec "$(tb_ns a)" iptables -t nat -S 2>&1 | grep -c -v '^-P ')"
status=$("$SHUNT" status --json --pin-dir "$TB_PIN")
# (sk_msg is shunt_sk_msg_pr before 6.2: the variant without bpf_rdonly_cast)
progs="connect4 connect6 getpeername4 getpeername6 getsockopt post_bind4 post_bind6 recvmsg4 recvmsg6 sendmsg4 sendmsg6 sk_msg sock_release sockops"
check_eq "status: exactly shunt's 14 programs attached" "$progs" \
	"$(grep -o '"programs":\[[^]]*\]' <<<"$status" | grep -o '"name":"shunt_[a-z0-9_]*"' |
	   sed 's/"name":"shunt_\(.*\)"/\1/; s/^sk_msg_pr$/sk_msg/' | LC_ALL=C sort | paste -sd' ')"
check_match "status names the cgroup it is attached to" "\"cgroup\":\"$TB_CG\"" "$status"
check_match "... in text too" "^cgroup: +$TB_CG\$" "$("$SHUNT" status --pin-dir "$TB_PIN")"
dump=$("$SHUNT" dump --pin-dir "$TB_PIN")
check_match "dump: pod a meshed (found listening at load)" 'scanned' "$dump"
check_match "dump: pod a's address recorded" '198\.18\.0\.10$' "$dump"

# --- capture ------------------------------------------------------------------------------
captured "meshed app -> remote" a 198.18.0.100:7000
direct "non-meshed pod -> remote" b 198.18.0.100:7000
direct "proxy uid 1337 -> remote (no loop)" a 198.18.0.100:7000 1337 1337
direct "proxy gid only (uid 4000, gid 1337) -> remote" a 198.18.0.100:7000 4000 1337
captured "other uid 4000 -> remote" a 198.18.0.100:7000 4000 4000
direct "exclude_ports 7001" a 198.18.0.100:7001
direct "exclude_cidrs 198.18.1.0/24" a 198.18.1.100:7000
direct "exclude_cidrs beats include_ports 7002 (as istio-iptables)" a 198.18.1.100:7002
captured "include_ports 7002 outside the excluded CIDR" a 198.18.0.100:7002
direct "app -> 127.0.0.1 (loopback)" a 127.0.0.1:9000
direct "app -> own pod IP" a 198.18.0.10:9000

# --- IPv6 and v4-mapped ---------------------------------------------------------------------
out=$(tb_run a "$TOOLS/tcpclient" "[2001:2::100]:7100")
check_match "IPv6: app's connect lands on the proxy's [::1]:15001, data intact" '^ok local=\[::1\]:[0-9]+ peer=\[2001:2::100\]:7100$' "$out"
check_match "IPv6: IP6T_SO_ORIGINAL_DST answers [2001:2::100]:7100" \
	'local=\[::1\]:15001 origdst=\[2001:2::100\]:7100$' "$(tail -1 "$TB_TMP/proxy6-a.log")"
out=$(tb_run a "$TOOLS/tcpclient" "[2001:2::200]:7100")
check_match "IPv6: exclude_cidrs 2001:2::200/128 goes direct" '^ok local=\[2001:2::10\]:' "$out"
check_match "IPv6: the backend saw the client itself" 'peer=\[2001:2::10\]:' "$(tail -1 "$TB_TMP/echo-srv-7100.log")"
captured "v4-mapped: a v6 socket to ::ffff:198.18.0.100 is captured like IPv4" a "[::ffff:198.18.0.100]:7000"

dump=$("$SHUNT" dump --pin-dir "$TB_PIN")
status=$("$SHUNT" status --json --pin-dir "$TB_PIN")
check_match "counters: SO_ORIGINAL_DST answered" '"so_original_dst_answered":[1-9]' "$status"
check_match "counters: redirect_include_port counted" '"redirect_include_port":1,' "$status"
check_match "counters: direct_exclude_cidr counted (IPv4, IPv4 on an include port, IPv6)" '"direct_exclude_cidr":3,' "$status"
check_match "map entries are removed when connections close" '"connections":0,"original_destinations":0,"cidrs":[0-9]+,"fastpath_sockets":0' "$status"
check_match "safe by default: no socket took the fast path (a config without acceleration)" \
	'"fastpath_sockets_added":0,' "$status"
check_match "... and no message was redirected" '"fastpath_msgs":0,' "$status"

# A process in the meshed pod that is not in the attached cgroup is outside shunt's reach;
# one in a sibling cgroup of another test would be too. Bytes of pod b stay untouched above.

# --- apply ----------------------------------------------------------------------------------
CFG2=$TB_TMP/routes2.yaml
sed 's/include_cidrs: \["\*"\]/include_cidrs: ["198.18.1.0\/24"]/; s/exclude_cidrs: .*/exclude_cidrs: []/' "$CFG" > "$CFG2"
out=$("$SHUNT" apply --config "$CFG2" --pin-dir "$TB_PIN" 2>&1)
check_match "apply prints the new generation" 'policy generation 2' "$out"
direct "after apply: 198.18.0.0/24 no longer captured" a 198.18.0.100:7000
captured "after apply: 198.18.1.0/24 captured" a 198.18.1.100:7000

BAD=$TB_TMP/bad.yaml
printf 'proxy:\n  uid: 1337\n  outbound_port: 99999\noutbound:\n  exclude_cidrs: ["10.0.0.1/8"]\n' > "$BAD"
out=$("$SHUNT" apply --config "$BAD" --pin-dir "$TB_PIN" 2>&1)
check_eq "bad apply exits 2" "2" "$?"
check_match "bad apply names file:line:col of the port" "^$BAD:3:18: 'proxy.outbound_port' is 99999, outside 1..65535" "$out"
check_match "bad apply names file:line:col of the CIDR" "^$BAD:5:19: 'outbound.exclude_cidrs' entry '10.0.0.1/8' has host bits set" "$out"
status=$("$SHUNT" status --json --pin-dir "$TB_PIN")
check_match "bad apply left generation 2 live" '"generation":2,' "$status"
captured "after bad apply: policy unchanged" a 198.18.1.100:7000

BADNS=$TB_TMP/badns.yaml
printf 'workloads:\n  - name: ghost\n    netns: /run/netns/does-not-exist-%s\n' "$TB_ID" > "$BADNS"
out=$("$SHUNT" apply --config "$BADNS" --pin-dir "$TB_PIN" 2>&1)
check_eq "apply with a missing netns exits 2" "2" "$?"
check_match "missing netns reported at its line" "^$BADNS:3:12: workload 'ghost': netns '/run/netns/does-not-exist" "$out"

# --- explicit workloads, no auto-detection --------------------------------------------------
CFG3=$TB_TMP/routes3.yaml
cat > "$CFG3" <<YAML
mesh:
  auto_detect: false
workloads:
  - name: pod-b
    netns: /run/netns/$(tb_ns b)
YAML
out=$("$SHUNT" apply --config "$CFG3" --pin-dir "$TB_PIN" 2>&1)
check_eq "apply explicit workloads" "0" "$?"
direct "auto_detect off: pod a (not listed) untouched" a 198.18.0.100:7000
out=$(tb_run b "$TOOLS/tcpclient" -t 2 198.18.0.100:7000)
check_match "listed pod b without a proxy: connect is captured and refused (fail-closed)" '^fail connect: Connection refused' "$out"

# --- a pinned shunt of another ABI is never written to by apply, nor read as ours -------------
# (load and run replace it in place when every map has their layout: faults.t)
ABI=$("$SHUNT" --version | sed 's/.*(ABI \([0-9]*\)).*/\1/')
# set_abi N: rewrite the ABI field of the live state, keeping the rest of it
set_abi() {
	local rest
	rest=$(bpftool map lookup pinned "$TB_PIN/maps/shunt_state_v2" key 0 0 0 0 0 0 0 0 -j |
		sed 's/^{"key":\[[^]]*\],"value":\[\([^]]*\)\].*/\1/' | tr -d '"' | tr ',' '\n' |
		tail -n +5 | sed 's/^0x//' | tr '\n' ' ')
	bpftool map update pinned "$TB_PIN/maps/shunt_state_v2" key 0 0 0 0 0 0 0 0 value hex "0$1" 00 00 00 $rest
}
set_abi 0
for cmd in "apply --config $CFG" "status" "dump" "explain 198.18.0.100:80"; do
	out=$(timeout 5 "$SHUNT" $cmd --pin-dir "$TB_PIN" 2>&1)
	rc=$?
	check_match "other ABI: '${cmd%% *}' refuses, exit 1, one sentence" "^1:shunt: error: .*speaks ABI 0, this one ABI $ABI" "$rc:$out"
done
set_abi "$ABI"
check "ABI restored: status works again" "$SHUNT" status --pin-dir "$TB_PIN"

# --- load errors, unload --------------------------------------------------------------------
out=$("$SHUNT" load --config "$CFG" --pin-dir "$TB_PIN" --cgroup "$TB_CG" 2>&1)
check_eq "second load exits 1" "1" "$?"
check_match "second load says it is loaded" 'already loaded' "$out"

links=$(sed -n 's/.*"link_id":\([0-9]*\).*/\1/p' <<<"$("$SHUNT" status --json --pin-dir "$TB_PIN" | tr '{' '\n')")
check "unload succeeds" "$SHUNT" unload --pin-dir "$TB_PIN"
check "unload removed the pin directory" test ! -e "$TB_PIN"
leftover=""
for l in $links; do
	bpftool link show id "$l" >/dev/null 2>&1 && leftover="$leftover $l"
done
check_eq "unload left no link behind" "" "$leftover"
direct "after unload: meshed pod connects directly" a 198.18.0.100:7000
out=$("$SHUNT" status --pin-dir "$TB_PIN" 2>&1)
check_match "status when not loaded says so" 'not loaded' "$out"

BADLOAD=$TB_TMP/badload.yaml
printf 'workloads:\n  - name: ghost\n    netns: %s\n' "$CFG" > "$BADLOAD"
out=$("$SHUNT" load --config "$BADLOAD" --pin-dir "$TB_PIN" --cgroup "$TB_CG" 2>&1)
check_eq "load with a bad workload exits 2" "2" "$?"
check_match "bad workload: not a network namespace" "is not a network namespace" "$out"
check "failed load left nothing pinned" test ! -e "$TB_PIN"

tap_done
