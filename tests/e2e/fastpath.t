#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The sk_msg fast path under the conditions that break naive redirection: every byte of
# long streams checked where it stands plus SHA-256, random write sizes (partial writes),
# half-close, HAProxy on both sides, stalled readers, a path that switches many times,
# connection churn, two pods sharing one loopback 4-tuple, a splice() reader, and the
# runtime switch.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/testbed.sh"
. "$here/../tap.sh"

tap_require_root haproxy
SC=$TOOLS/streamcheck
MiB=$((1 << 20))

tb_init f
tb_pod a 198.18.0.10
tb_pod b 198.18.0.20
tb_pod c 198.18.0.30
tb_pod d 198.18.0.40
# The mesh path of Istio: app a -> sidecar a (outbound) -> sidecar b (inbound, by sk_lookup)
# -> app b (from 127.0.0.6). Three legs, all on this node.
tb_sidecar a || tap_bail "sidecar a"
tb_sidecar b || tap_bail "sidecar b"
tb_bg b "$SC" server 0.0.0.0:9000 "$TB_TMP/app-b.log" --echo
tb_wait_listen b 9000 || tap_bail "app b"
tb_bg b "$SC" server 0.0.0.0:9001 "$TB_TMP/app-b-sink.log"
tb_wait_listen b 9001 || tap_bail "sink b"

CFG=$TB_TMP/routes.yaml
cat > "$CFG" <<YAML
acceleration: true
acceleration_queue_limit: 1MiB
workloads:
  - {name: a, netns: /run/netns/$(tb_ns a)}
  - {name: b, netns: /run/netns/$(tb_ns b)}
  - {name: c, netns: /run/netns/$(tb_ns c)}
  - {name: d, netns: /run/netns/$(tb_ns d), acceleration: false}
YAML
out=$("$SHUNT" load --config "$CFG" --pin-dir "$TB_PIN" --cgroup "$TB_CG" 2>&1)
check_eq "load" "0" "$?"
[ -d "$TB_PIN/links" ] || tap_bail "load failed: $out"

delta() { # delta NAME BEFORE_JSON AFTER_JSON
	echo $(( $(tb_counter "$3" "$1") - $(tb_counter "$2" "$1") ))
}

# --- every leg, both directions, HAProxy on both sides ---------------------------------------
s0=$(tb_status)
out=$(tb_run a "$SC" client 198.18.0.20:9000 -n $((64 * MiB)) -w $MiB -s 11 --echo --stall)
s1=$(tb_status)
check_match "app a -> sidecar a -> sidecar b -> app b and back: 64 MiB, writes 1 B..1 MiB, stalls: intact" '^ok bytes=67108864 sha256=' "$out"
check_match "sidecar a saw the original destination" 'fe=outbound origdst=198.18.0.20:9000 ' "$(tb_sidecar_log a | tail -1)"
check_match "sidecar b accepted it on its inbound port (sk_lookup)" 'fe=inbound origdst=198.18.0.20:9000 ' "$(tb_sidecar_log b | tail -1)"
n=$(delta fastpath_sockets_added "$s0" "$s1")
check "all 6 sockets of the 3 legs were on the fast path (added: $n)" test "$n" -ge 6
n=$(delta fastpath_bytes "$s0" "$s1")
# How much stays on the fast path depends on who is ahead (README, "The fast path"): a
# measurement for the note, not a threshold; the bytes must move socket to socket at all.
check "bytes went socket to socket ($((n / MiB)) MiB redirected of 384 MiB leg-bytes)" test "$n" -ge "$MiB"

s0=$(tb_status)
out=$(tb_run a "$SC" client 198.18.0.20:9001 -n $((32 * MiB)) -w $MiB -s 12)
check_match "one direction then half-close: the server verified 32 MiB" '^ok bytes=33554432' "$out"
sha=$(sed -n 's/.*sha256=\([0-9a-f]*\).*/\1/p' <<<"$out")
check_match "server-side SHA-256 equals the sender's" "ok bytes=33554432 sha256=$sha" "$(tail -1 "$TB_TMP/app-b-sink.log")"

# --- stalled reader: the writer is stopped, memory bounded, nothing lost --------------------
tb_bg a "$SC" server 127.0.0.1:9200 "$TB_TMP/hold.log" --hold 2000
tb_wait_listen a 9200
s0=$(tb_status)
out=$(tb_run a "$SC" client 127.0.0.1:9200 -n $((64 * MiB)) -w 65536 -s 13 --blocked)
s1=$(tb_status)
check_match "stalled reader: stream completes intact once the reader resumes" '^ok bytes=67108864' "$out"
blocked=$(sed -n 's/.*blocked_after=\([0-9]*\).*/\1/p' <<<"$out")
check "writer blocked (EAGAIN) after $((blocked / 1024)) KiB, not unbounded (limit 1 MiB + TCP buffers < 16 MiB)" \
	test "${blocked:-0}" -gt 0 -a "${blocked:-0}" -lt $((16 * MiB))
