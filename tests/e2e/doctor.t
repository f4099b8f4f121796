#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# shunt doctor on a live sandbox: a meshed pod with its proxy, shunt run. Healthy, it passes
# (text and JSON); then each problem is made for real and must be flagged with its fix, and
# put right again: bpffs not mounted (in a private mount namespace), pins of another ABI, the
# pod's proxy gone, an iptables REDIRECT rule left in the pod by an istio-init, a foreign
# connect4 program on shunt's cgroup (as Cilium's socket LB attaches one). Then the dump
# filters answer for one pod, one address, one port, and explain for one connection.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/testbed.sh"
. "$here/../tap.sh"

tap_require_root haproxy iptables bpftool

tb_init o
tb_pod a 198.18.0.10     # meshed by its proxy (auto_detect)
tb_pod w 198.18.0.100
tb_echo w 0.0.0.0:7001 || tap_bail "world"
tb_sidecar a || tap_bail "sidecar a"
CFG=$TB_TMP/node.yaml
printf 'acceleration: true\n' > "$CFG"
tb_shunt_run "$CFG" || tap_bail "shunt"
FOREIGN=/sys/fs/bpf/shunt-test-$TB_ID-foreign
cleanup() {
	bpftool cgroup detach "$TB_CG" connect4 pinned "$FOREIGN" 2>/dev/null
	rm -f "$FOREIGN"
	tb_cleanup
}
trap cleanup EXIT
doctor() { "$SHUNT" doctor --pin-dir "$TB_PIN" --cgroup "$TB_CG" "$@" 2>&1; }
for i in $(seq 30); do # until the pod is meshed and its inbound link attached
	ls "$TB_PIN/links" | grep -q sk_lookup_ && break
	sleep 0.1
done

out=$(doctor)
rc=$?
check_eq "healthy: exit 0" "0" "$rc"
[ "$rc" = 0 ] || echo "$out" | sed 's/^/# /'
check_match "... says all checks passed" '^all checks passed$' "$out"
check_match "... probed the kernel for every program shunt loads" '^ok +bpf-features +1[0-9] programs .*all accepted' "$out"
check_match "... checked the pins" "^ok +pins +$TB_PIN: ABI [0-9]+, policy generation [0-9]+, [0-9]+ links attached" "$out"
check_match "... and the meshed pod" '^ok +pods +1 meshed pod: proxies listening' "$out"
check_match "... no foreign program" '^ok +foreign-prog' "$out"
json=$(doctor --json)
check_match "--json: one object, ok true" '^\{"ok":true,"failed":0,"checks":\[\{"check":"kernel","status":"ok"' "$json"

# --- bpffs not mounted: in a mount namespace of its own, so the node keeps its bpffs ----------
out=$(unshare -m sh -c 'umount -l /sys/fs/bpf && "$0" doctor --pin-dir "$1" --cgroup "$2"' \
	"$SHUNT" "$TB_PIN" "$TB_CG" 2>&1)
rc=$?
check_eq "bpffs unmounted: exit 1" "1" "$rc"
check_match "... flagged, with the fix" '^FAIL +bpffs +/sys/fs/bpf is not a bpf filesystem' "$out"
check_match "... fix: mount it" 'fix: mount -t bpf bpf /sys/fs/bpf' "$out"

# --- pins of another ABI ------------------------------------------------------------------------
tb_instance next
"$TB_ROOT/build/tests/shunt-abinext" load --pin-dir "$TB_PIN_next" --cgroup "$TB_CG_next" \
	> "$TB_TMP/next.log" 2>&1 || tap_bail "ABI+1 load: $(cat "$TB_TMP/next.log")"
out=$("$SHUNT" doctor --pin-dir "$TB_PIN_next" --cgroup "$TB_CG_next" 2>&1)
rc=$?
check_eq "pins of another ABI: exit 1" "1" "$rc"
check_match "... flagged with both ABIs" "^FAIL +pins +$TB_PIN_next holds a shunt of ABI [0-9]+, this binary speaks ABI [0-9]+" "$out"
check_match "... and how to move on" "fix: 'shunt run' or 'shunt load' with this binary replaces it in place" "$out"
"$TB_ROOT/build/tests/shunt-abinext" unload --pin-dir "$TB_PIN_next" > /dev/null 2>&1

# --- the proxy of a meshed pod not listening ----------------------------------------------------
hap_pid=$(pgrep -f "haproxy -db -f $TB_TMP/haproxy-a.cfg" | head -1)
kill "$hap_pid"
for i in $(seq 30); do ip netns exec "$(tb_ns a)" ss -Hltn 'sport = :15001' | grep -q . || break; sleep 0.1; done
out=$(doctor)
rc=$?
check_eq "proxy gone: exit 1" "1" "$rc"
check_match "... the outbound port flagged, with what it means" "^FAIL +pod-proxy +/run/netns/$(tb_ns a) \(cookie [0-9]+\): no process of uid 1337 listens on the outbound port 15001: the pod's connections are refused" "$out"
check_match "... the inbound port too" "no process of uid 1337 listens on the inbound port 15006" "$out"
tb_sidecar a || tap_bail "sidecar restart"
sleep 0.5
out=$(doctor)
check_eq "proxy back: healthy again" "0" "$?"

