#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# shunt run as the DaemonSet runs it: /healthz, /readyz and /metrics on --listen 0.0.0.0:PORT
# of the node's network namespace, scraped by a real Prometheus in another network namespace
# (a pod's, over the pod network: its scrape is up, a counter the test moved has the right
# value in its query API, promtool finds the exposition clean, one metric per unit); logs as
# JSON (--log-format json: every line an object, the pod meshed an event naming its netns); the configuration mounted as a ConfigMap
# volume and updated the way the kubelet does it (a new ..TIMESTAMP directory, the ..data
# symlink swapped by rename): the new policy is live within a second, a bad one is refused,
# logged with FILE:LINE:COL and counted, and the old policy keeps deciding.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/testbed.sh"
. "$here/../tap.sh"

tap_require_root haproxy prometheus promtool curl

tb_init h
KEEP_LOG=${KEEP_LOG:-}
tb_pod a 198.18.0.10     # meshed by its proxy (auto_detect)
tb_pod w 198.18.0.100
tb_pod prom 198.18.0.50  # Prometheus, in a pod of its own (not meshed: no proxy)
# the node on the pod network, as a node is to its pods: 198.18.0.1 on a veth into the bridge
NODE_IF="n$TB_ID"
NODE_IF=${NODE_IF:0:13}
ip link add "$NODE_IF" type veth peer name "${NODE_IF}p" netns "$TB_SW"
ip -n "$TB_SW" link set "${NODE_IF}p" master br0 up
ip addr add 198.18.0.1/24 dev "$NODE_IF"
ip link set "$NODE_IF" up
for p in 7000 7001 7002; do tb_echo w "0.0.0.0:$p" || tap_bail "world on $p"; done
tb_sidecar a || tap_bail "sidecar a"

# a free port on the host's loopback
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 20000))
		ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
	done
}
HTTP=$(free_port)
URL=http://127.0.0.1:$HTTP

# The ConfigMap volume as the kubelet lays it out: shunt.yaml -> ..data/shunt.yaml,
# ..data -> ..TIMESTAMP (atomic_writer.go), and how it updates it.
CM=$TB_TMP/configmap
mkdir -p "$CM"
cm_write() { # cm_write NAME TEXT: a new version of the ConfigMap, swapped in at once
	mkdir "$CM/..$1"
	printf '%s\n' "$2" > "$CM/..$1/shunt.yaml"
	ln -s "..$1" "$CM/..data_tmp"
	mv -T "$CM/..data_tmp" "$CM/..data"
	[ -L "$CM/shunt.yaml" ] || ln -s ..data/shunt.yaml "$CM/shunt.yaml"
	for old in "$CM"/..20*; do [ "$old" = "$CM/..$1" ] || rm -rf "$old"; done
}
cm_write 2026_11_30_00_00_00.1 'outbound: {exclude_ports: [7000]}'

SOCK=$TB_TMP/shunt.sock
out=$("$SHUNT" run --listen nonsense --pin-dir "$TB_PIN" 2>&1)
check_match "--listen nonsense: exit 2, says the form" "^2:.*ADDR:PORT" "$?:$out"
out=$("$SHUNT" load --listen "127.0.0.1:$HTTP" --pin-dir "$TB_PIN" 2>&1)
check_match "--listen with load: exit 2" "^2:.*--listen goes with 'run'" "$?:$out"

"$SHUNT" run --config "$CM/shunt.yaml" --pin-dir "$TB_PIN" --cgroup "$TB_CG" --socket "$SOCK" \
	--listen "0.0.0.0:$HTTP" --log-format json >> "$TB_TMP/run.log" 2>&1 &
run_pid=$!
TB_PIDS+=($run_pid)
for i in $(seq 50); do curl -fs "$URL/healthz" > /dev/null && break; sleep 0.1; done

# --- the endpoints ---------------------------------------------------------------------------
check_eq "/healthz: 200 ok" "200 ok" "$(curl -s -w '%{http_code} ' -o /tmp/.h$$ "$URL/healthz"; cat /tmp/.h$$; rm -f /tmp/.h$$)"
r=$(curl -s -w '%{http_code}' "$URL/readyz" | paste -sd' ' -)
check_eq "/readyz: 200, the policy generation" "ready: policy generation 1 200" "$r"
check_eq "/nope: 404" "404" "$(curl -s -o /dev/null -w '%{http_code}' "$URL/nope")"
check_eq "POST /metrics: 405" "405" "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/metrics")"
out=$("$SHUNT" run --pin-dir "$TB_PIN" --cgroup "$TB_CG" --socket "$TB_TMP/other.sock" \
	--listen "127.0.0.1:$HTTP" 2>&1)
check_match "a second run on the same port: exit 1, says so" "^1:.*cannot serve HTTP on 127.0.0.1:$HTTP" \
	"$?:$(paste -sd' ' - <<<"$out")"

