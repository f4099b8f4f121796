#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# make bench-pods [PODS=1000]: a busy node's worth of per-pod policies. PODS cheap pods (a
# sleeper in its own network namespace, `unshare -n`), each registered by `shunt pod-init`
# with its own lists (3 outbound ports, 4 CIDRs, 5 inbound ports), through `shunt run`.
# Measures: registration time per pod, kernel memory of the policy maps, the time of one
# pod's update (a second pod-init in it) with 1 pod and with PODS pods, and the daemon's CPU
# and resident memory while it watches them. Writes bench/results/pods.md. Reports; never fails on a number.
set -u -f   # no globbing: the policies carry "*"
cd "$(dirname "$0")/.."
. scripts/testbed.sh
[ "$(id -u)" = 0 ] || { echo "bench-pods needs root" >&2; exit 1; }
PODS=${PODS:-1000}
UPDATES=${UPDATES:-20}
OUT=bench/results/pods.md
mkdir -p bench/results

tb_init bp
SOCK=$TB_TMP/shunt.sock
CG=$TB_CG/pods
mkdir -p "$CG"
printf 'mesh: {auto_detect: false}\n' > "$TB_TMP/node.yaml"
"$SHUNT" load --config "$TB_TMP/node.yaml" --pin-dir "$TB_PIN" --cgroup "$TB_CG" >/dev/null ||
	{ echo "load failed" >&2; exit 1; }
"$SHUNT" run --config "$TB_TMP/node.yaml" --pin-dir "$TB_PIN" --cgroup "$TB_CG" --socket "$SOCK" \
	> "$TB_TMP/run.log" 2>&1 &
TB_PIDS+=($!)
RUN_PID=$!
for i in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done

