#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Faults under load. While a client loops short connections and a bulk transfer runs through
# a meshed pod (fast path on): shunt run is killed with SIGKILL and started again; shunt
# unload lands in the middle of a 64 MiB transfer; the proxy is killed and restarted; the pod
# is deleted with connections open; the pin directory is removed by hand. What a user checks:
# no connection failed that should not have, every byte arrived intact, nothing is left over
# or duplicated in bpffs or in the maps, and status says what is wrong when something is.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/testbed.sh"
. "$here/../tap.sh"

tap_require_root haproxy

tb_init k
tb_pod a 198.18.0.10     # meshed by its proxy (auto_detect)
tb_pod w 198.18.0.100    # the world
tb_bg w "$TOOLS/streamcheck" churn-server 0.0.0.0:7000
tb_bg w "$TOOLS/streamcheck" server 0.0.0.0:7001 "$TB_TMP/stream.log"
tb_wait_listen w 7000 && tb_wait_listen w 7001 || tap_bail "world servers"
tb_sidecar a || tap_bail "sidecar a"

CFG=$TB_TMP/node.yaml
printf 'acceleration: true\n' > "$CFG"
SOCK=$TB_TMP/shunt.sock
load() { "$SHUNT" load --config "$CFG" --pin-dir "$TB_PIN" --cgroup "$TB_CG" > "$TB_TMP/load.log" 2>&1; }
start_run() {
	"${1:-$SHUNT}" run --config "$CFG" --pin-dir "$TB_PIN" --cgroup "$TB_CG" --socket "$SOCK" \
		>> "$TB_TMP/run.log" 2>&1 &
	run_pid=$!
	TB_PIDS+=($run_pid)
	for i in $(seq 50); do [ -S "$SOCK" ] && return 0; sleep 0.1; done
	return 1
}
pins() { (cd "$TB_PIN" && find . | sort); }
# connections a's proxy accepted: counted by HAProxy at accept (its stats socket), where a log
# line waits for the session's end (in the 6.1 guest now and then later than the idle timeout)
accepted() { tb_sidecar_accepted a outbound; }
# through_proxy N: N fresh connections from a; prints "<churn result> <how many the proxy accepted>"
through_proxy() {
	local a0 out
	a0=$(accepted)
	out=$(tb_run a "$TOOLS/streamcheck" churn 198.18.0.100:7000 -n "$1" | head -1)
	echo "${out%% *} $(( $(accepted) - a0 ))"
}
# entries of a pinned map (bpftool prints one JSON object per entry)
entries() { bpftool -j map dump pinned "$TB_PIN/maps/$1" 2>/dev/null | grep -o '"key":' | wc -l; }

load || tap_bail "load: $(cat "$TB_TMP/load.log")"
start_run || tap_bail "shunt run: $(cat "$TB_TMP/run.log")"
sleep 0.3
out=$(tb_run a "$TOOLS/tcpclient" -t 3 198.18.0.100:7001)
check_eq "baseline: 20 connections from a work, each through its proxy" "ok 20" "$(through_proxy 20)"
base_pins=$(pins)
base_odst=$(entries shunt_odst_v2)
base_conn=$(entries shunt_conn_v2)
base_skaddr=$(entries shunt_skaddr_v1)

# load_start N BYTES SEED: N churn connections and a BYTES transfer through the pod, in the
# background; load_wait waits for both
load_start() {
	load_a0=$(accepted)
	tb_run a "$TOOLS/streamcheck" churn 198.18.0.100:7000 -n "$1" > "$TB_TMP/churn.out" 2>&1 &
	churn_pid=$!
	TB_PIDS+=($churn_pid)
	tb_run a "$TOOLS/streamcheck" client 198.18.0.100:7001 -n "$2" -s "$3" -w 65536 --stall \
		> "$TB_TMP/bulk.out" 2>&1 &
	bulk_pid=$!
	TB_PIDS+=($bulk_pid)
}
load_wait() { wait "$churn_pid"; wait "$bulk_pid"; }
# captured_all WHAT: the 3000 churn connections and the transfer all succeeded, and a's proxy
# accepted every one of them (a capture gap would send some direct, and they would succeed)
captured_all() {
	check_match "$1: 3000 connections through the pod, none failed" '^ok' "$(cat "$TB_TMP/churn.out")"
	check_eq "$1: a's proxy accepted all 3001 (the churn and the transfer): no capture gap" \
		"3001" "$(( $(accepted) - load_a0 ))"
}

