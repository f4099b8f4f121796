#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# make bench [QUICK=1]: the same-node mesh path, client pod (load generator + HAProxy sidecar)
# -> server pod (HAProxy sidecar + servers), in seven modes, rounds interleaved A B C D E A B ...:
#   direct    no proxies at all (the floor)
#   proxies   the two proxies addressed explicitly, nothing intercepted (the proxies' own cost)
#   iptables  Istio's exact nat rules (shared/ISTIO-IPTABLES.md) in both pods
#   shunt     shunt, acceleration off
#   shunt+acc shunt, acceleration on
#   shunt+proxy shunt, acceleration: proxy (only the sidecar-to-sidecar leg)
#   xnode     the server pod as if on another node: its inbound stays on iptables and shunt
#             meshes only the client pod (acceleration on), so only app<->sidecar is local
# Reports medians (min..max) and ratios to iptables and to direct in bench/results/latest.md,
# a chart in bench/results/latest.png, raw samples in bench/results/latest.csv.
# It never fails on a number: it reports.
set -u
cd "$(dirname "$0")/.."
. scripts/testbed.sh
[ "$(id -u)" = 0 ] || { echo "bench needs root" >&2; exit 1; }
for t in sockperf iperf3 wrk nginx iptables-restore; do
	command -v "$t" >/dev/null || { echo "missing $t: scripts/install-deps.sh --bench" >&2; exit 1; }
done

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then ROUNDS=${ROUNDS:-1}; DUR=2; else ROUNDS=${ROUNDS:-5}; DUR=3; fi
MODES=(direct proxies iptables shunt shunt+acc shunt+proxy xnode)
# The queue-limit trade-off: shunt+acc again with these acceleration_queue_limit values (bytes),
# RTT and throughput only. LIMITS="" skips it.
if [ "$QUICK" = 1 ]; then LIMITS=${LIMITS-}; else LIMITS=${LIMITS-16777216 67108864}; fi
for l in $LIMITS; do
	[[ $l =~ ^[0-9]+$ ]] || { echo "LIMITS: $l is not a byte count" >&2; exit 1; }
	MODES+=("acc@$l")
done
OUTDIR=bench/results
mkdir -p "$OUTDIR"
CSV=$OUTDIR/latest.csv
echo "round,mode,metric,value" > "$CSV"

tb_init bench
SRV=198.18.0.20
tb_pod cli 198.18.0.10
tb_pod srv $SRV

# --- servers in the server pod ----------------------------------------------------------------
tb_bg srv sockperf server --tcp -i 0.0.0.0 -p 11111 >/dev/null 2>&1
tb_bg srv iperf3 -s -p 5201 >/dev/null 2>&1
cat > "$TB_TMP/nginx.conf" <<NGX
worker_processes 1;
daemon off;
pid $TB_TMP/nginx.pid;
error_log $TB_TMP/nginx-error.log;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000;
    server { listen 8080; location / { return 200 "hello from the server pod\n"; } }
}
NGX
tb_bg srv nginx -c "$TB_TMP/nginx.conf"
tb_bg srv "$TOOLS/streamcheck" churn-server 0.0.0.0:9300
for p in 11111 5201 8080 9300; do tb_wait_listen srv $p || exit 1; done

# --- the sidecars: Istio's shape plus explicit forwards for the "proxies" mode -------------------
tb_sidecar cli
tb_sidecar srv
explicit() { # explicit POD: frontends that forward without interception
	local pod=$1 cfg="$TB_TMP/haproxy-$1-explicit.cfg" fwd
	{
		printf 'global\n    maxconn 4000\ndefaults\n    mode tcp\n    timeout connect 2s\n'
		printf '    timeout client 60s\n    timeout server 60s\n'
		for p in 11111 5201 8080 9300; do
			if [ "$pod" = cli ]; then fwd="$SRV:$((p + 20000))"; else fwd="127.0.0.1:$p"; fi
			lp=$((p + 10000)); [ "$pod" = srv ] && lp=$((p + 20000))
			printf 'frontend f%s\n    bind 0.0.0.0:%s\n    default_backend b%s\n' "$p" "$lp" "$p"
			printf 'backend b%s\n    server s %s\n' "$p" "$fwd"
		done
	} > "$cfg"
	tb_bg_as 1337 1337 "$pod" haproxy -db -f "$cfg" > "$TB_TMP/haproxy-$pod-explicit.log" 2>&1
}
explicit cli
explicit srv
tb_wait_listen cli 21111 && tb_wait_listen srv 31111 || { cat "$TB_TMP"/haproxy-*-explicit.*; exit 1; }

