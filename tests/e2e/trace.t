#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# shunt trace on a live sandbox: two traces at once (text, and JSON narrowed to one pod),
# then a known connection through pod a's proxy must appear in both with its verdict, pod,
# process and original destination; the proxy's SO_ORIGINAL_DST answer; an inbound
# connection steered into the pod; sockets onto the fast path, and every fast-path fallback
# the counters saw, with its reason. Ctrl-C stops a trace and gives its ring back; kill -9 of
# the other leaves its ring held until shunt run sees the process gone. Tracing is off after.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/testbed.sh"
. "$here/../tap.sh"

tap_require_root haproxy python3

tb_init t
tb_pod a 198.18.0.10     # meshed by its proxy (auto_detect)
tb_pod w 198.18.0.100    # the world
tb_echo w 0.0.0.0:7001 || tap_bail "world"
tb_bg w "$TOOLS/streamcheck" server 0.0.0.0:7002 "$TB_TMP/stream.log" --stall
tb_bg w "$TOOLS/streamcheck" churn-server 0.0.0.0:7003
tb_wait_listen w 7002 && tb_wait_listen w 7003 || tap_bail "stream servers"
tb_sidecar a || tap_bail "sidecar a"
CFG=$TB_TMP/node.yaml
printf 'acceleration: true\nacceleration_queue_limit: 1MiB\n' > "$CFG"
tb_shunt_run "$CFG" || tap_bail "shunt"
for i in $(seq 30); do ls "$TB_PIN/links" | grep -q sk_lookup_ && break; sleep 0.1; done
st() { "$SHUNT" status --pin-dir "$TB_PIN" 2>&1; }
check_match "before any trace: status says tracing is off" '^trace: +off' "$(st)"

# trace_start NAME ARGS...: a trace in the background, until it says it is tracing
trace_start() {
	local name=$1 i
	shift
	"$SHUNT" trace --pin-dir "$TB_PIN" "$@" > "$TB_TMP/$name.out" 2> "$TB_TMP/$name.err" &
	eval "${name}_pid=$!"
	TB_PIDS+=($!)
	for i in $(seq 50); do grep -q 'tracing' "$TB_TMP/$name.err" && return 0; sleep 0.1; done
	return 1
}
# fast-path fallbacks counted, the three reasons together. Read before the text trace starts
# and after it stopped, so the window is the trace's own: a fallback at the tail of a transfer
# (the reader's last send, after the writer closed) can come after its client returned.
fallbacks() {
	local s
	s=$(tb_status)
	echo $(( $(tb_counter "$s" fallback_drain_gate) + $(tb_counter "$s" fallback_over_limit) +
		 $(tb_counter "$s" fallback_peer_missing) ))
}
fb0=$(fallbacks)
trace_start text || tap_bail "trace: $(cat "$TB_TMP/text.err")"
trace_start json --json --pod "$(tb_ns a)" || tap_bail "trace --json: $(cat "$TB_TMP/json.err")"
check_match "two traces at once: status shows both rings held" "^trace: +on, ring 0 for pid $text_pid, ring 1 for pid $json_pid\$" "$(st)"

