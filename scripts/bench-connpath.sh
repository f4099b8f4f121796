#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# make bench-connpath [ROUNDS=N]: what shunt costs per connection (issue 24's figures), the
# goals beside the measured values. Three pods on one bridge: `app` (meshed: an HAProxy sidecar
# as uid 1337), `out` (outside the mesh: no proxy) and `srv` (a churn server: accept, 1 byte
# each way, close). Rounds interleaved, bpf_stats off:
#   none      no shunt, no iptables        (the floor for `out`)
#   iptables  Istio's nat rules in `app`   (the baseline for `app`)
#   shunt     shunt loaded, acceleration off (the default)
# conns/s of `out` (none vs shunt: what a pod outside the mesh pays) and of `app` through its
# sidecar (iptables vs shunt: the client side of the mesh path). Then one pass with
# kernel.bpf_stats_enabled=1: each of shunt's programs' runs and run time over N connections of
# `out`, then of `app` (run_cnt and run_time_ns deltas from `shunt status --json`): ns per run,
# runs per connection, BPF ns per connection. Beside them, in the same pass, the floor and
# the probes of tests/tools/floor.bpf.c: what a hook costs a program that does nothing, and one
# piece of shunt's work alone (the socket cookie, a lookup by map size, an insert).
# SHUNT_LOAD_ARGS adds options to `shunt load` (say --max-connections 1024).
# Writes bench/results/connpath.md and .csv. It never fails on a number: it reports.
set -u
cd "$(dirname "$0")/.."
. scripts/testbed.sh
[ "$(id -u)" = 0 ] || { echo "bench-connpath needs root" >&2; exit 1; }
command -v iptables-restore > /dev/null || { echo "missing iptables-restore" >&2; exit 1; }
ROUNDS=${ROUNDS:-5}
N=${N:-5000}
OUTDIR=bench/results
mkdir -p "$OUTDIR"
CSV=$OUTDIR/connpath.csv
MD=$OUTDIR/connpath.md
echo "round,mode,metric,value" > "$CSV"
rec() { echo "$1,$2,$3,$4" >> "$CSV"; }

tb_init cp
tb_pod app 198.18.0.10
tb_pod out 198.18.0.30
tb_pod srv 198.18.0.20
tb_bg srv "$TOOLS/streamcheck" churn-server 0.0.0.0:9300
tb_wait_listen srv 9300 || exit 1
tb_sidecar app || exit 1
RULES=$(sed -n '/^ISTIO_RULES=/,/^COMMIT/p' scripts/bench.sh | sed "1s/^ISTIO_RULES=.//; s/^COMMIT'$/COMMIT/")
iptables_on() { ip netns exec "$(tb_ns app)" iptables-restore <<<"$RULES"; }
iptables_off() { ip netns exec "$(tb_ns app)" iptables -t nat -F; ip netns exec "$(tb_ns app)" iptables -t nat -X; }
echo "acceleration: false" > "$TB_TMP/shunt.yaml"
shunt_on() { "$SHUNT" load ${SHUNT_LOAD_ARGS:-} --config "$TB_TMP/shunt.yaml" --pin-dir "$TB_PIN" --cgroup "$TB_CG" > /dev/null; }
shunt_off() { "$SHUNT" unload --pin-dir "$TB_PIN" > /dev/null; }
churn() { # churn POD: connections a second over N sequential connections to the server
	tb_run "$1" "$TOOLS/streamcheck" churn 198.18.0.20:9300 -n "$N" |
		awk -v n="$N" '{ for (i = 1; i <= NF; i++) if ($i ~ /^ms=/) { sub(/ms=/, "", $i); printf "%.0f", n * 1000 / $i } }'
}

sysctl -qw kernel.bpf_stats_enabled=0
echo "bench-connpath: $ROUNDS rounds x 3 modes, $N connections a figure; kernel $(uname -r), $(nproc) CPUs"
for r in $(seq "$ROUNDS"); do
	for m in none iptables shunt; do
		case $m in iptables) iptables_on ;; shunt) shunt_on ;; esac
		rec "$r" "$m" out_conns_per_s "$(churn out)"
		[ "$m" != none ] && rec "$r" "$m" app_conns_per_s "$(churn app)"
		case $m in iptables) iptables_off ;; shunt) shunt_off ;; esac
		printf '  round %s: %s\n' "$r" "$m"
	done
done

