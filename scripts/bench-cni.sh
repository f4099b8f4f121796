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
ns_now() { date +%s%N; }
add=() del=() get=()
for i in $(seq "$PODS"); do
	t0=$(ns_now)
	curl -s -o /dev/null "http://127.0.0.1:$PORT/api/v1/namespaces/shop/pods/web-$i"
	t1=$(ns_now)
	printf '%s' "$CONF" | CNI_COMMAND=ADD CNI_NETNS="/run/netns/shunt-$TB_ID-p$i" CNI_CONTAINERID="c$i" \
		CNI_IFNAME=eth0 CNI_ARGS="K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-$i" build/shunt-cni > /dev/null ||
		echo "ADD $i failed" >&2
	t2=$(ns_now)
	get+=($(( (t1 - t0) / 1000 )))
	add+=($(( (t2 - t1) / 1000 )))
done
for i in $(seq "$PODS"); do
	t0=$(ns_now)
	printf '%s' "$CONF" | CNI_COMMAND=DEL CNI_NETNS="/run/netns/shunt-$TB_ID-p$i" CNI_CONTAINERID="c$i" \
		CNI_IFNAME=eth0 CNI_ARGS="K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-$i" build/shunt-cni > /dev/null
	t1=$(ns_now)
	del+=($(( (t1 - t0) / 1000 )))
done
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
	echo "| pod GET alone (curl, the API stand-in on loopback) | $(ms "$(pct 50 "${get[@]}")") | $(ms "$(pct 99 "${get[@]}")") |"
	echo "| ADD through shunt-cni (plugin, socket, API GET, decision, meshing) | $(ms "$(pct 50 "${add[@]}")") | $(ms "$(pct 99 "${add[@]}")") |"
	echo "| DEL | $(ms "$(pct 50 "${del[@]}")") | $(ms "$(pct 99 "${del[@]}")") |"
	echo
	echo "shunt's own part of ADD: the ADD row less the GET row (curl's own start-up is in the"
	echo "GET row, as the plugin's exec is in the ADD row)."
} | tee "$OUT"
