#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Pressure. The per-connection maps made small (shunt load --max-connections 64) and flooded by
# a storm of concurrent connections through a meshed pod: no connection reaches another
# connection's destination or carries another's bytes, every connection either works through
# the proxy or fails visibly (the app sees it fail) and a counter says so. Then 10,000
# connections open at the same time through the pod with the fast path on, every byte checked.
# After each, every per-connection map is back to its baseline.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/testbed.sh"
. "$here/../tap.sh"

tap_require_root haproxy

# The emulated 6.1 guest (scripts/vmtest.sh) runs ~50 times slower: smaller storms there.
if [ -n "${SHUNT_VM:-}" ]; then
	STORM=600 WIDE=2000
else
	STORM=3000 WIDE=10000
fi

ulimit -n "$(ulimit -Hn)"
tb_init p
tb_pod a 198.18.0.10     # meshed by its proxy (auto_detect)
tb_pod w 198.18.0.100    # the world: one server, eight ports
ports=$(seq 7001 7008)
dsts=$(for p in $ports; do printf '198.18.0.100:%s=world ' "$p"; done)
tb_bg w "$TOOLS/storm" serve world $(for p in $ports; do printf '0.0.0.0:%s ' "$p"; done)
tb_wait_listen w 7008 || tap_bail "world server"
# Two proxy processes share the outbound port (HAProxy binds with SO_REUSEPORT): one process
# may hold fewer files than 2 x 10,000 connections (RLIMIT_NOFILE is 20000 on these machines).
TB_SIDECAR_MAXCONN=9000 tb_sidecar a || tap_bail "sidecar a"
TB_SIDECAR_MAXCONN=9000 tb_sidecar a || tap_bail "second sidecar a"

CFG=$TB_TMP/node.yaml
printf 'acceleration: true\n' > "$CFG"
load() { "$SHUNT" load --config "$CFG" --pin-dir "$TB_PIN" --cgroup "$TB_CG" "$@" > "$TB_TMP/load.log" 2>&1; }
# entries of a pinned map (bpftool prints one JSON object per entry)
entries() { bpftool -j map dump pinned "$TB_PIN/maps/$1" 2>/dev/null | grep -o '"key":' | wc -l; }
maps_now() {
	local s
	s=$(tb_status)
	echo "odst=$(entries shunt_odst_v2) conn=$(entries shunt_conn_v2)" \
	     "skaddr=$(entries shunt_skaddr_v1) socks=$(tb_counter "$s" fastpath_sockets)"
}
# counter NAME: its value now
counter() { tb_counter "$(tb_status)" "$1"; }
# settle: until the per-connection maps are back to $1 (closing sockets take a moment)
settle() { for i in $(seq 50); do [ "$(maps_now)" = "$1" ] && break; sleep 0.1; done; maps_now; }

# --- the size is a load-time choice, and a bad one is a usage error ----------------------------
out=$("$SHUNT" load --max-connections 10 --pin-dir "$TB_PIN" --cgroup "$TB_CG" 2>&1)
check_match "--max-connections 10: exit 2, says the range" "^2:.*64 to 16777216" "$?:$out"
out=$("$SHUNT" load --max-connections 1k --pin-dir "$TB_PIN" --cgroup "$TB_CG" 2>&1)
check_match "--max-connections 1k: exit 2" "^2:" "$?:$out"
out=$("$SHUNT" apply --max-connections 100 --pin-dir "$TB_PIN" "$CFG" 2>&1)
check_match "--max-connections with apply: exit 2, says where it belongs" "^2:.*load.*run" "$?:$out"
check "... and nothing was loaded" test ! -e "$TB_PIN"

load --max-connections 64 || tap_bail "load: $(cat "$TB_TMP/load.log")"
st=$("$SHUNT" status --pin-dir "$TB_PIN")
check_match "status: room for 64 connections" "room for 64 each" "$st"
check_eq "status --json: max_connections 64" "64" "$(tb_counter "$(tb_status)" max_connections)"
for m in shunt_odst_v2 shunt_conn_v2 shunt_socks_v1 shunt_skaddr_v1; do
	check_match "$m holds 64" "max_entries 64" "$(bpftool map show pinned "$TB_PIN/maps/$m")"
done
out=$(tb_run a "$TOOLS/storm" client -n 8 -l 100 $dsts)
check_match "warm-up: 8 connections through the proxy" "^ok=8 failed=0 wrong=0" "$out"
sleep 0.3
base=$(settle "")