# --- where the nanoseconds go: the kernel's own accounting, per program ------------------------
# Beside shunt's programs, the floor (tests/tools/floor.bpf.c): a program per hook that returns
# at once, attached to the same cgroup, read the same way. What a hook costs a program that does
# nothing (the call and bpf_stats' own clock reads) is what no change to shunt can take away.
FLOOR=/sys/fs/bpf/shunt-floor-$$
FLOOR_HOOKS="connect4:cgroup_inet4_connect sockops:cgroup_sock_ops getsockopt:cgroup_getsockopt
sock_release:cgroup_inet_sock_release getpeername4:cgroup_inet4_getpeername"
# the probes (floor.bpf.c): one piece of work each, on connect4, outside every total
PROBES="probe_cookie probe_hash1k probe_hash16k probe_hash256k probe_insert probe_insertpre"
floor_off() {
	local h
	for h in $FLOOR_HOOKS; do
		bpftool cgroup detach "$TB_CG" "${h#*:}" pinned "$FLOOR/floor_${h%%:*}" 2> /dev/null
	done
	for h in $PROBES; do
		bpftool cgroup detach "$TB_CG" cgroup_inet4_connect pinned "$FLOOR/$h" 2> /dev/null
	done
	rm -rf "$FLOOR"
}
trap 'floor_off; tb_cleanup' EXIT
floor_on() {
	local h
	bpftool prog loadall "$TOOLS/floor.bpf.o" "$FLOOR" || return 1
	for h in $FLOOR_HOOKS; do
		bpftool cgroup attach "$TB_CG" "${h#*:}" pinned "$FLOOR/floor_${h%%:*}" multi || return 1
	done
	for h in $PROBES; do
		bpftool cgroup attach "$TB_CG" cgroup_inet4_connect pinned "$FLOOR/$h" multi || return 1
	done
}
stats() {
	"$SHUNT" status --json --pin-dir "$TB_PIN" | /usr/bin/python3 -c '
import json, sys
for p in json.load(sys.stdin)["programs"]:
    print(p["name"], p["run_cnt"], p["run_time_ns"])'
	for f in "$FLOOR"/floor_* "$FLOOR"/probe_*; do
		bpftool -j prog show pinned "$f" | /usr/bin/python3 -c '
import json, sys
p = json.load(sys.stdin)
print(p["name"], p.get("run_cnt", 0), p.get("run_time_ns", 0))'
	done
}
shunt_on
floor_on || echo "bench-connpath: the floor programs did not attach; figures without them" >&2
sysctl -qw kernel.bpf_stats_enabled=1
for pod in out app; do
	before=$(stats)
	churn "$pod" > /dev/null
	after=$(stats)
	/usr/bin/python3 - "$pod" "$N" <<PY >> "$CSV"
import sys
pod, n = sys.argv[1], int(sys.argv[2])
def parse(t):
    d = {}
    for line in t.strip().splitlines():
        name, cnt, ns = line.split()
        d.setdefault(name, [0, 0])
        d[name][0] += int(cnt); d[name][1] += int(ns)
    return d
b, a = parse("""$before"""), parse("""$after""")
total = floor = 0
for name in sorted(a):
    runs = a[name][0] - b.get(name, [0, 0])[0]
    ns = a[name][1] - b.get(name, [0, 0])[1]
    if runs <= 0:
        continue
    if name.startswith("floor_"):
        floor += ns
    elif not name.startswith("probe_"):
        total += ns
    print(f"0,{pod},runs_per_conn_{name},{runs / n:.2f}")
    print(f"0,{pod},ns_per_run_{name},{ns / runs:.0f}")
print(f"0,{pod},bpf_ns_per_conn,{total / n:.0f}")
print(f"0,{pod},floor_ns_per_conn,{floor / n:.0f}")
PY
done
sysctl -qw kernel.bpf_stats_enabled=0
floor_off
shunt_off

# --- report ---------------------------------------------------------------------------------------
/usr/bin/python3 - "$CSV" "$MD" "$ROUNDS" "$N" "$(uname -r)" <<'PY'
import csv, statistics, sys
path, md, rounds, n, kernel = sys.argv[1:]
rows = list(csv.DictReader(open(path)))
def med(mode, metric):
    v = [float(r["value"]) for r in rows if r["mode"] == mode and r["metric"] == metric and r["value"]]
    return statistics.median(v) if v else None
def one(pod, metric):
    for r in rows:
        if r["mode"] == pod and r["metric"] == metric:
            return float(r["value"])
    return None
out = []
out.append(f"# The connection path ({rounds} rounds interleaved, {n} connections a figure, kernel {kernel})\n")
figs = []
def fig(name, value, goal, ok, unit=""):
    figs.append((name, "n/a" if value is None else f"{value:,.2f}{unit}" if isinstance(value, float) and value < 10 else f"{value:,.0f}{unit}",
                 goal, "n/a" if value is None else "" if goal == "-" else ("met" if ok(value) else "missed")))
def prog(pod, name):
    return one(pod, f"ns_per_run_{name}")