# policy maps' kernel memory (bpftool's memlock: the kernel's own accounting on 6.4+)
map_mem() {
	local m total=0 b
	for m in shunt_state_v2 shunt_cfg_v2 shunt_ports_v2 shunt_cidrs_v2 shunt_skeys_v2 \
		 shunt_netns_v1 shunt_local_v1 shunt_podip_v1; do
		b=$(bpftool map show pinned "$TB_PIN/maps/$m" | sed -n 's/.*memlock \([0-9]*\)B.*/\1/p')
		total=$((total + ${b:-0}))
	done
	echo "$total"
}
# args I [PORT]: pod I's own policy (different lists in every pod); PORT: an update's
args() {
	local i=$1
	echo "-i * -b 8080,8081,9000-9002 -o 5432,3306,${2:-$((2000 + i % 1000))}" \
	     "-x 10.$((i / 256 % 256)).$((i % 256)).0/24,10.200.$((i % 256)).0/24,192.168.$((i % 256)).0/24,172.16.$((i % 16)).0/24"
}
# pod I: a sleeper in its own netns, registered first; the sleeper keeps the netns alive
pod() {
	local i=$1
	# shellcheck disable=SC2046
	sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec unshare -n sh -c "set -f; ip link set lo up; \"\$0\" pod-init --socket \"\$1\" \$2 >/dev/null && exec sleep 100000" "$@"' \
		sh "$CG" "$SHUNT" "$SOCK" "$(args "$i")"
}
# one update of the pod whose sleeper is PID, timed from outside (fork+exec+connect+apply)
update_ms() {
	local pid=$1 i=$2 t0
	t0=$(date +%s%N)
	# shellcheck disable=SC2046
	sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec nsenter -t "$@"' sh "$CG" "$pid" -n \
		"$SHUNT" pod-init --socket "$SOCK" $(args "$i" $((7000 + i))) >/dev/null ||
		echo "update failed" >&2
	echo $(( ($(date +%s%N) - t0) / 1000 ))
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
sleeper_pids() { cat "$CG/cgroup.procs" 2>/dev/null | while read -r p; do
	[ "$(cat /proc/"$p"/comm 2>/dev/null)" = sleep ] && echo "$p"; done; }

mem0=$(map_mem)
# first pod alone: the update cost with one pod
pod 0 &
TB_PIDS+=($!)
for i in $(seq 50); do [ -n "$(sleeper_pids)" ] && break; sleep 0.1; done
first=$(sleeper_pids | head -1)
one=$(for u in $(seq "$UPDATES"); do update_ms "$first" "$u"; done | median)

t0=$(date +%s%N)
for i in $(seq 1 $((PODS - 1))); do
	pod "$i" &
	TB_PIDS+=($!)
	# a few at a time: an init container is one process, the daemon serves them in turn
	if (( i % 8 == 0 )); then
		for w in $(seq 200); do
			[ "$(sleeper_pids | wc -l)" -ge $((i - 8)) ] && break
			sleep 0.02
		done
	fi
done
for i in $(seq 600); do
	[ "$("$SHUNT" status --pin-dir "$TB_PIN" | sed -n 's/^own policy: \([0-9]*\) pods.*/\1/p')" -ge "$PODS" ] && break
	sleep 0.1
done
reg_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
have=$("$SHUNT" status --pin-dir "$TB_PIN" | sed -n 's/^own policy: \([0-9]*\) pods.*/\1/p')
mem1=$(map_mem)
many=$(for u in $(seq "$UPDATES"); do update_ms "$first" "$((u + 100))"; done | median)
mid=$(sleeper_pids | sed -n "$((PODS / 2))p")
many_mid=$(for u in $(seq "$UPDATES"); do update_ms "$mid" "$((u + 200))"; done | median)
cpu0=$(awk '{ print $14 + $15 }' "/proc/$RUN_PID/stat")
sleep 10
cpu1=$(awk '{ print $14 + $15 }' "/proc/$RUN_PID/stat")
tck=$(getconf CLK_TCK)
rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$RUN_PID/status")
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$RUN_PID/status")
cidrs=$("$SHUNT" status --json --pin-dir "$TB_PIN" | sed -n 's/.*"cidrs":\([0-9]*\).*/\1/p')
blocks=$(bpftool map dump pinned "$TB_PIN/maps/shunt_ports_v2" -j | grep -o '"key":\[' | grep -c .)

{
	echo "# $PODS pods, each with its own policy ($(date -u +%Y-%m-%d), $(uname -r), $(nproc) CPUs)"
	echo
	echo "Each pod: pod-init $(args 7)"
	echo
	echo "| measure | value |"
	echo "|---|---|"
	echo "| pods registered | $have of $PODS |"
	echo "| registration, all pods (8 pod-init at a time) | $reg_ms ms ($((reg_ms * 1000 / (PODS > 1 ? PODS - 1 : 1))) us a pod) |"
	echo "| one pod's update, median of $UPDATES, 1 pod on the node | $one us |"
	echo "| one pod's update, median of $UPDATES, $PODS pods (first pod) | $many us |"
	echo "| one pod's update, median of $UPDATES, $PODS pods (middle pod) | $many_mid us |"
	echo "| policy maps' kernel memory, before | $((mem0 / 1024)) KiB |"
	echo "| policy maps' kernel memory, $PODS pods | $((mem1 / 1024)) KiB ($(( (mem1 - mem0) / (PODS > 0 ? PODS : 1) )) B a pod) |"
	echo "| CIDR entries (both slots of every policy) | $cidrs |"
	echo "| port blocks (512 ports each) | $blocks |"
	echo "| shunt run resident memory, $PODS pods (peak) | $rss KiB ($hwm KiB) |"
	echo "| shunt run CPU while watching $PODS pods | $(( (cpu1 - cpu0) * 1000 / tck / 10 )) ms per second |"
	echo
	echo "An update is timed from outside: fork and exec of shunt pod-init, connect, the daemon's"
	echo "checks (peer, cgroup, capabilities), parse, compile, the slot write and the flip."
} > "$OUT"
cat "$OUT"
