#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The app-compatibility matrix: the ways real apps read and write a socket (tests/tools/compat:
# a blocking read after a half-close, an edge-triggered reader that stops at a short read,
# FIONREAD-sized reads, MSG_PEEK first, SO_RCVLOWAT, splice(), sendfile(), MSG_MORE, TCP_CORK,
# a long idle keep-alive, an abortive close mid-transfer), each through the mesh path app a
# -> a's HAProxy sidecar -> b's HAProxy sidecar -> app b, each byte checked, nothing waiting
# more than 5 s. With the default configuration (no fast path) every row must work. Then the
# same rows with `acceleration: true` and with `acceleration: proxy` (queue limit 64 KiB, so
# fallbacks happen): reported, not asserted, and printed as a table row per line ("# matrix
# ..."): README keeps the table. Last, `acceleration: proxy` between two sidecars that read
# as Envoy reads (tests/tools/drainproxy: until EAGAIN), pods c -> d: every row must work.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/testbed.sh"
. "$here/../tap.sh"

tap_require_root haproxy
tb_init c
tb_pod a 198.18.0.10
tb_pod b 198.18.0.20
tb_pod c 198.18.0.30
tb_pod d 198.18.0.40
# b's and d's apps: one server per way of reading the request
declare -A SRV=([8081]=plain [8082]=splice [8083]=peek [8084]=fionread [8085]=rcvlowat)
for pod in b d; do
	for p in "${!SRV[@]}"; do
		tb_bg "$pod" "$TOOLS/compat" server "0.0.0.0:$p" -r "${SRV[$p]}"
	done
	tb_bg "$pod" "$TOOLS/compat" server 0.0.0.0:8086 -r plain -d 50    # answers after 50 ms
	for p in "${!SRV[@]}" 8086; do tb_wait_listen "$pod" "$p" || tap_bail "app $pod on $p"; done
done
tb_sidecar a || tap_bail "sidecar a"
tb_sidecar b || tap_bail "sidecar b"
for pod in c d; do
	tb_bg_as 1337 1337 "$pod" "$TOOLS/drainproxy" 15001 15006 > "$TB_TMP/drain-$pod.log"
	tb_wait_listen "$pod" 15001 && tb_wait_listen "$pod" 15006 || tap_bail "drainproxy $pod"
done

printf 'mesh: {auto_detect: true}\n' > "$TB_TMP/off.yaml"     # the default: no acceleration key
printf 'acceleration: true\nacceleration_queue_limit: 64KiB\n' > "$TB_TMP/on.yaml"
printf 'acceleration: proxy\nacceleration_queue_limit: 64KiB\n' > "$TB_TMP/proxy.yaml"
# shunt run's own file: each mode is written there (atomically) and applied, so the daemon's
# rescans keep what the test applied (a rescan re-registers the workloads of its own file)
CUR=$TB_TMP/cur/shunt.yaml
mkdir -p "$TB_TMP/cur" && cp "$TB_TMP/off.yaml" "$CUR"
use_config() { cp "$1" "$CUR.new" && mv "$CUR.new" "$CUR" && "$SHUNT" apply --config "$CUR" --pin-dir "$TB_PIN" 2>&1; }
out=$("$SHUNT" load --config "$CUR" --pin-dir "$TB_PIN" --cgroup "$TB_CG" 2>&1) || tap_bail "load: $out"
"$SHUNT" run --config "$CUR" --pin-dir "$TB_PIN" --socket "$TB_TMP/shunt.sock" > "$TB_TMP/run.log" 2>&1 &
TB_PIDS+=($!)
for i in $(seq 50); do
	[ "$("$SHUNT" status --json --pin-dir "$TB_PIN" | grep -o '"workloads":[0-9]*')" = '"workloads":4' ] && break
	sleep 0.1
done

# ROW|PORT|CLIENT ARGS|what the app is
ROWS='halfclose-block|8086|-r block|writes, half-closes, blocking read of an answer that comes after 50 ms
et-short-read|8081|-r et -n 1048576|edge-triggered reader, a short read taken for drained (tokio, HAProxy, nginx)
fionread|8081|-r fionread -n 1048576|reads what FIONREAD says
peek|8083|-r peek|MSG_PEEK first on both ends (Envoy listener filters)
rcvlowat|8085|-r rcvlowat -n 1048576|SO_RCVLOWAT 16 KiB on both ends
splice|8082|-r splice -n 1048576|splice() through a pipe on both ends
server-fionread|8084|-n 1048576|the server reads what FIONREAD says
sendfile|8081|-w sendfile -n 1048576|sendfile() writer
msgmore|8081|-w msgmore -n 262144|MSG_MORE writer, 1 KiB pieces
cork|8081|-w cork -n 262144|TCP_CORK around 1 KiB writes
idle-keepalive|8081|-i 3000|a connection idle 3 s before its exchange
rst-midway|8081|--rst -n 4194304|abortive close (RST) halfway, then a new exchange'
row() { # row ARGS...: one client run in pod a, its one line
	tb_run a "$TOOLS/compat" client "$@" 2>&1 | tail -1
}
row_c() { # the same from pod c
	tb_run c "$TOOLS/compat" client "$@" 2>&1 | tail -1
}
declare -A OFF ON PROXY
accepted0=$(tb_sidecar_accepted a outbound)
while IFS='|' read -r name port args what; do
	# shellcheck disable=SC2086
	OFF[$name]=$(row "198.18.0.20:$port" $args)
	check_match "default (no fast path): $name ($what)" '^ok ' "${OFF[$name]}"
done <<<"$ROWS"
accepted1=$(tb_sidecar_accepted a outbound)
check "... every row went through a's sidecar (its proxy accepted them)" \
	test "$((accepted1 - accepted0))" -ge "$(grep -c . <<<"$ROWS")"