check "the queue limit is what stopped the redirect path" test "$(delta fallback_over_limit "$s0" "$s1")" -gt 0
check_match "server verified it" '^ok bytes=67108864' "$(tail -1 "$TB_TMP/hold.log")"

# --- order: 512 MiB while reader and writer alternate stalled and fast ----------------------
tb_bg a "$SC" server 127.0.0.1:9201 "$TB_TMP/order.log" --stall
tb_wait_listen a 9201
s0=$(tb_status)
out=$(tb_run a "$SC" client 127.0.0.1:9201 -n $((512 * MiB)) -w 262144 -s 14 --stall)
s1=$(tb_status)
sha=$(sed -n 's/.*sha256=\([0-9a-f]*\).*/\1/p' <<<"$out")
check_match "512 MiB, random writes, stalling reader: every byte in place" '^ok bytes=536870912' "$out"
check_match "SHA-256 at the reader equals the writer's" "ok bytes=536870912 sha256=$sha" "$(tail -1 "$TB_TMP/order.log")"
g=$(delta fallback_drain_gate "$s0" "$s1"); l=$(delta fallback_over_limit "$s0" "$s1"); r=$(delta fastpath_msgs "$s0" "$s1")
# how often the limit is hit depends on the machine's speed: what matters is that both
# switches happened, and the SHA-256 above, not the count. On the host the path switches
# many times; in the emulated guest (SHUNT_VM) the reader seldom catches up, so after the
# limit the stream mostly stays on TCP (one run: redirected 20, over limit 1, drain gate 3997)
if [ -z "${SHUNT_VM:-}" ]; then
	check "the path switched many times (redirected $r, over limit $l, drain gate $g)" \
		test "$r" -ge 50 -a "$l" -ge 3 -a "$g" -gt 0
else
	check "the path switched both ways (redirected $r, over limit $l, drain gate $g)" \
		test "$r" -gt 0 -a "$l" -gt 0 -a "$g" -gt 0
fi

# --- same loopback 4-tuple in two pods at once ----------------------------------------------
tb_bg a "$SC" server 127.0.0.1:9400 "$TB_TMP/tuple-a.log" --echo
tb_bg c "$SC" server 127.0.0.1:9400 "$TB_TMP/tuple-c.log" --echo
tb_wait_listen a 9400 && tb_wait_listen c 9400
s0=$(tb_status)
tb_run a "$SC" client 127.0.0.1:9400 -b 127.0.0.1:45000 -n $((32 * MiB)) -s 21 --echo > "$TB_TMP/tuple-a.out" &
pa=$!
tb_run c "$SC" client 127.0.0.1:9400 -b 127.0.0.1:45000 -n $((32 * MiB)) -s 22 --echo > "$TB_TMP/tuple-c.out" &
pc=$!
wait $pa; wait $pc
s1=$(tb_status)
check_match "pod a on 127.0.0.1:45000->9400: its own bytes back" '^ok bytes=33554432' "$(cat "$TB_TMP/tuple-a.out")"
check_match "pod c on the same 4-tuple: its own bytes back" '^ok bytes=33554432' "$(cat "$TB_TMP/tuple-c.out")"
check "both pairs were accelerated (4 sockets added: $(delta fastpath_sockets_added "$s0" "$s1"))" \
	test "$(delta fastpath_sockets_added "$s0" "$s1")" -ge 4

# --- splice() reader, acceleration off for its workload --------------------------------------
tb_bg d "$SC" server 127.0.0.1:9500 "$TB_TMP/splice.log" --splice
tb_wait_listen d 9500
s0=$(tb_status)
out=$(tb_run d "$SC" client 127.0.0.1:9500 -n $((16 * MiB)) -s 31)
s1=$(tb_status)
check_match "splice() reader in a workload with acceleration: false gets every byte" '^ok bytes=16777216' "$out"
check "its sockets were kept off the fast path" test "$(delta fastpath_switched_off "$s0" "$s1")" -ge 2
check_eq "none of them added" "0" "$(delta fastpath_sockets_added "$s0" "$s1")"

# --- half-close + blocking read against a slow server, acceleration off for its workload ------
# The app writes 4 KiB, shutdown(SHUT_WR)s and waits in a blocking read(); the server answers
# after 50 ms. On the fast path the kernel fails that read with EAGAIN (README, The fast path,
# known hazards; tests/kernel/halfclose.t); the documented answer is acceleration: false.
slow_server='
import socket, sys, threading, time
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", int(sys.argv[1])))
l.listen(16)
def answer(c):
    data = b"".join(iter(lambda: c.recv(65536), b""))   # to the end of the stream
    time.sleep(0.05)
    c.sendall(data)
    c.close()
