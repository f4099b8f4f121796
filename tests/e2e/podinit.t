#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Per-pod policy through `shunt pod-init`, as an init container would run it: two pods on one
# node register themselves with istio-iptables' flags (different policies), a third is not
# meshed, and the node default differs from both. Every case is a real connection: where the
# bytes went (the backend's view of its peer), what the HAProxy sidecar saw as original
# destination. Then: fail-closed before the proxy starts, a pod cannot touch another pod,
# bad flags, no daemon, the daemon restarted, a pod deleted.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/testbed.sh"
. "$here/../tap.sh"

tap_require_root haproxy

tb_init p
tb_pod a 198.18.0.10     # pod-init: excludes port 5432 and 198.18.0.101
tb_pod b 198.18.0.20     # pod-init: captures only inbound 8080
tb_pod c 198.18.0.30     # not meshed
tb_pod d 198.18.0.50     # listed in the node config with policy keys of its own
tb_pod l 198.18.0.40     # pod-init with Linkerd proxy-init's flags
tb_pod w 198.18.0.100    # the world
tb_addr w 198.18.0.101/24
for p in 5432 7000 8080; do tb_echo w "0.0.0.0:$p" || tap_bail "backend on $p"; done
tb_echo a 0.0.0.0:8080 || tap_bail "app a"
tb_echo b 0.0.0.0:8080 || tap_bail "app b 8080"
tb_echo b 0.0.0.0:9090 || tap_bail "app b 9090"
tb_echo l 0.0.0.0:8080 || tap_bail "app l"

# The node default: unlike either pod (excludes outbound 7000, captures inbound 9090 only),
# and no detection: only pod-init and the workload listed here mesh. Workload d overrides
# outbound.exclude_ports (a whole list replaces the default's).
CFG=$TB_TMP/node.yaml
cat > "$CFG" <<YAML
proxy: {uid: 1337, gid: 1337}
outbound: {include_cidrs: ["*"], exclude_ports: [7000]}
inbound: {include_ports: [9090]}
mesh: {auto_detect: false}
workloads:
  - name: d
    netns: /run/netns/$(tb_ns d)
    outbound: {exclude_ports: [8080]}
YAML
SOCK=$TB_TMP/shunt.sock
ISTIO_A=(-p 15001 -z 15006 -u 1337 -m REDIRECT -i '*' -x 198.18.0.101/32 -b '*'
	 -d 15090,15021,15020 -o 5432 --log_output_level=default:info)
ISTIO_B=(-p 15001 -z 15006 -u 1337 -m REDIRECT -i '*' -x '' -b 8080)

echo_peer() { grep -qF "peer=$2 " "$TB_TMP/echo-$1.log"; }   # echo_peer POD-PORT PEER