# --- a storm 6x wider than the maps ------------------------------------------------------------
# 400 connects at a time, each held until its bytes are back. A connect the maps have no room
# for is refused at once (EPERM, as a full conntrack table drops it under iptables): the app
# sees it, never a proxy that cannot learn where the connection was going.
s0=$(tb_status)
refused0=$(tb_counter "$s0" refused_origdst_full)
hap0=$(tb_sidecar_log a | grep -c .)
acc0=$(tb_sidecar_accepted a outbound)
out=$(tb_run a "$TOOLS/storm" client -n "$STORM" -c 400 -l 2048 -t 120 $dsts)
echo "# storm over 64-entry maps: $(echo "$out" | tr '\n' ' ')"
s1=$(tb_status)
ok=$(sed -n 's/^ok=\([0-9]*\).*/\1/p' <<<"$out")
failed=$(sed -n 's/.* failed=\([0-9]*\).*/\1/p' <<<"$out")
refused=$(( $(tb_counter "$s1" refused_origdst_full) - refused0 ))
echo "# refused_origdst_full +$refused, so_original_dst_unknown +$(( $(tb_counter "$s1" so_original_dst_unknown) - $(tb_counter "$s0" so_original_dst_unknown) ))"
check_match "storm: no connection reached another's destination or carried another's bytes" \
	" wrong=0 " "$out"
check_eq "storm: every connection accounted for (ok + failed = $STORM)" "$STORM" "$((ok + failed))"
check "storm: the maps' room was used ($ok connections worked)" test "$ok" -ge 64
check_eq "storm: every failure was a refused connect, none closed midway or timed out" \
	"connect refused or failed: $failed" "$(sed -n 's/^  //p' <<<"$out")"
check_eq "storm: shunt counted each refused connect (refused_origdst_full)" "$failed" "$refused"
check_eq "storm: the proxy never had to guess a destination" \
	"$(tb_counter "$s0" so_original_dst_unknown)" "$(tb_counter "$s1" so_original_dst_unknown)"
# counted by the proxy at accept (its stats socket): a log line waits for the session's end,
# which in the 6.1 guest now and then came later than the sidecar's idle timeout
check_eq "storm: the proxy accepted exactly the connections that worked" "$ok" \
	"$(( $(tb_sidecar_accepted a outbound) - acc0 ))"
hap=$(tb_sidecar_log a | tail -n +$((hap0 + 1)))
# (per connection, the banner check above proves it: each got its answer from the listener
# its app asked for, through the proxy that connected to the original destination it read)
check_eq "storm: each connection the proxy logged had one of the storm's eight destinations" \
	"" "$(grep -v 'origdst=198.18.0.100:700[1-8] ' <<<"$hap" | head -3)"
check_eq "storm: the per-connection maps are back to their baseline" "$base" "$(settle "$base")"
out=$(tb_run a "$TOOLS/storm" client -n "$STORM" -c 32 -l 2048 -t 120 $dsts)
check_match "after the storm: $STORM more, 32 at a time, all work (nothing leaked)" \
	"^ok=$STORM failed=0 wrong=0" "$out"
check_eq "... and the maps are back to their baseline again" "$base" "$(settle "$base")"

# --- 10,000 connections at once, fast path on -------------------------------------------------
"$SHUNT" unload --pin-dir "$TB_PIN" > /dev/null 2>&1
load || tap_bail "load: $(cat "$TB_TMP/load.log")"
check_eq "default size: room for 262144 connections" "262144" "$(tb_counter "$(tb_status)" max_connections)"
out=$(tb_run a "$TOOLS/storm" client -n 8 -l 100 $dsts)
sleep 0.3
base=$(settle "")
s0=$(tb_status)
accel0=$(tb_counter "$s0" fastpath_sockets_added)
bytes0=$(tb_counter "$s0" fastpath_bytes)
out=$(tb_run a "$TOOLS/storm" client -n "$WIDE" --hold -l 4096 -t 300 $dsts)
echo "# $WIDE at once: $(echo "$out" | tr '\n' ' ')"
s1=$(tb_status)
check_match "$WIDE connections open at the same time, every byte back intact" \
	"^ok=$WIDE failed=0 wrong=0 peak=$WIDE\$" "$out"
added=$(( $(tb_counter "$s1" fastpath_sockets_added) - accel0 ))
check "both ends of every app-proxy connection took the fast path (+$added sockets)" \
	test "$added" -ge $((2 * WIDE))
check "their bytes moved socket to socket (+$(( $(tb_counter "$s1" fastpath_bytes) - bytes0 )))" \
	test "$(tb_counter "$s1" fastpath_bytes)" -gt "$bytes0"
check_eq "$WIDE at once: the per-connection maps are back to their baseline" "$base" "$(settle "$base")"

tap_done