for i in $(seq 20); do tb_run a "$TOOLS/tcpclient" 198.18.0.100:7001 > /dev/null; done
curl -s "$URL/metrics" > "$TB_TMP/metrics.txt"
check_eq "promtool check metrics: clean" "" "$(promtool check metrics < "$TB_TMP/metrics.txt" 2>&1)"
check_match "/metrics: the decisions by verdict" 'shunt_decisions_total\{verdict="redirect_include_cidr"\} [1-9]' \
	"$(cat "$TB_TMP/metrics.txt")"
check_match "/metrics: map entries against capacity" 'shunt_map_capacity\{map="connections"\} 262144' \
	"$(cat "$TB_TMP/metrics.txt")"
check_match "/metrics: the pod, found listening when shunt started" 'shunt_pods_meshed\{source="scan"\} 1' \
	"$(cat "$TB_TMP/metrics.txt")"
# one metric per unit: bytes apart from messages, each name ending in its unit (Prometheus'
# naming); no family mixes them under an event label any more
check_match "/metrics: fast-path bytes are a metric of their own" \
	'shunt_fastpath_redirected_bytes_total 0' "$(cat "$TB_TMP/metrics.txt")"
check_match "... messages another, by path" \
	'shunt_fastpath_messages_total\{path="fallback_over_limit"\} 0' "$(cat "$TB_TMP/metrics.txt")"
check_match "... SO_ORIGINAL_DST answers by result" \
	'shunt_so_original_dst_total\{result="answered"\} [1-9]' "$(cat "$TB_TMP/metrics.txt")"
check_nomatch "... and no shunt_events_total" 'shunt_events_total' "$(cat "$TB_TMP/metrics.txt")"

# --- a real Prometheus scrapes it ------------------------------------------------------------
PROM=$(free_port)
mkdir -p "$TB_TMP/prom"
cat > "$TB_TMP/prometheus.yml" <<EOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: shunt
    static_configs: [{targets: ["198.18.0.1:$HTTP"]}]
EOF
tb_run prom prometheus --config.file="$TB_TMP/prometheus.yml" --storage.tsdb.path="$TB_TMP/prom" \
	--web.listen-address="127.0.0.1:$PROM" > "$TB_TMP/prometheus.log" 2>&1 &
TB_PIDS+=($!)
# query EXPR: the value of an instant query (Prometheus' API, in its pod), empty while none
query() {
	tb_run prom curl -s --get --data-urlencode "query=$1" "http://127.0.0.1:$PROM/api/v1/query" |
		sed -n 's/.*"value":\[[0-9.]*,"\([^"]*\)"\].*/\1/p'
}
for i in $(seq 100); do [ "$(query 'up{job="shunt"}')" = 1 ] && break; sleep 0.2; done
check_eq "Prometheus in a pod's netns: the scrape of the node's port is up" "1" "$(query 'up{job="shunt"}')"
for i in $(seq 30); do tb_run a "$TOOLS/tcpclient" 198.18.0.100:7001 > /dev/null; done
want=$(tb_counter "$(tb_status)" redirect_include_cidr)
for i in $(seq 100); do
	got=$(query 'shunt_decisions_total{verdict="redirect_include_cidr"}')
	[ "$got" = "$want" ] && break
	sleep 0.2
done
check_eq "Prometheus: the counter the test moved has the value status shows ($want)" "$want" "$got"

# --- the ConfigMap updated: new policy live within a second -----------------------------------
gen0=$(tb_counter "$(tb_status)" generation)
t0=$(date +%s%N)
cm_write 2026_11_30_00_01_00.2 'outbound: {exclude_ports: [7000, 7001]}'
for i in $(seq 100); do
	[ "$(tb_counter "$(tb_status)" generation)" = $((gen0 + 1)) ] && break
	sleep 0.01
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "# ConfigMap swap -> applied: $ms ms"
check_eq "..data swapped: the new policy is in force (generation $((gen0 + 1)))" "$((gen0 + 1))" \
	"$(tb_counter "$(tb_status)" generation)"
check "... within a second ($ms ms)" test "$ms" -lt 1000
# counted by the proxy at accept (its stats socket): a log line would wait for a session's end
acc0=$(tb_sidecar_accepted a outbound)
out=$(tb_run a "$TOOLS/tcpclient" 198.18.0.100:7001)
check_eq "... and decides: 7001 now goes direct" "ok $acc0" "${out%% *} $(tb_sidecar_accepted a outbound)"
out=$(tb_run a "$TOOLS/tcpclient" 198.18.0.100:7002)
check_eq "... while 7002 still goes through the proxy (its count moves)" "ok $((acc0 + 1))" \
	"${out%% *} $(tb_sidecar_accepted a outbound)"