# out DESC POD DST: the pod's outbound connection passes through its own sidecar.
out_captured() {
	local desc=$1 pod=$2 dst=$3 before out line via
	before=$(tb_sidecar_count "$pod")
	out=$(tb_run "$pod" "$TOOLS/tcpclient" -t 3 "$dst")
	check_match "$desc: data intact" '^ok ' "$out"
	if ! tb_wait_sidecar "$pod" $((before + 1)); then
		tap_fail "$desc: $pod's proxy logged it" "$(tb_sidecar_log "$pod" | tail -2)"
		return
	fi
	line=$(tb_sidecar_log "$pod" | tail -1)
	check_match "$desc: proxy saw original destination $dst" "fe=outbound origdst=$dst " "$line"
	via=$(sed -n 's/.* via=\([^ ]*\) .*/\1/p' <<<"$line")
	if echo_peer "w-${dst##*:}" "$via"; then
		tap_ok "$desc: the backend got it from the proxy"
	else
		tap_fail "$desc: the backend got it from the proxy ($via)" "$(tail -2 "$TB_TMP/echo-w-${dst##*:}.log")"
	fi
}

# out_direct DESC POD DST: straight from the app's own socket, the proxy not involved.
out_direct() {
	local desc=$1 pod=$2 dst=$3 before out local
	before=$(tb_sidecar_count "$pod")
	out=$(tb_run "$pod" "$TOOLS/tcpclient" -t 3 "$dst")
	check_match "$desc: data intact" '^ok ' "$out"
	local=$(sed -n 's/.*local=\([^ ]*\) .*/\1/p' <<<"$out")
	if echo_peer "w-${dst##*:}" "$local"; then
		tap_ok "$desc: the backend saw the app itself"
	else
		tap_fail "$desc: the backend saw the app itself ($local)" "$(tail -2 "$TB_TMP/echo-w-${dst##*:}.log")"
	fi
	sleep 0.2
	check_eq "$desc: proxy not involved" "$before" "$(tb_sidecar_count "$pod")"
}

# in_steered DESC POD PORT: c -> POD:PORT is accepted by POD's sidecar, destination kept.
in_steered() {
	local desc=$1 pod=$2 dst=$3 before out
	before=$(tb_sidecar_count "$pod")
	out=$(tb_run c "$TOOLS/tcpclient" -t 3 "$dst")
	check_match "$desc: data intact" '^ok ' "$out"
	if tb_wait_sidecar "$pod" $((before + 1)); then
		check_match "$desc: $pod's inbound listener took it, original destination $dst" \
			"fe=inbound origdst=$dst " "$(tb_sidecar_log "$pod" | tail -1)"
	else
		tap_fail "$desc: $pod's inbound listener took it" "$(tb_sidecar_log "$pod" | tail -2)"
	fi
}

# in_direct DESC POD PORT: c -> POD:PORT reaches the app, from c's own address.
in_direct() {
	local desc=$1 pod=$2 dst=$3 before out
	before=$(tb_sidecar_count "$pod")
	out=$(tb_run c "$TOOLS/tcpclient" -t 3 "$dst")
	check_match "$desc: data intact" '^ok ' "$out"
	check "$desc: the app saw c itself" grep -q "peer=198.18.0.30:" "$TB_TMP/echo-$pod-${dst##*:}.log"
	sleep 0.2
	check_eq "$desc: proxy not involved" "$before" "$(tb_sidecar_count "$pod")"
}

start_run() {
	"$SHUNT" run --config "$CFG" --pin-dir "$TB_PIN" --cgroup "$TB_CG" --socket "$SOCK" \
		>> "$TB_TMP/run.log" 2>&1 &
	TB_PIDS+=($!)
	run_pid=$!
	for i in $(seq 50); do [ -S "$SOCK" ] && return 0; sleep 0.1; done
	return 1
}

cookie_of() { # the netns cookie of a pod, from dump's workload lines (by netns inode)
	"$SHUNT" dump --pin-dir "$TB_PIN" |
		awk -v ino="$(stat -L -c %i "/run/netns/$(tb_ns "$1")")" '$1 == "netns" && $4 == ino { print $2 }'
}

# --- bad flags: exit 2, the flag named; nothing sent ------------------------------------------
bad() { # bad DESC REGEX ARGS...
	local desc=$1 re=$2 out rc
	shift 2
	out=$(tb_run a "$SHUNT" pod-init --socket "$SOCK" "$@" 2>&1)
	rc=$?
	check_match "bad flags: $desc -> exit 2, named" "^2:shunt pod-init: $re" "$rc:$out"
}
bad "-m TPROXY" "-m TPROXY: only REDIRECT" -m TPROXY
bad "-o abc" "-o: 'abc' is not a port" -o abc
bad "-x 10.0.0.1/8" "-x: '10.0.0.1/8' has host bits set" -x 10.0.0.1/8
bad "-i 300.1.1.1" "-i: '300.1.1.1' is not an address" -i 300.1.1.1
bad "unknown --frobnicate" "unknown flag --frobnicate" --frobnicate
bad "--redirect-dns, resolv.conf unreadable" "--redirect-dns: cannot read /nonexistent" --redirect-dns --resolv-conf /nonexistent/resolv.conf
bad "-c eth1" "-c is not supported" -c eth1
bad "-p without a value" "-p needs a value" -p
bad "istio and linkerd mixed" "-p is an istio-iptables flag" --incoming-proxy-port 4143 -p 15001
bad "linkerd without --outgoing-proxy-port" "--outgoing-proxy-port is required" \
	--incoming-proxy-port 4143 --proxy-uid 2102
bad "reversed range" "--inbound-ports-to-ignore: '4100-4000'" --incoming-proxy-port 4143 \
	--outgoing-proxy-port 4140 --proxy-uid 2102 --inbound-ports-to-ignore 4100-4000
bad "-z = -p" "the inbound port 15001 is also the outbound port" -p 15001 -z 15001
out=$(ENVOY_PORT=abc tb_run a env ENVOY_PORT=abc "$SHUNT" pod-init --socket "$SOCK" 2>&1)
check_match "bad environment: \$ENVOY_PORT named" '^shunt pod-init: \$ENVOY_PORT: .abc. is not a port' "$out"
out=$("$SHUNT" pod-init --help)
check_match "pod-init --help lists istio-iptables' flags" '--istio-local-outbound-ports-exclude' "$out"
# the policy the flags mean (dry run): Linkerd's, with a port range
out=$("$SHUNT" pod-init --incoming-proxy-port 4143 --outgoing-proxy-port 4140 --proxy-uid 2102 \
	--inbound-ports-to-ignore 4190,4191,4567-4570 --outbound-ports-to-ignore 4567,4568 \
	--subnets-to-ignore 10.96.0.0/12 --simulate)
check_eq "linkerd flags --simulate: the policy" 'proxy:
  uid: 2102
  gid: ~
  outbound_port: 4140
  inbound_port: 4143
  tunnel_port: ~
outbound:
  include_cidrs: ["*"]
  exclude_cidrs: []
  include_ports: []
  exclude_ports: ["4567-4568"]
inbound:
  include_ports: ["*"]
  exclude_ports: ["4190-4191", "4567-4570"]
  exclude_source_cidrs: ["10.96.0.0/12"]
mesh:
  flavor: linkerd
dns:
  capture: false
  port: 15053
  capture_all: false
  servers: []' "$out"

# --- no daemon: exit 1, one line, the pod is not meshed ---------------------------------------
out=$(tb_run a "$SHUNT" pod-init --socket "$TB_TMP/nobody.sock" "${ISTIO_A[@]}" 2>&1)
check_match "no daemon: exit 1 and why" "^1:shunt pod-init: cannot reach shunt at $TB_TMP/nobody.sock: .*NOT meshed\$" "$?:$out"
out=$(tb_run a "$SHUNT" pod-init --log_as_json --socket "$TB_TMP/nobody.sock" "${ISTIO_A[@]}" 2>&1)
check_eq "... with --log_as_json (istio-iptables' switch): the same line as a JSON object" \
	"1 error cannot reach shunt" "$?$(/usr/bin/python3 -c 'import json,sys; o=json.loads(sys.argv[1]); print("", o["level"], " ".join(o["msg"].split()[:3]))' "$out" 2>&1)"

# --- load, run ------------------------------------------------------------------------------
out=$("$SHUNT" load --config "$CFG" --pin-dir "$TB_PIN" --cgroup "$TB_CG" 2>&1)
check_eq "load the node default" "0" "$?"
start_run || tap_bail "shunt run did not open $SOCK: $(cat "$TB_TMP/run.log")"
check_match "the socket is root's alone" '^srw-------' "$(ls -l "$SOCK")"
out_direct "before pod-init: a is not meshed" a 198.18.0.100:8080

out=$(sh -c 'echo $$ > "$1/cgroup.procs" && exec "$2" pod-init --socket "$3" -i "*"' sh \
	"$TB_CG" "$SHUNT" "$SOCK" 2>&1)
check_match "pod-init from the node's own netns: refused, exit 1" \
	'^1:shunt pod-init: error: the caller runs in the node.s own network namespace' "$?:$out"
out=$(ip netns exec "$(tb_ns a)" "$SHUNT" pod-init --socket "$SOCK" "${ISTIO_A[@]}" 2>&1)
check_match "pod-init from outside shunt's cgroup: refused" \
	'^1:shunt pod-init: error: the caller is outside the cgroup' "$?:$out"

# --- pod a registers; fail-closed until its proxy listens ------------------------------------
out=$(tb_run a "$SHUNT" pod-init --socket "$SOCK" "${ISTIO_A[@]}" 2>&1)
check_match "pod-init in a: exit 0, meshed" '^0:shunt pod-init: netns [0-9]+ .* meshed fail-closed' "$?:$out"
seen=$(grep -c . "$TB_TMP/echo-w-8080.log")
out=$(tb_run a "$TOOLS/tcpclient" -t 2 198.18.0.100:8080)
check_match "before the proxy: a's app -> remote is refused, not direct" '^fail connect: Connection refused' "$out"
sleep 0.2
check_eq "... and the backend never saw it" "$seen" "$(grep -c . "$TB_TMP/echo-w-8080.log")"
out=$(tb_run c "$TOOLS/tcpclient" -t 2 198.18.0.10:8080)
check_match "before the proxy: inbound to a is refused" '^fail connect: Connection refused' "$out"
check "... and a's app never saw it" sh -c "! grep -q 'peer=198.18.0.30:' '$TB_TMP/echo-a-8080.log'"
out_direct "before the proxy: a's excluded port 5432 still goes direct" a 198.18.0.100:5432
tb_sidecar a || tap_bail "sidecar a: $(cat "$TB_TMP"/haproxy-a.*.log)"
out_captured "a -> 8080: captured" a 198.18.0.100:8080
out_captured "a -> 7000: captured (the node default would exclude 7000)" a 198.18.0.100:7000
out_direct "a -> 5432: excluded by a's -o" a 198.18.0.100:5432
out_direct "a -> 198.18.0.101: excluded by a's -x" a 198.18.0.101:8080
in_steered "c -> a:8080: inbound captured (-b *)" a 198.18.0.10:8080

# --- pod b: another policy, at the same time -------------------------------------------------
out=$(tb_run b "$SHUNT" pod-init --socket "$SOCK" "${ISTIO_B[@]}" 2>&1)
check_match "pod-init in b: exit 0" '^0:shunt pod-init: netns ' "$?:$out"
tb_sidecar b || tap_bail "sidecar b"
out_captured "b -> 5432: captured (a excludes it, b does not)" b 198.18.0.100:5432
in_steered "c -> b:8080: in b's inbound list" b 198.18.0.20:8080
in_direct "c -> b:9090: not in b's list (the node default would capture it)" b 198.18.0.20:9090
out=$(tb_run c "$TOOLS/tcpclient" -t 3 198.18.0.100:8080)
check_match "c (no pod-init) -> remote: untouched, from its own address" 'local=198\.18\.0\.30:' "$out"

# --- d: its own policy from the node config ---------------------------------------------------
tb_sidecar d || tap_bail "sidecar d"
out_direct "d -> 8080: excluded by d's own outbound.exclude_ports" d 198.18.0.100:8080
out_captured "d -> 7000: captured (d's list replaced the default's)" d 198.18.0.100:7000

st=$("$SHUNT" status --pin-dir "$TB_PIN")
check_match "status: three pods have their own policy" '^own policy: 3 pods' "$st"
check_match "status: d's is from the config" ' from config ' "$st"
js=$(tb_status)
check_eq "status --json lists them with their source" "config pod-init pod-init" \
	"$(grep -o '"source":"[a-z-]*"' <<<"$js" | cut -d'"' -f4 | sort | tr '\n' ' ' | sed 's/ $//')"
cookie_a=$(cookie_of a)
cookie_b=$(cookie_of b)
dump=$("$SHUNT" dump --pin-dir "$TB_PIN")
check_match "dump: a's own policy, from pod-init" "^policy of netns $cookie_a \\(from pod-init" "$dump"
# one policy's lines of the dump: from its heading to the next policy or the workloads
section() { awk -v h="$1" '/^(policy|workloads)/ { on = index($0, h) == 1 } on' <<<"$dump"; }
check_match "dump: ... with its exclusions" "outbound.exclude_ports +5432" "$(section "policy of netns $cookie_a ")"
check_match "dump: b's inbound list" "inbound.include_ports +8080\$" "$(section "policy of netns $cookie_b ")"
check_match "dump: the node default is unchanged" "inbound.include_ports +9090\$" "$(section "policy (node default")"

# --- a cannot change b, whatever it sends -----------------------------------------------------
req() { printf 'shunt-pod-init 1\n%s\n' "$1" | tb_run a "$TOOLS/unixsend" "$SOCK"; }
out=$(req "workloads: [{name: b, netns: /run/netns/$(tb_ns b)}]")
check_match "a sends workloads: refused" '^error: .*unknown key .workloads.' "$out"
out=$(req "netns: $cookie_b")
check_match "a sends a netns: refused" "^error: .*unknown key .netns." "$out"
out=$(req "outbound: {exclude_cidrs_from: /etc/passwd}")
check_match "a names a file on the node: refused" "^error: .*names a file on the node" "$out"
out=$(req "mesh: {auto_detect: true}")
check_match "a sets a node-wide key: refused" "^error: .*node-wide" "$out"
out=$(printf 'GET / HTTP/1.0\r\n\r\n' | tb_run a "$TOOLS/unixsend" "$SOCK")
check_match "not a pod-init request: refused" "^error: not a shunt pod-init request" "$out"
# a re-registers itself with "-o 7000,8080": only a changes
out=$(tb_run a "$SHUNT" pod-init --socket "$SOCK" -i '*' -o 7000,8080 2>&1)
check_match "a registers again with another policy" '\(generation 2\)' "$out"
out_direct "a -> 8080 now excluded (a's update)" a 198.18.0.100:8080
out_captured "b -> 8080 still captured (b untouched)" b 198.18.0.100:8080
check_match "b's policy is still generation 1" \
	"^policy of netns $cookie_b \\(from pod-init, generation 1" "$("$SHUNT" dump --pin-dir "$TB_PIN")"

# --- the daemon killed and restarted: every pod policy still in force ------------------------
kill -9 "$run_pid"
wait "$run_pid" 2>/dev/null
out_direct "shunt run killed: a's policy holds (8080 excluded)" a 198.18.0.100:8080
out_captured "... and b's (5432 captured)" b 198.18.0.100:5432
start_run || tap_bail "shunt run did not restart"
sleep 2.5   # one full rescan
out_captured "restarted: b -> 5432 still captured" b 198.18.0.100:5432
in_direct "restarted: c -> b:9090 still b's list" b 198.18.0.20:9090
check_match "restarted: status still shows all three" '^own policy: 3 pods' "$("$SHUNT" status --pin-dir "$TB_PIN")"

# --- pod b deleted: its policy and entries gone within a second -------------------------------
maps_with_owner() { # entries of the policy maps that belong to owner $1
	local m
	for m in shunt_state_v2 shunt_cfg_v2 shunt_ports_v2 shunt_cidrs_v2 shunt_skeys_v2; do
		bpftool -j map dump pinned "$TB_PIN/maps/$m" 2>/dev/null
	done | grep -o "\"owner\":$1[,}]" | grep -c .
	bpftool -j map dump pinned "$TB_PIN/maps/shunt_state_v2" | grep -o "\"key\":$1," | grep -c .
}
check "b's policy entries exist before" test "$(maps_with_owner "$cookie_b" | head -1)" -gt 0
t0=$(date +%s%N)
tb_pod_del b
gone_ms=""
for i in $(seq 100); do
	if ! "$SHUNT" dump --pin-dir "$TB_PIN" | grep -q "^policy of netns $cookie_b "; then
		gone_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
		break
	fi
	sleep 0.05
done
check "pod b deleted: its policy gone (after ${gone_ms:-never} ms)" test -n "$gone_ms"
sleep 0.2
check_eq "... every entry of it in the policy maps" "0
0" "$(maps_with_owner "$cookie_b")"
check "... its sk_lookup link" test ! -e "$TB_PIN/links/sk_lookup_$cookie_b"
check "... its workload entry" sh -c "! '$SHUNT' dump --pin-dir '$TB_PIN' | grep -q '^  netns $cookie_b '"
out_direct "a's policy untouched by b's removal" a 198.18.0.100:8080

# --- Linkerd's proxy-init flags: linkerd flavor, ports 4140/4143, uid 2102 ---------------------
out=$(tb_run l "$SHUNT" pod-init --socket "$SOCK" --incoming-proxy-port 4143 --outgoing-proxy-port 4140 \
	--proxy-uid 2102 --inbound-ports-to-ignore 4190,4191 --outbound-ports-to-ignore 5432,6000-6100 2>&1)
check_match "pod-init with proxy-init's flags: exit 0" '^0:shunt pod-init: netns .*outbound to port 4140, inbound to port 4143' "$?:$out"
# linkerd2-proxy stand-ins: log the original destination they are asked for
tb_bg_as 2102 2102 l "$TOOLS/tcpecho" 127.0.0.1:4140 "$TB_TMP/proxy-l-out.log"
tb_bg_as 2102 2102 l "$TOOLS/tcpecho" 0.0.0.0:4143 "$TB_TMP/proxy-l-in.log"
tb_wait_listen l 4143 || tap_bail "proxy l"
sleep 0.2
out=$(tb_run l "$TOOLS/tcpclient" -t 3 198.18.0.100:8080)
check_match "l -> 8080: to the outgoing proxy port" '^ok ' "$out"
check_match "... which reads origdst 198.18.0.100:8080" 'origdst=198\.18\.0\.100:8080$' "$(tail -1 "$TB_TMP/proxy-l-out.log")"
out=$(tb_run l "$TOOLS/tcpclient" -t 3 198.18.0.100:5432)
check "l -> 5432: ignored, straight to the backend" grep -q 'peer=198.18.0.40:' "$TB_TMP/echo-w-5432.log"
out=$(tb_run c "$TOOLS/tcpclient" -t 3 198.18.0.40:8080)
check_match "c -> l:8080: to the incoming proxy port, origdst kept" 'origdst=198\.18\.0\.40:8080$' "$(tail -1 "$TB_TMP/proxy-l-in.log")"
out=$(tb_run_as 2102 2102 l "$TOOLS/tcpclient" -t 3 198.18.0.40:8080)
check_match "l's proxy -> its own pod IP: direct (linkerd: the proxy's traffic is never redirected)" '^ok ' "$out"
check "... the app saw the proxy itself" grep -q 'peer=198.18.0.40:' "$TB_TMP/echo-l-8080.log"
tap_done