out=$(tb_run a "$TOOLS/tcpclient" -t 3 198.18.0.100:7001)
check_match "a's connection works while traced" '^ok' "$out"
tb_run w "$TOOLS/tcpclient" -t 3 198.18.0.10:7001 > /dev/null   # into the pod (its app is absent)
out=$(tb_run a "$TOOLS/streamcheck" client 198.18.0.100:7002 -n $((8 << 20)) -s 3 -w 65536 --stall)
check_match "an 8 MiB transfer through the proxies works while traced" '^ok' "$out"
# a reader in the pod that holds off 2 s: its queue passes the 1 MiB limit (fastpath.t)
tb_bg a "$TOOLS/streamcheck" server 127.0.0.1:9200 "$TB_TMP/hold.log" --hold 2000
tb_wait_listen a 9200 || tap_bail "holding reader"
out=$(tb_run a "$TOOLS/streamcheck" client 127.0.0.1:9200 -n $((16 << 20)) -w 65536 -s 4)
check_match "a 16 MiB transfer to a reader that holds off works while traced" '^ok' "$out"
# a pod meshed by its proxy's bind while traced, then deleted (shunt run unmeshes it)
tb_pod c 198.18.0.12
tb_sidecar c || tap_bail "sidecar c"
for i in $(seq 50); do grep -q " meshed .*$(tb_ns c)" "$TB_TMP/text.out" && break; sleep 0.1; done
tb_pod_del c
for i in $(seq 100); do grep -q " unmeshed .*$(tb_ns c)" "$TB_TMP/text.out" && break; sleep 0.1; done
sleep 0.5
kill -INT "$text_pid"
wait "$text_pid"
check_eq "Ctrl-C: the trace exits 0" "0" "$?"
fb1=$(fallbacks)
check_match "... and says what it showed" '^shunt: trace stopped: [0-9]+ events shown, 0 lost$' "$(tail -1 "$TB_TMP/text.err")"
check_match "... its ring is given back, the other still held" "^trace: +on, ring 1 for pid $json_pid\$" "$(st)"

text=$(cat "$TB_TMP/text.out")
pod_a=$(tb_ns a)
check_match "text: the connection, decided outbound in pod a by tcpclient, sent to the proxy" \
	"outbound +$pod_a +[0-9]+/tcpclient uid 0 +- -> 198\\.18\\.0\\.100:7001 orig 198\\.18\\.0\\.100:7001 => :15001 redirect_include_cidr\$" "$text"
check_match "text: the proxy asked SO_ORIGINAL_DST and read 198.18.0.100:7001" \
	"origdst +$pod_a +[0-9]+/haproxy uid 1337 +127\\.0\\.0\\.1:[0-9]+ -> 127\\.0\\.0\\.1:15001 orig 198\\.18\\.0\\.100:7001 so_original_dst_answered\$" "$text"
check_match "text: the proxy's own connection out went direct (its owner)" \
	"outbound +$pod_a +[0-9]+/haproxy uid 1337 +- -> 198\\.18\\.0\\.100:7001 orig - direct_proxy_owner\$" "$text"
check_match "text: the world's connection steered to a's inbound listener" \
	"inbound +$pod_a +- +198\\.18\\.0\\.100:[0-9]+ -> 198\\.18\\.0\\.10:7001 orig 198\\.18\\.0\\.10:7001 => :15006 inbound_steered\$" "$text"
check_match "text: sockets put on the fast path" "fastpath +$pod_a .* fastpath_sockets_added\$" "$text"
check_match "text: pod c meshed by its proxy's bind (the proxy's pid)" \
	"meshed +$(tb_ns c) +[0-9]+ uid 1337 +- -> - orig - netns_auto_meshed\$" "$text"
check_match "text: pod c unmeshed when it was deleted" "unmeshed $(tb_ns c) +by " "$text"
check_eq "text: pod c meshed once, not twice" "1" "$(grep -c " meshed .*$(tb_ns c)" <<<"$text")"
fb_lines=$(grep -c ' fallback_' <<<"$text")
check "the transfers fell back from the fast path ($((fb1 - fb0)) messages counted)" test "$fb1" -gt "$fb0"
check_eq "text: every fallback counted appears, with its reason" "$((fb1 - fb0))" "$fb_lines"
check_match "text: the held reader's over-limit fallback, in pod a, between the two sockets" \
	"fastpath +$pod_a +- +127\\.0\\.0\\.1:[0-9]+ -> 127\\.0\\.0\\.1:9200 orig - fallback_over_limit\$" "$text"
echo "# fallbacks counted $((fb1 - fb0)), traced $fb_lines: $(grep -o ' fallback_[a-z_]*$' <<<"$text" | sort | uniq -c | tr -s ' \n' ' ')"