# --- shunt run killed with SIGKILL and started again, under load ------------------------------
load_start 3000 $((64 << 20)) 11
sleep 0.5
kill -9 "$run_pid"
{ wait "$run_pid"; } 2>/dev/null
sleep 0.3
start_run || tap_bail "restart: $(tail -3 "$TB_TMP/run.log")"
load_wait
captured_all "kill -9 + restart"
check_match "kill -9 + restart: the 64 MiB transfer arrived intact" '^ok' "$(cat "$TB_TMP/bulk.out")"
check_eq "kill -9 + restart: bpffs holds exactly what it held" "$base_pins" "$(pins)"
st=$("$SHUNT" status --pin-dir "$TB_PIN" 2>&1)
check_match "kill -9 + restart: status shows the pod still meshed" '^mesh: +1 workloads meshed' "$st"

# --- shunt run stopped with SIGTERM (a rolling update) and started again, under load -----------
base_pins=$(pins)
load_start 3000 $((64 << 20)) 14
sleep 0.5
kill -TERM "$run_pid"
wait "$run_pid" 2>/dev/null
start_run || tap_bail "restart after SIGTERM: $(tail -3 "$TB_TMP/run.log")"
load_wait
captured_all "SIGTERM + restart"
check_match "SIGTERM + restart: the 64 MiB transfer arrived intact" '^ok' "$(cat "$TB_TMP/bulk.out")"
check_eq "SIGTERM + restart: bpffs holds exactly what it held" "$base_pins" "$(pins)"