# --- an iptables REDIRECT rule left in the meshed pod (istio-init ran too) -----------------------
ip netns exec "$(tb_ns a)" iptables -t nat -A OUTPUT -p tcp -j REDIRECT --to-ports 15001
out=$(doctor)
rc=$?
check_eq "leftover iptables rule in the pod: exit 1" "1" "$rc"
check_match "... flagged with the rule" "^FAIL +pod-iptables +/run/netns/$(tb_ns a) .*: 1 iptables-save nat rule of a mesh left in the pod \(-A OUTPUT -p tcp -j REDIRECT --to-ports 15001\)" "$out"
check_match "... and the fix" 'fix: remove the iptables mesh setup from this pod' "$out"
ip netns exec "$(tb_ns a)" iptables -t nat -D OUTPUT -p tcp -j REDIRECT --to-ports 15001

# --- a foreign connect4 program on shunt's cgroup ------------------------------------------------
bpftool prog load "$TB_ROOT/build/tools/foreign.bpf.o" "$FOREIGN" || tap_bail "foreign program"
bpftool cgroup attach "$TB_CG" connect4 pinned "$FOREIGN" multi || tap_bail "attach foreign"
out=$(doctor)
rc=$?
check_eq "foreign connect4 program: exit 1" "1" "$rc"
check_match "... named, with what it means" "^FAIL +foreign-prog +cgroup cgroup_inet4_connect also runs program [0-9]+ 'not_shunt_conne': both rewrite connect\(\)'s destination \(Cilium's socket LB" "$out"
bpftool cgroup detach "$TB_CG" connect4 pinned "$FOREIGN"
rm -f "$FOREIGN"
# --- Cilium next door: its socket LB attached as Cilium attaches it, told apart by what its
# agent compiled in (node_config.h, SHUNT_CILIUM_STATE_DIR standing for /var/run/cilium/state)
bpftool prog load "$TB_ROOT/build/tools/cilium_sock.bpf.o" "$FOREIGN" || tap_bail "cilium program"
bpftool cgroup attach "$TB_CG" connect4 pinned "$FOREIGN" multi || tap_bail "attach cilium"
mkdir -p "$TB_TMP/cilium/globals"
export SHUNT_CILIUM_STATE_DIR=$TB_TMP/cilium
printf '#define ENABLE_IPV4 1\n#define ENABLE_SOCKET_LB_HOST_ONLY 1\n' > "$TB_TMP/cilium/globals/node_config.h"
out=$(doctor)
rc=$?
check_eq "Cilium's socket LB, hostNamespaceOnly: harmless, exit 0" "0" "$rc"
check_match "... said so, with where it was read" "^ok +foreign-prog +Cilium's socket LB \(1 programs on shunt's hooks\) runs in the host's network namespace only \(ENABLE_SOCKET_LB_HOST_ONLY in $TB_TMP/cilium/globals/node_config.h" "$out"
acc0=$(tb_sidecar_accepted a outbound)
tb_run a "$TOOLS/tcpclient" 198.18.0.100:7001 > /dev/null
check_eq "... and pod a's connection still reaches its proxy" "$((acc0 + 1))" "$(tb_sidecar_accepted a outbound)"
printf '#define ENABLE_IPV4 1\n#define ENABLE_SOCKET_LB_FULL 1\n' > "$TB_TMP/cilium/globals/node_config.h"
out=$(doctor)
check_eq "Cilium's socket LB for pods too (ENABLE_SOCKET_LB_FULL): exit 1" "1" "$?"
check_match "... named, with the fix" "^FAIL +foreign-prog +cgroup cgroup_inet4_connect also runs Cilium's socket LB \(program [0-9]+ 'cil_sock4_conne'\), for pods too" "$out"
check_match "... the fix: hostNamespaceOnly" 'fix: set socketLB.hostNamespaceOnly=true' "$out"
rm -f "$TB_TMP/cilium/globals/node_config.h"
out=$(doctor)
check_eq "Cilium's node_config.h unreadable: cannot tell, exit 1" "1" "$?"
check_match "... says how to check" "cannot be read to tell whether it spares pods.*Hostns-only" "$(tr '\n' ' ' <<<"$out")"
unset SHUNT_CILIUM_STATE_DIR
bpftool cgroup detach "$TB_CG" connect4 pinned "$FOREIGN"
rm -f "$FOREIGN"
out=$(doctor)
rc=$?
check_eq "all put right: healthy again" "0" "$rc"
[ "$rc" = 0 ] || echo "$out" | sed 's/^/# /'
# --- dump --pod / --addr / --port, explain: "where did this connection go?" ---------------------
tb_pod b 198.18.0.11
tb_sidecar b || tap_bail "sidecar b"
# until shunt run has meshed b and recorded its address (seconds under TCG)
for i in $(seq 150); do
	[ "$(ls "$TB_PIN/links" | grep -c sk_lookup_)" = 2 ] &&
		"$SHUNT" dump --pin-dir "$TB_PIN" | grep -q '^  netns .* 198\.18\.0\.11$' && break
	sleep 0.1