# JSON, narrowed to pod a: every line an object, the same connection with the same facts
check "json: every line is one JSON object" python3 -c '
import json, sys
for l in open(sys.argv[1]):
    json.loads(l)' "$TB_TMP/json.out"
line=$(grep '"verdict":"redirect_include_cidr"' "$TB_TMP/json.out" | grep '"comm":"tcpclient"' | head -1)
check_match "json: the connection, with pod, process, destination and original destination" \
	"\"kind\":\"outbound\",\"verdict\":\"redirect_include_cidr\",\"pod\":\"$pod_a\",\"netns_cookie\":[0-9]+,\"pid\":[0-9]+,\"comm\":\"tcpclient\",\"uid\":0,\"src\":\"-\",\"dst\":\"198.18.0.100:7001\",\"orig\":\"198.18.0.100:7001\",\"to_port\":15001" "$line"
check_eq "json --pod a: nothing of another pod" "" "$(grep -v "\"pod\":\"$pod_a\"" "$TB_TMP/json.out")"

# kill -9: the ring stays held until shunt run sees the tracer gone (it checks every 0.4 s)
kill -9 "$json_pid"
{ wait "$json_pid"; } 2>/dev/null
off=no
for i in $(seq 30); do st | grep -q '^trace: *off' && { off=yes; break; }; sleep 0.1; done
check_eq "kill -9 of a trace: tracing is off again within 3 s" "yes" "$off"

# a trace that cannot keep up (stopped, while 3000 connections make ~20000 events for a ring
# of ~2000) says how many it lost
trace_start slow || tap_bail "trace: $(cat "$TB_TMP/slow.err")"
kill -STOP "$slow_pid"
tb_run a "$TOOLS/streamcheck" churn 198.18.0.100:7003 -n 3000 > /dev/null
kill -CONT "$slow_pid"
sleep 1
kill -INT "$slow_pid"; wait "$slow_pid"
check_match "a trace that fell behind says how many events it lost" \
	'^shunt: trace: [0-9]+ events lost \(the trace could not keep up' "$(cat "$TB_TMP/slow.err")"
check_match "... and counts them at the end" '^shunt: trace stopped: [0-9]+ events shown, [1-9][0-9]* lost$' "$(tail -1 "$TB_TMP/slow.err")"

# filters that match nothing show nothing; beside them, the same filter on the right port
trace_start none --port 7999 || tap_bail "trace --port"
trace_start hit --port 7001 || tap_bail "trace --port 7001"
tb_run a "$TOOLS/tcpclient" -t 3 198.18.0.100:7001 > /dev/null
sleep 0.3
kill -INT "$none_pid" "$hit_pid"; wait "$none_pid" "$hit_pid"
check_eq "trace --port 7999: no line for a connection to 7001" "" "$(cat "$TB_TMP/none.out")"
check_match "... while trace --port 7001, running beside it, shows it" '198\.18\.0\.100:7001' "$(cat "$TB_TMP/hit.out")"
trace_start verdict --verdict redirect || tap_bail "trace --verdict"
tb_run a "$TOOLS/tcpclient" -t 3 198.18.0.100:7001 > /dev/null
sleep 0.3
kill -INT "$verdict_pid"; wait "$verdict_pid"
check_eq "trace --verdict redirect: only redirect_* lines" "" "$(grep -v ' redirect_[a-z_]*$' "$TB_TMP/verdict.out")"
check_match "... and the connection is one" 'redirect_include_cidr$' "$(cat "$TB_TMP/verdict.out")"
out=$("$SHUNT" trace --pin-dir "$TB_PIN" --verdict nonsense 2>&1)
check_match "--verdict nonsense: exit 2, says why" "^2:.*no verdict or counter starts with 'nonsense'" "$?:$out"
check_match "all traces stopped: tracing is off" '^trace: +off' "$(st)"
tap_done