c4 = prog("app", "shunt_connect4")
so = prog("app", "shunt_sockops")
gs = prog("app", "shunt_getsockopt")
fig("connect4, meshed (ns a run)", c4, "<= 300", lambda v: v <= 300)
fig("sockops, meshed pod (ns a run)", so, "<= 150", lambda v: v <= 150)
fig("getsockopt, the proxy's SO_ORIGINAL_DST (ns a run)", gs, "<= 250", lambda v: v <= 250)
so_out = prog("out", "shunt_sockops")
fig("sockops, pod outside the mesh (ns a run)", so_out, "<= 50", lambda v: v <= 50)
fig("BPF per connection of a pod outside the mesh (ns)", one("out", "bpf_ns_per_conn"), "<= 400", lambda v: v <= 400)
fig("... the floor: the same hooks, programs that return at once (ns)", one("out", "floor_ns_per_conn"), "-", lambda v: True)
fig("BPF per connection of a meshed pod, both legs (ns)", one("app", "bpf_ns_per_conn"), "-", lambda v: True)
on, oo = med("none", "out_conns_per_s"), med("shunt", "out_conns_per_s")
fig("conns/s outside the mesh, shunt / none", oo / on if on and oo else None, ">= 0.98", lambda v: v >= 0.98, "x")
ai, a_s = med("iptables", "app_conns_per_s"), med("shunt", "app_conns_per_s")
fig("conns/s through the sidecar (client side), shunt / iptables", a_s / ai if ai and a_s else None, ">= 1.15", lambda v: v >= 1.15, "x")
# What the BPF time can explain of the conns/s ratios: a sequential churn's connection takes
# 1e9 / (conns/s) ns, of which bpf_ns_per_conn are shunt's programs.
bo, ba = one("out", "bpf_ns_per_conn"), one("app", "bpf_ns_per_conn")
if on and bo:
    fig("... outside: what shunt's BPF time alone predicts, 1 / (1 + bpf / connection)",
        1 / (1 + bo * on / 1e9), "-", lambda v: True, "x")
if ai and a_s and ba:
    fig("... through the sidecar: the ceiling were shunt's BPF free, shunt / iptables",
        1e9 / (1e9 / a_s - ba) / ai, "-", lambda v: True, "x")
out.append("| figure | measured | goal | |")
out.append("|---|---|---|---|")
for f in figs:
    out.append("| " + " | ".join(f) + " |")
out.append("")
out.append("conns/s medians: " + ", ".join(f"{p} {m}: {med(m, p + '_conns_per_s'):,.0f}"
           for p, m in [("out", "none"), ("out", "shunt"), ("app", "iptables"), ("app", "shunt")]
           if med(m, p + "_conns_per_s")))
out.append("")
out.append("Per program (bpf_stats, one pass): runs per connection and ns a run")
out.append("")
out.append("(floor: the same hook's do-nothing program in the same pass, ns a run)")
out.append("")
out.append("| program | outside: runs/conn | outside: ns/run | floor | meshed: runs/conn | meshed: ns/run | floor |")
out.append("|---|---|---|---|---|---|---|")
names = sorted({r["metric"][len("ns_per_run_"):] for r in rows
                if r["metric"].startswith("ns_per_run_shunt_")})
def f(v): return "-" if v is None else f"{v:g}"
for nm in names:
    fl = "floor_" + nm[len("shunt_"):]
    out.append(f"| {nm} | {f(one('out', 'runs_per_conn_' + nm))} | {f(one('out', 'ns_per_run_' + nm))} | "
               f"{f(one('out', 'ns_per_run_' + fl))} | "
               f"{f(one('app', 'runs_per_conn_' + nm))} | {f(one('app', 'ns_per_run_' + nm))} | "
               f"{f(one('app', 'ns_per_run_' + fl))} |")
out.append("")
out.append("Probes (floor.bpf.c, on connect4 beside the floor): one piece of work alone, ns a run")
out.append("")
out.append("| probe | outside | meshed |")
out.append("|---|---|---|")
for nm, what in [("floor_connect4", "nothing (the floor)"), ("probe_cookie", "bpf_get_socket_cookie"),
                 ("probe_hash1k", "+ a lookup in an empty 1,024-slot hash (bucket array kmalloc'd)"),
                 ("probe_hash16k", "+ the same, 16,384 slots (vmalloc'd 256 KiB)"),
                 ("probe_hash256k", "+ the same, 262,144 slots (vmalloc'd 4 MiB: shunt's per-connection maps)"),
                 ("probe_insert", "cookie + insert and delete, 262,144 slots, allocated as added (shunt's maps)"),
                 ("probe_insertpre", "the same, preallocated (27 MiB at load)")]:
    out.append(f"| {what} | {f(one('out', 'ns_per_run_' + nm))} | {f(one('app', 'ns_per_run_' + nm))} |")
open(md, "w").write("\n".join(out) + "\n")
PY
cat "$MD"