done
# a connection of a's held open, through its proxy
tb_run a bash -c 'exec 3<>/dev/tcp/198.18.0.100/7001; sleep 4' &
held=$!
TB_PIDS+=($held)
sleep 0.5
all=$("$SHUNT" dump --pin-dir "$TB_PIN" 2>&1)
out=$("$SHUNT" dump --pin-dir "$TB_PIN" --pod "$(tb_ns a)" 2>&1)
check_match "dump: both pods are there unfiltered" '198\.18\.0\.10.*198\.18\.0\.11|198\.18\.0\.11.*198\.18\.0\.10' "$(tr '\n' ' ' <<<"$all")"
check_match "dump --pod a: a's address" '^  netns [0-9]+ +198\.18\.0\.10$' "$out"
check_nomatch "... not b's" '198\.18\.0\.11' "$out"
check_eq "... one workload" "1" "$(grep -c '^  netns .* ino ' <<<"$out")"
check_match "... a's connection at the proxy, to its original destination" '^  netns [0-9]+ +127\.0\.0\.1:15001 <- 127\.0\.0\.1:[0-9]+ -> 198\.18\.0\.100:7001$' "$out"
out=$("$SHUNT" dump --pin-dir "$TB_PIN" --pod "$(tb_ns b)" 2>&1)
check_nomatch "dump --pod b: not a's connection" '198\.18\.0\.100:7001' "$out"
out=$("$SHUNT" dump --pin-dir "$TB_PIN" --addr 198.18.0.11 2>&1)
check_match "dump --addr: b's address row" '^  netns [0-9]+ +198\.18\.0\.11$' "$out"
check_nomatch "... no other address, no connection" '198\.18\.0\.10|-> [0-9]' "$out"
out=$("$SHUNT" dump --pin-dir "$TB_PIN" --port 7001 2>&1)
check_match "dump --port 7001: the connection" '-> 198\.18\.0\.100:7001$' "$out"
out=$("$SHUNT" dump --pin-dir "$TB_PIN" --port 7002 2>&1)
check_nomatch "dump --port 7002: nothing" '-> 198' "$out"
out=$("$SHUNT" dump --pin-dir "$TB_PIN" --pod /nonexistent 2>&1)
check_match "dump --pod of no pod: exit 1, says so" '^1:.*/nonexistent' "$?:$out"
wait "$held" 2>/dev/null
out=$("$SHUNT" explain --pin-dir "$TB_PIN" --pod "$(tb_ns a)" 198.18.0.100:7001 2>&1)
check_match "explain: a -> world:7001 goes to the proxy" 'rule +redirect_include_cidr: the destination is in outbound.include_cidrs' "$out"
check_match "... to the outbound port" 'goes to +127\.0\.0\.1:15001, the proxy.s outbound port' "$out"
check_match "... and its bytes take the fast path (acceleration: true)" '^fast path +on: ' "$out"
check_match "... and says what the proxy reads" 'the proxy +reads 198\.18\.0\.100:7001 as the original destination' "$out"
out=$("$SHUNT" explain --pin-dir "$TB_PIN" --pod "$(tb_ns a)" --uid 1337 198.18.0.100:7001 2>&1)
check_match "explain --uid 1337: the proxy's own connection goes direct" 'rule +direct_proxy_owner.*goes to +198\.18\.0\.100:7001 directly' "$(tr '\n' ' ' <<<"$out")"
out=$("$SHUNT" explain --pin-dir "$TB_PIN" --pod "$(tb_ns w)" 198.18.0.10:80 2>&1)
check_match "explain from an unmeshed pod: left alone" 'rule +not_meshed: the pod is not meshed' "$out"
out=$("$SHUNT" explain --pin-dir "$TB_PIN" 198.18.0.100 2>&1)
check_match "explain without a port: exit 2, says what it takes" '^2:.*not ADDR:PORT' "$?:$out"
# bash completion of --pod: the meshed pods' /run/netns names, from this shunt's maps
comp() {
	bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _shunt
		printf "%s\n" "${COMPREPLY[@]}"' _ "$TB_ROOT/completion/shunt.bash" "$SHUNT" "$@" | sort | paste -sd' ' -
}
check_eq "completion: 'shunt dump --pin-dir PIN --pod <TAB>' offers the meshed pods' netns names" \
	"$(printf '%s\n' "$(tb_ns a)" "$(tb_ns b)" | sort | paste -sd' ' -)" "$(comp dump --pin-dir "$TB_PIN" --pod '')"
check_eq "... 'trace --verdict redirect_inc<TAB>'" "redirect_include_cidr redirect_include_port" \
	"$(comp trace --pin-dir "$TB_PIN" --verdict redirect_inc)"
tap_done