while True:
    c, _ = l.accept()
    threading.Thread(target=answer, args=(c,), daemon=True).start()'
tb_bg d python3 -c "$slow_server" 9600
tb_bg c python3 -c "$slow_server" 9600
tb_wait_listen d 9600 && tb_wait_listen c 9600 || tap_bail "slow servers"
halfclose_runs() { # POD: five exchanges; prints how many worked, then the last failure
	local ok=0 out last= i
	for i in 1 2 3 4 5; do
		out=$(tb_run "$1" "$TOOLS/bypass" nonblock 127.0.0.1:9600 2>&1)
		case $out in ok*) ok=$((ok + 1)) ;; *) last=$out ;; esac
	done
	echo "$ok $last"
}
s0=$(tb_status)
out=$(halfclose_runs d)
s1=$(tb_status)
check_eq "write, half-close, blocking read, 50 ms server, acceleration: false: 5 of 5 answered" \
	"5" "${out%% *}"
check_eq "... none of those sockets on the fast path" "0" "$(delta fastpath_sockets_added "$s0" "$s1")"
out=$("$SHUNT" explain --pin-dir "$TB_PIN" --pod "$(tb_ns d)" 127.0.0.1:9600 2>&1)
check_match "explain says so for pod d" '^fast path +off for this pod \(acceleration: false\)' "$out"
out=$("$SHUNT" explain --pin-dir "$TB_PIN" --pod "$(tb_ns c)" --json 127.0.0.1:9600 2>&1)
check_match "... and, in JSON, that pod c's connections take it" '"fast_path":true' "$out"
# sockops' gate, as explain reads it (one shunt_decide_accel for both): the proxy's own
# connection goes direct, so its peer is the destination, on this node or not
out=$("$SHUNT" explain --pin-dir "$TB_PIN" --pod "$(tb_ns c)" --proxy 198.18.0.20:9000 2>&1)
check_match "explain: pod c's proxy to pod b's address takes the fast path" '^fast path +on: ' "$out"
out=$("$SHUNT" explain --pin-dir "$TB_PIN" --pod "$(tb_ns c)" --proxy 198.18.0.99:80 2>&1)
check_match "... to an address of no pod here: off, as sockops leaves such sockets alone" \
	'^fast path +off: the peer is not on this node' "$out"
out=$(halfclose_runs c)
echo "# the same in pod c, fast path on: ${out%% *} of 5 answered (${out#* })"

# --- churn: the maps hold what is open, not what was ------------------------------------------
tb_bg a "$SC" churn-server 127.0.0.1:9300
tb_wait_listen a 9300
s0=$(tb_status)
out=$(tb_run a "$SC" churn 127.0.0.1:9300 -n 100000)
s1=$(tb_status)
check_match "100k short connections" '^ok connections=100000' "$out"
check "each got both sockets on the fast path ($(delta fastpath_sockets_added "$s0" "$s1") added)" \
	test "$(delta fastpath_sockets_added "$s0" "$s1")" -ge 200000
sleep 0.5
s1=$(tb_status)
check_match "afterwards the sockhash and address map are empty again" '"fastpath_sockets":0,"fastpath_addrs":0' "$s1"

# --- the switch at runtime -----------------------------------------------------------------
sed 's/^acceleration: true/acceleration: false/' "$CFG" > "$TB_TMP/off.yaml"
out=$("$SHUNT" apply --config "$TB_TMP/off.yaml" --pin-dir "$TB_PIN" 2>&1)
check_eq "apply acceleration: false" "0" "$?"
s0=$(tb_status)
out=$(tb_run a "$SC" client 198.18.0.20:9000 -n $((8 * MiB)) -s 41 --echo)
s1=$(tb_status)
check_match "with acceleration off, the same path still carries intact data" '^ok bytes=8388608' "$out"
check_eq "no socket added to the fast path" "0" "$(delta fastpath_sockets_added "$s0" "$s1")"
check "the switch was counted" test "$(delta fastpath_switched_off "$s0" "$s1")" -ge 6
out=$("$SHUNT" apply --config "$CFG" --pin-dir "$TB_PIN" 2>&1)
s0=$(tb_status)
out=$(tb_run a "$SC" client 198.18.0.20:9000 -n $((8 * MiB)) -s 42 --echo)
s1=$(tb_status)
check_match "switched back on: intact" '^ok bytes=8388608' "$out"
check "new connections are accelerated again" test "$(delta fastpath_sockets_added "$s0" "$s1")" -ge 6

tap_done
