#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# bench-report.sh CSV MD PNG ROUNDS DUR: medians, min..max and ratios of a bench run as a
# markdown table, and a chart of shunt's ratios to iptables.
set -u
csv=$1 md=$2 png=$3 rounds=$4 dur=$5
modes="direct proxies iptables shunt shunt+acc shunt+proxy xnode"

# median / min / max per (mode, metric)
stats=$(awk -F, 'NR > 1 && $4 != "" { k = $2 SUBSEP $3; v[k] = v[k] " " $4 }
END {
	for (k in v) {
		n = split(substr(v[k], 2), a, " ");
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		med = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2;
		split(k, p, SUBSEP);
		printf "%s %s %s %s %s\n", p[1], p[2], med, a[1], a[n]
	}
}' "$csv")
get() { awk -v m="$1" -v k="$2" -v f="${3:-3}" '$1 == m && $2 == k { print $f }' <<<"$stats"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }

{
	echo "# shunt benchmark: same-node mesh path"
	echo
	echo "$(date -u +%Y-%m-%d), kernel $(uname -r), $(nproc) CPUs ($(awk -F: '/model name/ { sub(/^ /, "", $2); print $2; exit }' /proc/cpuinfo)),"
	echo "$rounds round(s) interleaved, ${dur}s per figure; median (min..max). Path: client pod -> its"
	echo "HAProxy sidecar -> server pod's HAProxy sidecar -> server, both pods on this node."
	echo "\`make bench\` (\`QUICK=1\` for one short round); raw samples in latest.csv."
	echo
	echo "Modes: direct = no proxies; proxies = both sidecars addressed explicitly, nothing"
	echo "intercepted; iptables = Istio's rules in both pods; shunt = the default configuration"
	echo "(acceleration off); shunt+acc = acceleration: true; shunt+proxy = acceleration: proxy (the"
	echo "sidecar-to-sidecar leg only); xnode = the server pod treated as remote (its inbound on iptables, shunt"
	echo "meshes the client pod only, so only the client's app<->sidecar leg is accelerated)."
	echo
	echo "| figure | direct | proxies | iptables | shunt | shunt+acc | shunt+proxy | xnode | shunt / iptables | shunt+acc / iptables | shunt+proxy / iptables | shunt+acc / direct | xnode / iptables |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	for k in rtt_p50_us_64B rtt_p99_us_64B rtt_p50_us_16384B rtt_p99_us_16384B tput_gbps_1s tput_gbps_4s \
		http_rps_1c http_rps_16c http_rps_128c http_p50_ms_16c http_p99_ms_16c http_p99_ms_128c conns_per_s; do
		row="| $k |"
		for m in $modes; do
			med=$(get "$m" "$k"); lo=$(get "$m" "$k" 4); hi=$(get "$m" "$k" 5)
			if [ -z "$med" ]; then row="$row - |"; elif [ "$rounds" -gt 1 ]; then row="$row $med ($lo..$hi) |"; else row="$row $med |"; fi
		done
		row="$row $(ratio "$(get shunt "$k")" "$(get iptables "$k")") | $(ratio "$(get shunt+acc "$k")" "$(get iptables "$k")") | $(ratio "$(get shunt+proxy "$k")" "$(get iptables "$k")") | $(ratio "$(get shunt+acc "$k")" "$(get direct "$k")") | $(ratio "$(get xnode "$k")" "$(get iptables "$k")") |"
		echo "$row"
	done
	echo
	echo "What each mode keeps of shunt+acc's gain over iptables, same run (gain = how much better"
	echo "than iptables: 1 - ratio for RTT, ratio - 1 for the rest; kept = the mode's gain / shunt+acc's):"
	echo
	echo "| figure | shunt+acc gain | shunt kept | shunt+proxy kept |"
	echo "|---|---|---|---|"
	for k in rtt_p50_us_64B tput_gbps_1s http_rps_16c http_rps_128c; do
		lower=0; [[ $k == rtt_* ]] && lower=1
		gain() { awk -v a="$1" -v b="$2" -v l="$lower" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print ""; else printf "%.4f", l ? 1 - a / b : a / b - 1 }'; }
		ga=$(gain "$(get shunt+acc "$k")" "$(get iptables "$k")")
		kept() { awk -v g="$1" -v a="$ga" 'BEGIN { if (g == "" || a == "" || a + 0 <= 0) print "-"; else printf "%.0f%%", 100 * g / a }'; }
		echo "| $k | $(awk -v g="$ga" 'BEGIN { if (g == "") print "-"; else printf "%+.0f%%", 100 * g }') | $(kept "$(gain "$(get shunt "$k")" "$(get iptables "$k")")") | $(kept "$(gain "$(get shunt+proxy "$k")" "$(get iptables "$k")")") |"
	done
	echo
	echo "Commands (run in the client pod; ADDR:PORT is the server pod's address, or the client"
	echo "sidecar's explicit listener in mode proxies):"
	echo
	echo '```'
	echo "sockperf ping-pong --tcp -i ADDR -p PORT -t $dur -m 64|16384 --full-rtt   # server: sockperf server --tcp"
	echo "iperf3 -c ADDR -p PORT -t $dur -P 1|4 -J                                   # server: iperf3 -s"
	echo "wrk -t 1|2 -c 1|16|128 -d ${dur}s --latency http://ADDR:PORT/            # server: nginx, 1 worker"
	echo "streamcheck churn ADDR:PORT -n N   # connect, 1 byte each way, close (RST), N times"
	echo '```'
	echo
	echo "Goals (shunt+acc against iptables and direct, same run):"
	echo
	goal() { # goal TEXT VALUE OP LIMIT
		local ok
		ok=$(awk -v v="$2" -v l="$4" -v op="$3" 'BEGIN { if (v == "-") print "n/a"; else if ((op == "<=" && v + 0 <= l) || (op == ">=" && v + 0 >= l)) print "met"; else print "MISSED" }')
		echo "- $1: $2 (goal $3 $4) — $ok"
	}
	goal "p50 RTT 64 B / iptables" "$(ratio "$(get shunt+acc rtt_p50_us_64B)" "$(get iptables rtt_p50_us_64B)")" "<=" 0.5
	goal "p50 RTT 64 B / direct" "$(ratio "$(get shunt+acc rtt_p50_us_64B)" "$(get direct rtt_p50_us_64B)")" "<=" 1.5
	goal "throughput 1 stream / iptables" "$(ratio "$(get shunt+acc tput_gbps_1s)" "$(get iptables tput_gbps_1s)")" ">=" 1.6
	goal "HTTP RPS at 16 connections / iptables" "$(ratio "$(get shunt+acc http_rps_16c)" "$(get iptables http_rps_16c)")" ">=" 1.3
	goal "new connections/s / iptables" "$(ratio "$(get shunt+acc conns_per_s)" "$(get iptables conns_per_s)")" ">=" 1.3
	echo
	limits=$(awk '$1 ~ /^acc@/ { sub(/^acc@/, "", $1); print $1 }' <<<"$stats" | sort -nu)
	if [ -n "$limits" ]; then
		echo "The queue limit (\`acceleration_queue_limit\`), same run: what a bigger bound buys a bulk"
		echo "stream, and what it costs: the bytes a stalled reader's writer can queue in the kernel."
		echo
		echo "| limit | rtt_p50_us_64B | tput_gbps_1s | tput_gbps_4s | 1 stream / iptables | 4 streams / iptables |"
		echo "|---|---|---|---|---|---|"
		for l in default $limits; do
			if [ "$l" = default ]; then m=shunt+acc; name="4 MiB (default)"; else m="acc@$l"; name="$((l / 1048576)) MiB"; fi
			echo "| $name | $(get "$m" rtt_p50_us_64B) | $(get "$m" tput_gbps_1s) | $(get "$m" tput_gbps_4s) |" \
				"$(ratio "$(get "$m" tput_gbps_1s)" "$(get iptables tput_gbps_1s)") | $(ratio "$(get "$m" tput_gbps_4s)" "$(get iptables tput_gbps_4s)") |"
		done
		echo
	fi
	echo "BPF cost per run (kernel.bpf_stats_enabled=1, run_time_ns / run_cnt, during shunt+acc; goal <= 250 ns):"
	echo
	echo "| program | ns/run |"
	echo "|---|---|"
	awk '$1 == "shunt+acc" && $2 ~ /^bpf_ns_/ { sub(/^bpf_ns_/, "", $2); print "| " $2 " | " $3 " |" }' <<<"$stats" | sort
	echo
	echo "Control plane:"
	echo
	echo "| figure | value | goal |"
	echo "|---|---|---|"
	for k in load_ms_1000_cidrs load_ms_10000_cidrs load_ms_100000_cidrs apply_ms_first_100k \
		apply_ms_one_line_100k_yaml apply_ms_one_line_100k_file apply_peak_rss_mib_100k \
		run_peak_rss_mib_100k run_rss_mib_100k cidr_map_memlock_mib_200k; do
		case $k in
		load_ms_100000_cidrs) g="< 1000 ms" ;; apply_ms_one_line_100k_*) g="< 50 ms" ;;
		run_peak_rss_mib_100k) g="< 20 MiB" ;; *) g="" ;;
		esac
		echo "| $k | $(get control "$k") | $g |"
	done
} > "$md"

if command -v gnuplot >/dev/null; then
	dat=$(mktemp)
	for k in rtt_p50_us_64B rtt_p50_us_16384B tput_gbps_1s tput_gbps_4s http_rps_16c http_rps_128c conns_per_s; do
		printf '%s' "$k"
		for m in direct proxies shunt shunt+acc; do printf ' %s' "$(ratio "$(get "$m" "$k")" "$(get iptables "$k")")"; done
		echo
	done | sed 's/ - / 0 /g; s/ -$/ 0/' > "$dat"
	gnuplot <<GP
set terminal png size 1100,520 font ",10" noenhanced
set output "$png"
set title "same-node mesh path, relative to Istio's iptables rules (= 1.0; RTT: lower is better)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set yrange [0:*]
set grid ytics
set xtics rotate by -20
set key top left
plot "$dat" using 2:xtic(1) title "direct", '' using 3 title "proxies, no interception", '' using 4 title "shunt", '' using 5 title "shunt + acceleration", 1 with lines lw 2 lc rgb "black" title "iptables"
GP
	rm -f "$dat"
fi