# --- a bad ConfigMap: refused, logged, counted; the old policy stays --------------------------
cm_write 2026_11_30_00_02_00.3 'outbound: {exclude_ports: [70001]}'
for i in $(seq 100); do grep -q 'not applied' "$TB_TMP/run.log" && break; sleep 0.02; done
check_match "bad config: logged with FILE:LINE:COL" "$CM/shunt.yaml:1:[0-9]*: .*70001" "$(cat "$TB_TMP/run.log")"
check_eq "bad config: the generation is unchanged" "$((gen0 + 1))" "$(tb_counter "$(tb_status)" generation)"
check_match "bad config: counted in /metrics" 'shunt_config_reloads_total\{result="refused"\} 1' \
	"$(curl -s "$URL/metrics")"
check_match "... next to the good one" 'shunt_config_reloads_total\{result="applied"\} 1' \
	"$(curl -s "$URL/metrics")"
acc0=$(tb_sidecar_accepted a outbound)
out=$(tb_run a "$TOOLS/tcpclient" 198.18.0.100:7001)
check_eq "bad config: the old policy still decides (7001 direct)" "ok $acc0" \
	"${out%% *} $(tb_sidecar_accepted a outbound)"
out=$(tb_run a "$TOOLS/tcpclient" 198.18.0.100:7002)
check_eq "... and 7002 through the proxy" "ok $((acc0 + 1))" "${out%% *} $(tb_sidecar_accepted a outbound)"
# an unrelated event in the directory is no reload
touch "$CM/unrelated"
sleep 0.3
# a reload now would be refused (the bad config is live) and counted as such
m=$(curl -s "$URL/metrics")
check_match "an unrelated file in the directory: no reload (applied stays 1)" \
	'shunt_config_reloads_total\{result="applied"\} 1' "$m"
check_match "... and refused stays 1" 'shunt_config_reloads_total\{result="refused"\} 1' "$m"

# --- not ready once shunt is unloaded --------------------------------------------------------
"$SHUNT" unload --pin-dir "$TB_PIN" > /dev/null 2>&1
r=$(curl -s -w '%{http_code}' "$URL/readyz" | paste -sd' ' -)
check_match "unloaded under it: /readyz 503, says why" "not loaded.* 503$" "$r"
check_eq "... /healthz still 200 (the process lives)" "200" "$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")"
# --- the log: JSON a line ----------------------------------------------------------------------
bad=$(/usr/bin/python3 -c '
import json, sys
for n, line in enumerate(open(sys.argv[1]), 1):
    try:
        o = json.loads(line)
        assert {"time", "level", "msg"} <= o.keys() and o["time"].endswith("Z")
    except Exception as e:
        print(n, line.strip()[:80])' "$TB_TMP/run.log")
check_eq "--log-format json: every line of the log an object with time, level, msg" "" "$bad"
check_match "... pod a meshed: an event naming its netns" \
	"\"event\":\"meshed\",\"netns\":\"/run/netns/$(tb_ns a)\"" "$(cat "$TB_TMP/run.log")"
check_match "... the refused configuration: level error, FILE:LINE:COL in msg" \
	"\"level\":\"error\",\"msg\":\"$CM/shunt.yaml:1:[0-9]*: " "$(cat "$TB_TMP/run.log")"
# --- a node whose kernel cannot run shunt: not ready, one log line, no crash loop -------------
# (a kernel without BTF, as this mount namespace shows it: /sys/kernel/btf hidden by a tmpfs)
P2=$(free_port)
unshare -m sh -c 'mount -t tmpfs none /sys/kernel/btf && exec "$@"' sh \
	"$SHUNT" run --pin-dir "$TB_PIN-nobtf" --socket "$TB_TMP/nobtf.sock" --listen "127.0.0.1:$P2" \
	--log-format json > "$TB_TMP/nobtf.log" 2>&1 &
nobtf=$!
TB_PIDS+=($nobtf)
for i in $(seq 50); do curl -fs "http://127.0.0.1:$P2/healthz" > /dev/null && break; sleep 0.1; done
r=$(curl -s -w '%{http_code}' "http://127.0.0.1:$P2/readyz" | paste -sd' ' -)
check_match "no BTF: /readyz 503 says why" "^not ready: this node cannot run shunt: .*no BTF.* 503$" "$r"
check_eq "... /healthz 200: the pod is not restarted (a restart would not change the kernel)" "200" \
	"$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P2/healthz")"
sleep 1
check "... still running a second later" kill -0 "$nobtf"
check_eq "... one error says it, as an event" "1 node_unsupported" \
	"$(grep -c '"level":"error"' "$TB_TMP/nobtf.log") $(grep '"level":"error"' "$TB_TMP/nobtf.log" | grep -o '"event":"[a-z_]*"' | cut -d'"' -f4)"
check "... nothing was loaded or pinned" test ! -e "$TB_PIN-nobtf"
kill -TERM "$nobtf"
wait "$nobtf"
check_eq "... SIGTERM: exit 0" "0" "$?"
[ -n "$KEEP_LOG" ] && cp "$TB_TMP/run.log" "$TB_TMP/metrics.txt" "$KEEP_LOG/"
tap_done
