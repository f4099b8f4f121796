#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# make bench-cni [PODS=100]: CNI ADD latency. PODS network namespaces, each added through
# build/shunt-cni as a runtime runs it, against the Kubernetes API stand-in on loopback; then
# deleted. Reports p50/p99 of: the plugin's ADD (fork+exec of the plugin, the socket, the
# daemon's API lookup, the decision, the meshing) and of the same pod GET done alone with
# curl, so shunt's own part is the difference; and DEL. Writes bench/results/cni.md. Reports;
# never fails on a number.
set -u
cd "$(dirname "$0")/.."
. scripts/testbed.sh
[ "$(id -u)" = 0 ] || { echo "bench-cni needs root" >&2; exit 1; }
PODS=${PODS:-100}
OUT=bench/results/cni.md
mkdir -p bench/results

tb_init bc
API=$TB_TMP/api
mkdir -p "$API/pods/shop" "$API/namespaces"
for i in $(seq "$PODS"); do
	sed "s/\"name\": \"web\",/\"name\": \"web-$i\",/" tests/fixtures/pods/istio-web.json > "$API/pods/shop/web-$i.json"
done
/usr/bin/python3 tests/tools/kube-api.py "$API" "$TB_TMP/api.port" > /dev/null 2>&1 &
TB_PIDS+=($!)
for i in $(seq 50); do [ -s "$TB_TMP/api.port" ] && break; sleep 0.1; done
PORT=$(cat "$TB_TMP/api.port")
printf 'apiVersion: v1\nclusters: [{name: c, cluster: {server: "http://127.0.0.1:%s"}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\nusers: [{name: u, user: {token: t}}]\n' \
	"$PORT" > "$TB_TMP/kubeconfig"
printf 'mesh: {auto_detect: false}\n' > "$TB_TMP/node.yaml"
"$SHUNT" load --config "$TB_TMP/node.yaml" --pin-dir "$TB_PIN" --cgroup "$TB_CG" > /dev/null ||
	{ echo "load failed" >&2; exit 1; }
SOCK=$TB_TMP/shunt.sock
"$SHUNT" run --config "$TB_TMP/node.yaml" --pin-dir "$TB_PIN" --socket "$SOCK" \
	--kubeconfig "$TB_TMP/kubeconfig" > "$TB_TMP/run.log" 2>&1 &
TB_PIDS+=($!)
for i in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
for i in $(seq "$PODS"); do
	ip netns add "shunt-$TB_ID-p$i"
	TB_NS+=("shunt-$TB_ID-p$i")
done
CONF="{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"shunt-cni\",\"socket\":\"$SOCK\",\"prevResult\":{\"cniVersion\":\"1.0.0\",\"ips\":[]}}"
# Timed from one process (no shell forks in the measurement): the pod GET alone over HTTP
# (urllib, connection per request, as the daemon's libcurl does), then ADD through the plugin
# (its exec, the socket, the daemon's GET, decision and meshing); then every DEL.
/usr/bin/python3 - "$CONF" "$PORT" "$PODS" "shunt-$TB_ID-p" > "$TB_TMP/times" <<'PY'
import os, subprocess, sys, time, urllib.request
conf, port, pods, prefix = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def plugin(cmd, i):
    env = dict(os.environ, CNI_COMMAND=cmd, CNI_NETNS="/run/netns/%s%d" % (prefix, i),
               CNI_CONTAINERID="c%d" % i, CNI_IFNAME="eth0",
               CNI_ARGS="K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-%d" % i)
    t = time.perf_counter()
    r = subprocess.run(["build/shunt-cni"], input=conf.encode(), env=env, stdout=subprocess.DEVNULL)
    if r.returncode:
        print("%s %d failed" % (cmd, i), file=sys.stderr)
    return int((time.perf_counter() - t) * 1e6)
for i in range(1, pods + 1):
    t = time.perf_counter()
    urllib.request.urlopen("http://127.0.0.1:%s/api/v1/namespaces/shop/pods/web-%d" % (port, i)).read()
    print("get", int((time.perf_counter() - t) * 1e6))
    print("add", plugin("ADD", i))
for i in range(1, pods + 1):
    print("del", plugin("DEL", i))
PY
mapfile -t get < <(sed -n 's/^get //p' "$TB_TMP/times")
mapfile -t add < <(sed -n 's/^add //p' "$TB_TMP/times")
mapfile -t del < <(sed -n 's/^del //p' "$TB_TMP/times")
# the daemon's own timing of each request, from its log (microseconds)
mapfile -t dadd < <(sed -n 's/.*cni ADD .*; \([0-9.]*\) ms, \([0-9.]*\) of them the API server.*/\1/p' "$TB_TMP/run.log" | awk '{ printf "%d\n", $1 * 1000 }')
mapfile -t dapi < <(sed -n 's/.*cni ADD .*; \([0-9.]*\) ms, \([0-9.]*\) of them the API server.*/\2/p' "$TB_TMP/run.log" | awk '{ printf "%d\n", $1 * 1000 }')
mapfile -t down < <(sed -n 's/.*cni ADD .*; \([0-9.]*\) ms, \([0-9.]*\) of them the API server.*/\1 \2/p' "$TB_TMP/run.log" | awk '{ printf "%d\n", ($1 - $2) * 1000 }')
mapfile -t ddel < <(sed -n 's/.*cni DEL .*; \([0-9.]*\) ms.*/\1/p' "$TB_TMP/run.log" | awk '{ printf "%d\n", $1 * 1000 }')
pct() { # pct P VALUES...: the P-th percentile (nearest rank), microseconds
	local p=$1
	shift
	printf '%s\n' "$@" | sort -n | awk -v p="$p" '{ v[NR] = $1 } END { i = int((p / 100) * NR + 0.999); if (i < 1) i = 1; print v[i] }'
}
ms() { awk -v u="$1" 'BEGIN { printf "%.1f", u / 1000 }'; }
{
	echo "# CNI ADD latency ($PODS pods, $(uname -r), $(date -u +%Y-%m-%d))"
	echo
	echo "| | p50 ms | p99 ms |"
	echo "|---|---|---|"
	echo "| pod GET alone (HTTP round trip to the API stand-in on loopback) | $(ms "$(pct 50 "${get[@]}")") | $(ms "$(pct 99 "${get[@]}")") |"
	echo "| ADD through shunt-cni (plugin, socket, API GET, decision, meshing) | $(ms "$(pct 50 "${add[@]}")") | $(ms "$(pct 99 "${add[@]}")") |"
	echo "| DEL | $(ms "$(pct 50 "${del[@]}")") | $(ms "$(pct 99 "${del[@]}")") |"
	echo "| ADD in the daemon (request read to answer) | $(ms "$(pct 50 "${dadd[@]}")") | $(ms "$(pct 99 "${dadd[@]}")") |"
	echo "| ... of it, the API server | $(ms "$(pct 50 "${dapi[@]}")") | $(ms "$(pct 99 "${dapi[@]}")") |"
	echo "| ... of it, shunt's own (the rest) | $(ms "$(pct 50 "${down[@]}")") | $(ms "$(pct 99 "${down[@]}")") |"
	echo "| DEL in the daemon | $(ms "$(pct 50 "${ddel[@]}")") | $(ms "$(pct 99 "${ddel[@]}")") |"
	echo
	echo "The daemon's rows come from its log (each ADD logs its time and the API server's"
	echo "part). The plugin's rows add its exec (a static binary: 2.5 ms for VERSION) and the"
	echo "socket round trip."
} | tee "$OUT"