ISTIO_RULES='*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-N ISTIO_INBOUND
-N ISTIO_REDIRECT
-N ISTIO_IN_REDIRECT
-N ISTIO_OUTPUT
-A ISTIO_INBOUND -p tcp --dport 15008 -j RETURN
-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001
-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006
-A PREROUTING -p tcp -j ISTIO_INBOUND
-A ISTIO_INBOUND -p tcp --dport 15090 -j RETURN
-A ISTIO_INBOUND -p tcp --dport 15021 -j RETURN
-A ISTIO_INBOUND -p tcp --dport 15020 -j RETURN
-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT
-A OUTPUT -j ISTIO_OUTPUT
-A ISTIO_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN
-A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m owner --uid-owner 1337 -j ISTIO_IN_REDIRECT
-A ISTIO_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m owner --gid-owner 1337 -j ISTIO_IN_REDIRECT
-A ISTIO_OUTPUT -o lo -m owner ! --gid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN
-A ISTIO_OUTPUT -j ISTIO_REDIRECT
COMMIT'
iptables_on() { for p in cli srv; do ip netns exec "$(tb_ns $p)" iptables-restore <<<"$ISTIO_RULES"; done; }
iptables_off() { for p in cli srv; do ip netns exec "$(tb_ns $p)" iptables -t nat -F; ip netns exec "$(tb_ns $p)" iptables -t nat -X; done; }

CFG_ON=$TB_TMP/on.yaml
CFG_OFF=$TB_TMP/off.yaml
CFG_X=$TB_TMP/xnode.yaml
echo "acceleration: true" > "$CFG_ON"
echo "acceleration: false" > "$CFG_OFF"
echo "acceleration: proxy" > "$TB_TMP/proxy.yaml"
printf 'acceleration: true\nmesh: {auto_detect: false}\nworkloads: [{name: cli, netns: /run/netns/%s}]\n' \
	"$(tb_ns cli)" > "$CFG_X"
shunt_on() { "$SHUNT" load --config "$1" --pin-dir "$TB_PIN" --cgroup "$TB_CG" >/dev/null; }
shunt_off() { "$SHUNT" unload --pin-dir "$TB_PIN" >/dev/null; }

# Where the client connects in each mode (the "service" address the app uses).
target() { # target MODE PORT
	if [ "$1" = proxies ]; then echo "127.0.0.1 $(($2 + 10000))"; else echo "$SRV $2"; fi
}

rec() { echo "$1,$2,$3,$4" >> "$CSV"; }

