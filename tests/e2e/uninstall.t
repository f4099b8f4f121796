#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Uninstall as istio-cni does it: `shunt uninstall` (the DaemonSet gone, the Job running)
# removes the CNI plugin, stops meshing new pods while the running ones keep their proxy,
# waits until the last meshed pod is deleted, then unloads: nothing attached, nothing pinned.
# Refused while a shunt run answers; --timeout gives up leaving everything as it was.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$here/../..
. "$top/scripts/testbed.sh"
. "$here/../tap.sh"

tap_require_root haproxy bpftool
tb_init u
tb_pod a 198.18.0.10
tb_pod w 198.18.0.100
tb_echo w 0.0.0.0:7001 || tap_bail "world"
tb_sidecar a || tap_bail "sidecar a"
# the node's CNI directories, the plugin installed in them (as shunt run --cni-install would)
HOST=$TB_TMP/host
BIN=$HOST/opt/cni/bin
NETD=$HOST/etc/cni/net.d
mkdir -p "$BIN" "$NETD"
printf '{"cniVersion":"1.0.0","name":"podnet","plugins":[{"type":"bridge"}]}\n' > "$NETD/10-podnet.conflist"
"$SHUNT" cni-install --cni-bin-dir "$BIN" --cni-conf-dir "$NETD" > /dev/null || tap_bail "cni-install"
types() { /usr/bin/python3 -c 'import json,sys; print(" ".join(p["type"] for p in json.load(open(sys.argv[1]))["plugins"]))' "$1"; }
echo 'outbound: {include_cidrs: ["*"]}' > "$TB_TMP/shunt.yaml"
tb_shunt_run "$TB_TMP/shunt.yaml" || tap_bail "shunt run"
run_pid=${TB_PIDS[-1]}
for i in $(seq 100); do ls "$TB_PIN/links" | grep -q sk_lookup_ && break; sleep 0.1; done
uninst() {
	"$SHUNT" uninstall --pin-dir "$TB_PIN" --socket "$SOCK" --config "$TB_TMP/shunt.yaml" \
		--cni-bin-dir "$BIN" --cni-conf-dir "$NETD" "$@" 2>&1
}
through_proxy() { # POD: does POD's connection to the world go through POD's proxy?
	local acc0 out
	acc0=$(tb_sidecar_accepted "$1" outbound)
	out=$(tb_run "$1" "$TOOLS/tcpclient" 198.18.0.100:7001)
	[ "${out%% *}" = ok ] || { echo "failed: $out"; return; }
	[ "$(tb_sidecar_accepted "$1" outbound)" = "$((acc0 + 1))" ] && echo proxy || echo direct
}
check_eq "before: pod a's connections go through its proxy" "proxy" "$(through_proxy a)"

out=$(uninst)
check_match "while shunt run answers: refused, exit 1, says why" "^1:.*a shunt run answers at .*stop it first" "$?:$out"
check_eq "... the plugin stays" "bridge shunt-cni" "$(types "$NETD/10-podnet.conflist")"
# found by this test: a client that connected and left before its answer ended shunt run
# (SIGPIPE on the answer); now the answer fails alone
check "... and shunt run lives on after that probe (connect, close)" kill -0 "$run_pid"

# the DaemonSet is deleted
kill -TERM "$run_pid" || { echo "# shunt run died:"; sed "s/^/# /" "$TB_TMP/run.log"; }
wait "$run_pid" 2>/dev/null
out=$(uninst --timeout 1)
check_match "--timeout 1 with pod a meshed: exit 1, says how many and what stays" \
	"^1:.*1 pod still meshed after 1 s: shunt stays loaded and draining" "$?:$(paste -sd' ' - <<<"$out")"
check_eq "... the plugin is gone from the network configuration" "bridge" "$(types "$NETD/10-podnet.conflist")"
check "... and from the bin dir" test ! -e "$BIN/shunt-cni"
check_match "... status says draining" '"draining":true' "$(tb_status)"
check_eq "draining: pod a's connections still go through its proxy" "proxy" "$(through_proxy a)"
tb_pod b 198.18.0.11
tb_sidecar b || tap_bail "sidecar b"
sleep 0.5
check_eq "... a new pod with a proxy is not meshed: it starts, its connection goes direct" "direct" \
	"$(through_proxy b)"
check_eq "... one workload meshed (a), not two" "1" "$(tb_counter "$(tb_status)" workloads)"

uninst > "$TB_TMP/uninstall.log" 2>&1 &
upid=$!
TB_PIDS+=($upid)
sleep 1.5
check "uninstall waits while pod a lives" kill -0 "$upid"
check_eq "... pod a still through its proxy" "proxy" "$(through_proxy a)"
t0=$(date +%s%N)
tb_pod_del a
wait "$upid"
rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "# pod a deleted -> unloaded: $ms ms"
check_eq "pod a deleted: uninstall exits 0" "0" "$rc"
check_match "... saying so" "uninstalled: no pod was meshed any more" "$(cat "$TB_TMP/uninstall.log")"
check "... nothing pinned" test ! -e "$TB_PIN"
check_eq "... no program left on the cgroup" "" "$(bpftool cgroup show "$TB_CG" 2>/dev/null | tail -n +2)"
check_eq "... pod b's connection still works, direct" "direct" "$(through_proxy b)"
out=$(uninst)
check_match "uninstall again: nothing to do, exit 0" "^0:.*not loaded .*nothing to uninstall" "$?:$(paste -sd" " - <<<"$out")"
tap_done
