#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# make bench-trace [CONNS=5000]: what `shunt trace` costs the programs, measured with the
# kernel's own per-program statistics (kernel.bpf_stats_enabled): CONNS connections through a
# meshed pod's proxy (fast path on) three times, with nobody tracing, with one trace (text, to
# /dev/null) and with two; average run time of each program that runs per connection.
# Writes bench/results/trace.md. Reports; never fails on a number.
set -u
cd "$(dirname "$0")/.."
. scripts/testbed.sh
[ "$(id -u)" = 0 ] || { echo "bench-trace needs root" >&2; exit 1; }
CONNS=${CONNS:-5000}
OUT=bench/results/trace.md
mkdir -p bench/results

stats0=$(cat /proc/sys/kernel/bpf_stats_enabled)
tb_init bt
trap 'echo "$stats0" > /proc/sys/kernel/bpf_stats_enabled; tb_cleanup' EXIT
tb_pod a 198.18.0.10
tb_pod w 198.18.0.100
tb_bg w "$TOOLS/streamcheck" churn-server 0.0.0.0:7000
tb_wait_listen w 7000 || exit 1
tb_sidecar a || exit 1
printf 'acceleration: true\n' > "$TB_TMP/node.yaml"
tb_shunt_run "$TB_TMP/node.yaml" || exit 1
echo 1 > /proc/sys/kernel/bpf_stats_enabled

# prog name -> "run_cnt run_time_ns", for the programs the pinned links run
prog_stats() {
	local f
	for f in "$TB_PIN"/links/shunt_*; do
		id=$(bpftool -j link show pinned "$f" | sed -n 's/.*"prog_id":\([0-9]*\).*/\1/p')
		bpftool -j prog show id "$id" | python3 -c '
import json, sys
p = json.load(sys.stdin)
print(p["name"], p.get("run_cnt", 0), p.get("run_time_ns", 0))'
	done
}
# one round: CONNS connections; prints "name ns_per_run runs" per program
round() {
	local before after
	before=$(prog_stats)
	tb_run a "$TOOLS/streamcheck" churn 198.18.0.100:7000 -n "$CONNS" > /dev/null
	after=$(prog_stats)
	join <(sort <<<"$before") <(sort <<<"$after") |
		awk '{ n = $4 - $2; t = $5 - $3; if (n > 0) printf "%s %.1f %d\n", $1, t / n, n }'
}
tracer() {
	"$SHUNT" trace --pin-dir "$TB_PIN" > /dev/null 2>&1 &
	TB_PIDS+=($!)
	sleep 0.5
}
off=$(round)
tracer
one=$(round)
tracer
two=$(round)
{
	echo "# What shunt trace costs ($(date -u +%Y-%m-%d), $(uname -r), $(nproc) CPUs)"
	echo
	echo "$CONNS connections (connect, 1 byte each way, close) from a meshed pod through its"
	echo "HAProxy sidecar to a server outside, fast path on. Average run time per program run"
	echo "(kernel.bpf_stats_enabled: run_time_ns / run_cnt), the tracers writing to /dev/null."
	echo
	echo "| program | runs | nobody tracing | one trace | two traces |"
	echo "|---|---|---|---|---|"
	join <(sort <<<"$off") <(sort <<<"$one") | join - <(sort <<<"$two") |
		awk '{ printf "| %s | %d | %s ns | %s ns | %s ns |\n", $1, $3, $2, $4, $6 }'
	echo
	echo "With nobody tracing, an event costs one array lookup of shunt_trace_v1[0] and a"
	echo "branch; the event itself is only built when a ring has a tracer."
} > "$OUT"
cat "$OUT"