measure() { # measure ROUND MODE
	local r=$1 m=$2 host port out
	read -r host port <<<"$(target "$m" 11111)"
	for size in 64 16384; do
		out=$(tb_run cli sockperf ping-pong --tcp -i "$host" -p "$port" -t "$DUR" -m "$size" --full-rtt 2>&1)
		rec "$r" "$m" "rtt_p50_us_${size}B" "$(sed -n 's/.*percentile 50.000 = *\([0-9.]*\).*/\1/p' <<<"$out")"
		rec "$r" "$m" "rtt_p99_us_${size}B" "$(sed -n 's/.*percentile 99.000 = *\([0-9.]*\).*/\1/p' <<<"$out")"
	done
	read -r host port <<<"$(target "$m" 5201)"
	for streams in 1 4; do
		out=$(tb_run cli iperf3 -c "$host" -p "$port" -t "$DUR" -P "$streams" -J 2>/dev/null)
		rec "$r" "$m" "tput_gbps_${streams}s" "$(awk -F: '/"sum_received"/ { on = 1 } on && /"bits_per_second"/ { gsub(/[ ,]/, "", $2); printf "%.2f", $2 / 1e9; exit }' <<<"$out")"
	done
	[[ $m == acc@* ]] && return 0 # the limit sweep: RTT and throughput only
	read -r host port <<<"$(target "$m" 8080)"
	for c in 1 16 128; do
		out=$(tb_run cli wrk -t $((c < 2 ? 1 : 2)) -c "$c" -d "${DUR}s" --latency "http://$host:$port/" 2>&1)
		rec "$r" "$m" "http_rps_${c}c" "$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")"
		rec "$r" "$m" "http_p50_ms_${c}c" "$(awk '$1 == "50%" { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) sub(/ms/, "", v); else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 }; print v }' <<<"$out")"
		rec "$r" "$m" "http_p99_ms_${c}c" "$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) sub(/ms/, "", v); else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 }; print v }' <<<"$out")"
	done
	read -r host port <<<"$(target "$m" 9300)"
	local n=$((QUICK == 1 ? 2000 : 5000))
	out=$(tb_run cli "$TOOLS/streamcheck" churn "$host:$port" -n "$n")
	rec "$r" "$m" "conns_per_s" "$(awk -v n="$n" '{ for (i = 1; i <= NF; i++) if ($i ~ /^ms=/) { sub(/ms=/, "", $i); printf "%.0f", n * 1000 / $i } }' <<<"$out")"
}

echo "bench: $ROUNDS round(s) x ${#MODES[@]} modes, ${DUR}s per figure; kernel $(uname -r), $(nproc) CPUs"
for r in $(seq "$ROUNDS"); do
	# BPF run-time accounting costs every program run a little: only in the last round.
	[ "$r" = "$ROUNDS" ] && sysctl -qw kernel.bpf_stats_enabled=1
	for m in "${MODES[@]}"; do
		printf '  round %s: %-10s' "$r" "$m"
		case $m in
		iptables) iptables_on ;;
		shunt) shunt_on "$CFG_OFF" ;;
		shunt+acc) shunt_on "$CFG_ON" ;;
		shunt+proxy) shunt_on "$TB_TMP/proxy.yaml" ;;
		acc@*) printf 'acceleration: true\nacceleration_queue_limit: %s\n' "${m#acc@}" > "$TB_TMP/limit.yaml"
			shunt_on "$TB_TMP/limit.yaml" ;;
		xnode) shunt_on "$CFG_X"; ip netns exec "$(tb_ns srv)" iptables-restore <<<"$ISTIO_RULES" ;;
		esac
		t0=$(date +%s)
		measure "$r" "$m"
		if [ "$m" = shunt+acc ] && [ "$r" = "$ROUNDS" ]; then
			# per-program cost, from the kernel's own accounting
			"$SHUNT" status --json --pin-dir "$TB_PIN" | tr '{' '\n' | awk -F'"' -v r="$r" '/"name":"shunt_/ {
				name = $4; split($0, a, /"run_cnt":/); split(a[2], b, /,/); cnt = b[1];
				split($0, c, /"run_time_ns":/); split(c[2], d, /[},]/); ns = d[1];
				if (cnt > 0) printf "%s,shunt+acc,bpf_ns_%s,%.0f\n", r, name, ns / cnt }' >> "$CSV"
		fi
		case $m in
		iptables) iptables_off ;;
		shunt|shunt+acc|shunt+proxy|acc@*) shunt_off ;;
		xnode) shunt_off; iptables_off ;;
		esac
		echo " $(( $(date +%s) - t0 ))s"
	done
done
sysctl -qw kernel.bpf_stats_enabled=0