s=$("$SHUNT" status --json --pin-dir "$TB_PIN")
check_match "... and none took the fast path" '"fastpath_sockets_added":0,' "$s"

out=$(use_config "$TB_TMP/on.yaml")
check_eq "apply acceleration: true (queue limit 64 KiB)" "0" "$?"
while IFS='|' read -r name port args what; do
	# shellcheck disable=SC2086
	ON[$name]=$(row "198.18.0.20:$port" $args)
done <<<"$ROWS"
s=$("$SHUNT" status --json --pin-dir "$TB_PIN")
check_match "with acceleration the rows took the fast path" '"fastpath_sockets_added":[1-9]' "$s"

# acceleration: proxy: only the sidecar-to-sidecar leg, app sockets never on the sockhash
out=$(use_config "$TB_TMP/proxy.yaml")
check_eq "apply acceleration: proxy (queue limit 64 KiB)" "0" "$?"
s0=$("$SHUNT" status --json --pin-dir "$TB_PIN")
a0=$(tb_sidecar_accepted b inbound)
while IFS='|' read -r name port args what; do
	# shellcheck disable=SC2086
	PROXY[$name]=$(row "198.18.0.20:$port" $args)
done <<<"$ROWS"
s1=$("$SHUNT" status --json --pin-dir "$TB_PIN")
a1=$(tb_sidecar_accepted b inbound)
added=$(( $(tb_counter "$s1" fastpath_sockets_added) - $(tb_counter "$s0" fastpath_sockets_added) ))
legs=$((a1 - a0))
check "acceleration: proxy put exactly the two sidecars' sockets of each of the $legs connections b's sidecar accepted on the fast path (added: $added)" \
	test "$legs" -gt 0 -a "$added" -eq $((2 * legs))
check "... and their bytes went socket to socket" \
	test "$(( $(tb_counter "$s1" fastpath_msgs) - $(tb_counter "$s0" fastpath_msgs) ))" -gt 0

st=$("$SHUNT" status --pin-dir "$TB_PIN")
check_match "status: the node's acceleration is proxy" 'acceleration proxy \(between proxies only\)' "$st"
out=$("$SHUNT" explain --pin-dir "$TB_PIN" --pod "$(tb_ns a)" 198.18.0.20:8081 2>&1)
check_match "explain: app a's connection stays off the fast path" '^fast path +off: acceleration: proxy takes only' "$out"
out=$("$SHUNT" explain --pin-dir "$TB_PIN" --pod "$(tb_ns a)" --uid 1337 198.18.0.20:8081 2>&1)
check_match "explain --uid 1337: a's proxy to pod b takes it" '^fast path +on: the proxy.s connection to another meshed pod' "$out"
out=$("$SHUNT" explain --pin-dir "$TB_PIN" --pod "$(tb_ns b)" --uid 1337 198.18.0.20:8081 2>&1)
check_match "explain --uid 1337: b's proxy to its own app does not" '^fast path +off: acceleration: proxy' "$out"

# acceleration: proxy between proxies that read until EAGAIN: every row must work. The node
# is off again; pods c and d opt in by their workload entries alone.
cat > "$TB_TMP/wl.yaml" <<YAML
mesh: {auto_detect: true}
acceleration_queue_limit: 64KiB
workloads:
  - {name: c, netns: /run/netns/$(tb_ns c), acceleration: proxy}
  - {name: d, netns: /run/netns/$(tb_ns d), acceleration: proxy}
YAML
out=$(use_config "$TB_TMP/wl.yaml")
check_eq "apply: node off, pods c and d opt in with acceleration: proxy" "0" "$?"
st=$("$SHUNT" status --pin-dir "$TB_PIN")
check_match "status: the node is off, c's and d's own policies say proxy" 'acceleration off.*acceleration proxy.*acceleration proxy' "$(tr '\n' ' ' <<<"$st")"
s0=$("$SHUNT" status --json --pin-dir "$TB_PIN")
n0=$(grep -c '^fe=inbound' "$TB_TMP/drain-d.log")
while IFS='|' read -r name port args what; do
	# shellcheck disable=SC2086
	out=$(row_c "198.18.0.40:$port" $args)
	check_match "acceleration: proxy, sidecars that read until EAGAIN (Envoy's rule): $name" '^ok ' "$out"
done <<<"$ROWS"
s1=$("$SHUNT" status --json --pin-dir "$TB_PIN")
legs=$(( $(grep -c '^fe=inbound' "$TB_TMP/drain-d.log") - n0 ))
added=$(( $(tb_counter "$s1" fastpath_sockets_added) - $(tb_counter "$s0" fastpath_sockets_added) ))
check "... every row through both sidecars ($legs connections d's sidecar ended), 2 fast-path sockets each (added: $added)" \
	test "$legs" -ge "$(grep -c . <<<"$ROWS")" -a "$added" -eq $((2 * legs))
check "... and the bytes between the sidecars went socket to socket, with fallbacks (64 KiB limit)" \
	test "$(( $(tb_counter "$s1" fastpath_msgs) - $(tb_counter "$s0" fastpath_msgs) ))" -gt 0 -a \
	     "$(( $(tb_counter "$s1" fallback_over_limit) - $(tb_counter "$s0" fallback_over_limit) ))" -gt 0
check_match "... and d's sidecar forwarded to the original destinations" '^fe=inbound origdst=198.18.0.40:808[1-6] ' "$(tail -1 "$TB_TMP/drain-d.log")"

kver=$(uname -r | cut -d. -f1,2)
while IFS='|' read -r name port args what; do
	echo "# matrix $kver | $name | off: ${OFF[$name]} | acceleration: ${ON[$name]} | proxy: ${PROXY[$name]}"
done <<<"$ROWS"
tap_done