# --- replaced by a shunt of the next ABI (a rolling update to a new map layout version) under
# load, and rolled back. shunt-abinext is this shunt built claiming ABI+1: every map has the
# layout it expects, so it must keep them all and move every link to its own programs.
NEXT=$TB_ROOT/build/tests/shunt-abinext
abi() { "$1" status --pin-dir "$TB_PIN" 2>/dev/null | sed -n 's/.*(ABI \([0-9]*\)).*/\1/p'; }
# "name id" of each pinned map
map_ids() { for f in "$TB_PIN"/maps/*; do echo "${f##*/} $(bpftool -j map show pinned "$f" | grep -o '"id":[0-9]*')"; done; }
link_ids() { for f in "$TB_PIN"/links/*; do bpftool -j link show pinned "$f" | grep -o '"id":[0-9]*'; done; }
link_progs() { for f in "$TB_PIN"/links/*; do bpftool -j link show pinned "$f" | grep -o '"prog_id":[0-9]*'; done | sort; }
# one program per hook on the cgroup, whoever attached it
cg_hooks() { bpftool cgroup show "$TB_CG" | awk 'NR > 1 { print $2 }' | sort | uniq -c | awk '$1 != 1'; }
# (files, not <(...): the 6.1 guest has no /dev/fd)
# pins_after "+./maps/x -./maps/y": base_pins with the maps one ABI adds or drops
pins_after() {
	printf '%s\n' $1 | sed -n 's/^-//p' > "$TB_TMP/pins-dropped"
	{ printf '%s\n' "$base_pins" | grep -vxF -f "$TB_TMP/pins-dropped"
	  printf '%s\n' $1 | sed -n 's/^+//p'; } | sort
}
# maps_moved "name id..." : the maps of that list still pinned under another id
maps_moved() {
	printf '%s\n' "$1" > "$TB_TMP/maps0"
	sed 's/ .*/ /' "$TB_TMP/maps0" > "$TB_TMP/maps0-names"
	map_ids | grep -vxF -f "$TB_TMP/maps0" | grep -F -f "$TB_TMP/maps0-names"
}
# the fast-path address entries back at the baseline once every socket closed
skaddr_settled() {
	for i in $(seq 30); do
		[ "$(entries shunt_skaddr_v1)" = "$base_skaddr" ] && break
		sleep 0.1
	done
	entries shunt_skaddr_v1
}
rollout() { # FROM TO SEED WHAT [ABI-DELTA [MAPS-ADDED-OR-DROPPED]]
	local abi_from=$(abi "$1") maps0=$(map_ids) links0=$(link_ids) progs0=$(link_progs) lost=
	base_pins=$(pins)
	load_start 3000 $((64 << 20)) "$3"
	sleep 0.5
	kill -TERM "$run_pid"
	wait "$run_pid" 2>/dev/null
	skaddr_at=$(entries shunt_skaddr_v1)   # fast-path sockets open across the upgrade
	start_run "$2" || tap_bail "$4: $(tail -3 "$TB_TMP/run.log")"
	load_wait
	captured_all "$4"
	check_match "$4: the 64 MiB transfer arrived intact" '^ok' "$(cat "$TB_TMP/bulk.out")"
	check_match "$4: the loaded shunt now speaks ABI $(( abi_from + ${5:-1} ))" \
		"^$(( abi_from + ${5:-1} ))\$" "$(abi "$2")"
	check_match "$4: said so in its log" "replaced the shunt at .*: ABI $abi_from -> $(( abi_from + ${5:-1} ))" \
		"$(tail -20 "$TB_TMP/run.log")"
	check_eq "$4: bpffs holds what it held${6:+ (the maps one ABI lacks: $6)}" \
		"$(pins_after "${6:-}")" "$(pins)"
	check_eq "$4: every map both ABIs have kept (same map ids: the entries in flight stay)" \
		"" "$(maps_moved "$maps0")"
	check_eq "$4: every pinned link kept (same link ids)" "$links0" "$(link_ids)"
	printf '%s\n' "$progs0" > "$TB_TMP/progs0"
	check_eq "$4: ... and each one runs a new program" "0" "$(link_progs | grep -Fxc -f "$TB_TMP/progs0")"
	check_eq "$4: one program per cgroup hook" "" "$(cg_hooks)"
	for i in $(seq 30); do # the old programs go once no link, map or socket holds them
		lost=$(for p in $(sed 's/.*://' <<<"$progs0"); do bpftool prog show id "$p" >/dev/null 2>&1 && echo "$p"; done)
		[ -z "$lost" ] && break
		sleep 0.1
	done
	check_eq "$4: the old programs are gone from the kernel" "" "$lost"
	check_eq "$4: no fast-path address entry left, also of sockets the old programs added" \
		"$base_skaddr" "$(skaddr_settled)"
	check_eq "$4: a's new connections work, each through its proxy" "ok 5" "$(through_proxy 5)"
}
rollout "$SHUNT" "$NEXT" 15 "replaced by ABI+1 under load"
rollout "$NEXT" "$SHUNT" 16 "rolled back to the old ABI under load" -1

# --- from the previous release and back: the last build of the ABI before this one, from git
# history (make build/tests/shunt-prev), replaced in place by this shunt under load, then this
# shunt rolled back to it. The previous release's programs do not mark the sockets they give a
# fast-path address entry (sockops.bpf.c): the ones open across the upgrade must still leave
# their entry when they close.
PREV=$TB_ROOT/build/tests/shunt-prev
if [ -x "$PREV" ]; then
	abi_of_binary() { "$1" --version | sed -n 's/.*(ABI \([0-9]*\)).*/\1/p'; }
	abi_step=$(( $(abi_of_binary "$SHUNT") - $(abi_of_binary "$PREV") ))
	prev_name="the previous release (ABI $(abi_of_binary "$PREV"), $(cut -c1-7 "$PREV.commit"))"
	# the maps this ABI has and the previous one lacks
	strings "$PREV" | grep -xE 'shunt_[a-z0-9]+_v[0-9]+' | sort -u > "$TB_TMP/prev-maps"
	strings "$SHUNT" | grep -xE 'shunt_[a-z0-9]+_v[0-9]+' | sort -u > "$TB_TMP/our-maps"
	new_maps=$(comm -13 "$TB_TMP/prev-maps" "$TB_TMP/our-maps" |
		while read -r m; do [ -e "$TB_PIN/maps/$m" ] && echo "./maps/$m"; done)
	kill -TERM "$run_pid"
	wait "$run_pid" 2>/dev/null
	"$SHUNT" unload --pin-dir "$TB_PIN" > /dev/null 2>&1 || tap_bail "unload before $prev_name"
	"$PREV" load --config "$CFG" --pin-dir "$TB_PIN" --cgroup "$TB_CG" > "$TB_TMP/load.log" 2>&1 ||
		tap_bail "$prev_name: load: $(cat "$TB_TMP/load.log")"
	start_run "$PREV" || tap_bail "$prev_name: run: $(tail -3 "$TB_TMP/run.log")"
	sleep 0.3
	check_eq "$prev_name: loaded, a's connections go through its proxy" "ok 5" "$(through_proxy 5)"
	rollout "$PREV" "$SHUNT" 17 "from $prev_name under load" "$abi_step" "$(sed 's/^/+/' <<<"$new_maps")"
	check "... fast-path sockets of the old programs were open across the upgrade ($skaddr_at entries)" \
		test "$skaddr_at" -gt "$base_skaddr"
	rollout "$SHUNT" "$PREV" 18 "back to $prev_name under load" "-$abi_step" "$(sed 's/^/-/' <<<"$new_maps")"
	kill -TERM "$run_pid"
	wait "$run_pid" 2>/dev/null
	"$PREV" unload --pin-dir "$TB_PIN" > /dev/null 2>&1 || tap_bail "unload $prev_name"
	load || tap_bail "load after $prev_name: $(cat "$TB_TMP/load.log")"
	start_run || tap_bail "run after $prev_name: $(tail -3 "$TB_TMP/run.log")"
	sleep 0.3