# --- control plane -------------------------------------------------------------------------------
gen_cidrs() { # gen_cidrs N FILE: N distinct /32 exclude CIDRs in 10.0.0.0/8, as YAML
	awk -v n="$1" 'BEGIN { printf "outbound:\n  exclude_cidrs:\n"; for (i = 0; i < n; i++) printf "    - 10.%d.%d.%d/32\n", int(i / 65536) % 256, int(i / 256) % 256, i % 256 }' > "$2"
}
timed_ms() { local t0; t0=$(date +%s%N); "$@" >/dev/null; echo $(( ($(date +%s%N) - t0) / 1000000 )); }
for n in 1000 10000 100000; do
	gen_cidrs $n "$TB_TMP/c$n.yaml"
	rec 0 control "load_ms_${n}_cidrs" "$(timed_ms "$SHUNT" load --config "$TB_TMP/c$n.yaml" --pin-dir "$TB_PIN" --cgroup "$TB_CG")"
	if [ $n = 100000 ]; then
		# a one-line change, applied back and forth: the first apply into each slot writes
		# it whole, later ones only the difference (the slot's key record)
		sed 's/10.0.0.0\/32/10.0.0.0\/31/' "$TB_TMP/c$n.yaml" > "$TB_TMP/c$n-b.yaml"
		rec 0 control "apply_ms_first_100k" "$(timed_ms "$SHUNT" apply --config "$TB_TMP/c$n-b.yaml" --pin-dir "$TB_PIN")"
		"$SHUNT" apply --config "$TB_TMP/c$n.yaml" --pin-dir "$TB_PIN" >/dev/null
		rec 0 control "apply_ms_one_line_100k_yaml" "$(timed_ms "$SHUNT" apply --config "$TB_TMP/c$n-b.yaml" --pin-dir "$TB_PIN")"
		# the same routes from a plain list file (outbound.exclude_cidrs_from)
		sed -n 's/^    - //p' "$TB_TMP/c$n.yaml" > "$TB_TMP/c$n.txt"
		sed -n 's/^    - //p' "$TB_TMP/c$n-b.yaml" > "$TB_TMP/c$n-b.txt"
		printf 'outbound:\n  exclude_cidrs_from: c%s.txt\n' $n > "$TB_TMP/f$n.yaml"
		printf 'outbound:\n  exclude_cidrs_from: c%s-b.txt\n' $n > "$TB_TMP/f$n-b.yaml"
		"$SHUNT" apply --config "$TB_TMP/f$n.yaml" --pin-dir "$TB_PIN" >/dev/null
		rec 0 control "apply_ms_one_line_100k_file" "$(timed_ms "$SHUNT" apply --config "$TB_TMP/f$n-b.yaml" --pin-dir "$TB_PIN")"
		mem=$(bpftool map show pinned "$TB_PIN/maps/shunt_cidrs_v2" | sed -n 's/.*memlock \([0-9]*\)B.*/\1/p')
		rec 0 control "cidr_map_memlock_mib_200k" "$(awk -v b="${mem:-0}" 'BEGIN { printf "%.1f", b / 1048576 }')"
		rss=$( { /usr/bin/time -f '%M' "$SHUNT" apply --config "$TB_TMP/c$n.yaml" --pin-dir "$TB_PIN" >/dev/null; } 2>&1 | tail -1)
		rec 0 control "apply_peak_rss_mib_100k" "$(awk -v k="${rss:-0}" 'BEGIN { printf "%.1f", k / 1024 }')"
	fi
	"$SHUNT" unload --pin-dir "$TB_PIN" >/dev/null
done
# shunt run with 100k routes: its peak RSS once it has loaded and is watching
"$SHUNT" run --config "$TB_TMP/c100000.yaml" --pin-dir "$TB_PIN" --cgroup "$TB_CG" --socket "$TB_TMP/shunt.sock" > "$TB_TMP/run.log" 2>&1 &
runpid=$!
for i in $(seq 100); do grep -q 'running:' "$TB_TMP/run.log" && break; sleep 0.1; done
sleep 1
rec 0 control "run_peak_rss_mib_100k" "$(awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$runpid/status")"
rec 0 control "run_rss_mib_100k" "$(awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$runpid/status")"
kill -TERM "$runpid"; wait "$runpid" 2>/dev/null
"$SHUNT" unload --pin-dir "$TB_PIN" >/dev/null

# --- report ---------------------------------------------------------------------------------------
scripts/bench-report.sh "$CSV" "$OUTDIR/latest.md" "$OUTDIR/latest.png" "$ROUNDS" "$DUR"
cat "$OUTDIR/latest.md"