else
	tap_skip "from the previous release: no build of it (no git history to build one from)"
fi

# A map of another layout under a name the new shunt uses: refused before anything changed.
kill -TERM "$run_pid"
wait "$run_pid" 2>/dev/null
base_pins=$(pins)
progs0=$(link_progs)
abi0=$(abi "$SHUNT")
[ -n "$abi0" ] || tap_bail "status shows no ABI before the refused upgrade"
mv "$TB_PIN/maps/shunt_pbind_v1" "$TB_PIN/maps/saved_pbind"
bpftool map create "$TB_PIN/maps/shunt_pbind_v1" type hash key 8 value 8 entries 4 name shunt_pbind_v1
out=$("$NEXT" load --config "$CFG" --pin-dir "$TB_PIN" --cgroup "$TB_CG" 2>&1)
check_match "a map of another layout: the upgrade exits 1" "^1:" "$?:"
check_match "... and names the map and what differs" "shunt_pbind_v1 changed layout.*this shunt's" "$out"
check_eq "... nothing changed: the links run the programs they ran" "$progs0" "$(link_progs)"
check_eq "... and still captures" "ok 5" "$(through_proxy 5)"
rm "$TB_PIN/maps/shunt_pbind_v1"
mv "$TB_PIN/maps/saved_pbind" "$TB_PIN/maps/shunt_pbind_v1"
check_eq "... bpffs as it was once the map is put back" "$base_pins" "$(pins)"
# (status cannot read the pin dir while the foreign map is in it: asked once it is back)
check_match "... the loaded shunt still speaks the ABI it spoke ($abi0)" "^$abi0\$" "$(abi "$SHUNT")"
start_run || tap_bail "run after the refused upgrade"

# --- shunt unload in the middle of a 64 MiB fast-path transfer ---------------------------------
kill "$run_pid"
wait "$run_pid" 2>/dev/null
bytes0=$(tb_counter "$(tb_status)" fastpath_bytes)
tb_run a "$TOOLS/streamcheck" client 198.18.0.100:7001 -n $((64 << 20)) -s 12 -w 65536 --stall \
	> "$TB_TMP/bulk.out" 2>&1 &
bulk_pid=$!
TB_PIDS+=($bulk_pid)
for i in $(seq 50); do   # until the transfer is on the fast path
	[ "$(tb_counter "$(tb_status)" fastpath_bytes)" -gt "${bytes0:-0}" ] && break
	sleep 0.05
done
out=$("$SHUNT" unload --pin-dir "$TB_PIN" 2>&1)
check_eq "unload during the transfer: exit 0" "0" "$?"
wait "$bulk_pid"
check_match "unload during the transfer: all 64 MiB arrived intact" '^ok' "$(cat "$TB_TMP/bulk.out")"
check "unload: the pin directory is gone" test ! -e "$TB_PIN"
out=$(tb_run a "$TOOLS/tcpclient" -t 3 198.18.0.100:7001)
check_eq "unload: new connections work and go direct again" "ok 0" "$(through_proxy 5)"

# --- the proxy killed and restarted: fail-closed, then capture resumes --------------------------
load || tap_bail "reload: $(cat "$TB_TMP/load.log")"
start_run || tap_bail "run again"
sleep 0.3
check_eq "reloaded: a's connections work, each through its proxy again" "ok 5" "$(through_proxy 5)"
lines0=$(grep -c . "$TB_TMP/stream.log")
load_start 100000 $((16 << 20)) 13
sleep 0.3
hap_pid=$(pgrep -f "haproxy -db -f $TB_TMP/haproxy-a.cfg" | head -1)
kill "$hap_pid"
for i in $(seq 30); do ip netns exec "$(tb_ns a)" ss -Hltn 'sport = :15001' | grep -q . || break; sleep 0.1; done
# the world logs the transfer the kill cut (a line at its end): wait for it before counting
for i in $(seq 50); do [ "$(grep -c . "$TB_TMP/stream.log")" -gt "$lines0" ] && break; sleep 0.1; done
seen=$(grep -c . "$TB_TMP/stream.log")
out=$(tb_run a "$TOOLS/tcpclient" -t 2 198.18.0.100:7001)
check_match "proxy down: a's connection is refused, not sent around it" '^fail connect: Connection refused' "$out"
check_eq "... and the world never saw it" "$seen" "$(grep -c . "$TB_TMP/stream.log")"
wait "$churn_pid"
check_match "proxy down: the churn client failed visibly (refused)" '^fail' "$(cat "$TB_TMP/churn.out")"
tb_sidecar a || tap_bail "sidecar restart"
out=$(tb_run a "$TOOLS/streamcheck" churn 198.18.0.100:7000 -n 200)
check_match "proxy back: 200 connections through it, none failed" '^ok' "$out"
wait "$bulk_pid"
# visibly: a connection error; a verdict on the bytes (a difference, a rejected stream) is corruption
check_match "the transfer through the killed proxy ended, intact or failed visibly" \
	'^(ok|fail (connect|write|read|peer closed|timeout))' \
	"$(cat "$TB_TMP/bulk.out")"

# --- the pod deleted with connections open -----------------------------------------------------
tb_run a "$TOOLS/streamcheck" client 198.18.0.100:7001 -n $((512 << 20)) -s 14 -w 65536 --stall \
	> "$TB_TMP/bulk.out" 2>&1 &
bulk_pid=$!
TB_PIDS+=($bulk_pid)
sleep 0.5
tb_pod_del a
wait "$bulk_pid" 2>/dev/null
gone=0
for i in $(seq 30); do
	st=$("$SHUNT" dump --pin-dir "$TB_PIN" 2>&1)
	if ! grep -q '^  netns ' <<<"$st" && [ "$(ls "$TB_PIN/links" | grep -c sk_lookup_)" = 0 ]; then
		gone=1
		break
	fi
	sleep 0.1
done
check_eq "pod deleted mid-transfer: its workload entry and sk_lookup link are gone within 3 s" "1" "$gone"
sleep 0.5
check_eq "pod deleted: no original destination left behind" "$base_odst" "$(entries shunt_odst_v2)"
check_eq "pod deleted: no connection entry left behind" "$base_conn" "$(entries shunt_conn_v2)"
check_eq "pod deleted: no fast-path address entry left behind" "$base_skaddr" "$(entries shunt_skaddr_v1)"

# --- the pin directory removed by hand ---------------------------------------------------------
kill "$run_pid"
wait "$run_pid" 2>/dev/null
rm -rf "$TB_PIN/maps"
out=$("$SHUNT" status --pin-dir "$TB_PIN" 2>&1)
rc=$?
check_match "maps removed by hand: status exits 1 and says what is missing" "^1:.*maps" "$rc:$out"
rm -rf "$TB_PIN"
out=$("$SHUNT" status --pin-dir "$TB_PIN" 2>&1)
rc=$?
check_match "pin dir removed by hand: status exits 1 and says shunt is not loaded" "^1:.*not loaded" "$rc:$out"
tap_done
