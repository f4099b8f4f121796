#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# A meshed app tries to reach a remote address without its proxy, every way the issue lists
# (tests/tools/bypass.c): TCP Fast Open (v4, v6), io_uring connect, a v4-mapped v6 socket,
# binding 127.0.0.6 or the pod IP first, SO_BINDTODEVICE, connect -> AF_UNSPEC -> connect,
# non-blocking connect, the other family. istio-iptables captures each of these; so must
# shunt. A case passes when the proxy saw the connection with the right original destination
# and the backend got it from the proxy; it is a bypass (the worst outcome) when the backend
# saw the app itself. README's "Bypass attempts" table lists the outcomes.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/testbed.sh"
. "$here/../tap.sh"

tap_require_root haproxy

tb_init y
tb_pod a 198.18.0.10 2001:2::10     # meshed by pod-init: HAProxy sidecar (IPv4), a v6 stand-in
tb_pod k 198.18.0.20                # proxy identified by uid and its container's cgroup
tb_pod w 198.18.0.100 2001:2::100   # the world
tb_echo w 0.0.0.0:8080 || tap_bail "backend v4"
tb_echo w "[::]:8081" || tap_bail "backend v6"
SOCK=$TB_TMP/shunt.sock
mkdir -p "$TB_CG/k/proxy" "$TB_CG/k/app"   # two "containers" of pod k
# The fast path off: this test is about which connections are captured. Its exchanges are
# write, half-close, blocking read: with the fast path on that read can fail with EAGAIN (a
# kernel hazard: README, The fast path; tests/kernel/halfclose.t), about half of them in the
# emulated 6.1 guest.
cat > "$TB_TMP/node.yaml" <<YAML
mesh: {auto_detect: false}
acceleration: false
workloads:
  - name: k
    netns: /run/netns/$(tb_ns k)
    proxy: {cgroup: $TB_CG/k/proxy, identity: uid+cgroup}
YAML
"$SHUNT" load --config "$TB_TMP/node.yaml" --pin-dir "$TB_PIN" --cgroup "$TB_CG" >/dev/null ||
	tap_bail "load"
"$SHUNT" run --config "$TB_TMP/node.yaml" --pin-dir "$TB_PIN" --cgroup "$TB_CG" --socket "$SOCK" \
	> "$TB_TMP/run.log" 2>&1 &
TB_PIDS+=($!)
for i in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
out=$(tb_run a "$SHUNT" pod-init --socket "$SOCK" -i '*' -b '*' 2>&1)
check_match "pod a meshed by pod-init" '^shunt pod-init: netns' "$out"
# HAProxy asks SO_ORIGINAL_DST for IPv4 only: an Envoy-like uid 1337 listener that logs
# IP6T_SO_ORIGINAL_DST and echoes stands on [::1]:15001 for IPv6.
tb_bg_as 1337 1337 a "$TOOLS/tcpecho" "[::1]:15001" "$TB_TMP/proxy6.log"
tb_sidecar a || tap_bail "sidecar"
tb_wait_listen a 15001

p6_lines() { cat "$TB_TMP/proxy6.log" 2>/dev/null | grep -c .; }

# attempt DESC EXPECT MODE [ARG] DST: EXPECT is captured (IPv4: through HAProxy, the backend
# sees the proxy), captured6 (IPv6: the stand-in answered, with the original destination), or
# closed (fails, and the backend never sees the app: fail-closed).
attempt() {
	local desc=$1 expect=$2 dst=${*: -1} before b6 out port=${*: -1} seen local
	shift 2
	port=${port##*:}
	before=$(tb_sidecar_count a)
	b6=$(p6_lines)
	seen=$(grep -c . "$TB_TMP/echo-w-$port.log")
	out=$(tb_run a "$TOOLS/bypass" "$@" 2>&1)
	sleep 0.2
	# never direct, whatever else happens: every connection the backend saw since must be one
	# HAProxy made (its via= source); the v6 stand-in and a closed case make none at all. The
	# app's own output plays no part: a direct connection that failed prints no address.
	local=$(sed -n 's/.*local=\([^ ]*\) .*/\1/p' <<<"$out")
	local peers via p bad=
	peers=$(tail -n +$((seen + 1)) "$TB_TMP/echo-w-$port.log" | sed -n 's/^peer=\([^ ]*\) .*/\1/p')
	via=$(tb_sidecar_log a | tail -n +$((before + 1)) | sed -n 's/.* via=\([^ ]*\) .*/\1/p')
	[ "$expect" = captured ] || via=
	# a connection already reset when the backend accepted it has no peer to log ([::]:0):
	# each such one needs a proxy connection of this attempt that no logged peer matched
	local unknown=0 matched=0
	for p in $peers; do
		case $p in
		'[::]:0'|0.0.0.0:0) unknown=$((unknown + 1)) ;;
		*) if grep -qxF -- "$p" <<<"$via"; then matched=$((matched + 1)); else bad="$bad $p"; fi ;;
		esac
	done
	[ "$unknown" -gt $(( $(grep -c . <<<"$via") - matched )) ] && bad="$bad $unknown unattributable"
	if [ -n "$bad" ]; then
		tap_fail "$desc: not a bypass" "the backend saw a connection the proxy did not make:$bad ($out)"
		return
	fi
	tap_ok "$desc: not a bypass (backend saw $(grep -c . <<<"$peers") connection(s), all the proxy's; app socket ${local:-none})"
	case $expect in
	captured)
		check_match "$desc: data intact" '^ok ' "$out"
		if [ "$(tb_sidecar_count a)" -gt "$before" ]; then
			check_match "$desc: the proxy saw original destination $dst" \
				"fe=outbound origdst=${dst#\[::ffff:} " "$(tb_sidecar_log a | tail -1)"
		else
			tap_fail "$desc: the proxy saw it" "$out"
		fi ;;
	captured6)
		check_match "$desc: data intact (the v6 proxy echoed it)" '^ok ' "$out"
		if [ "$(p6_lines)" -gt "$b6" ]; then
			check_match "$desc: the proxy read original destination $dst" \
				"origdst=$(sed 's/[][]/\\&/g' <<<"$dst")\$" "$(tail -1 "$TB_TMP/proxy6.log")"
		else
			tap_fail "$desc: the proxy saw it" "$out"
		fi ;;
	closed)
		check_match "$desc: fails (fail-closed): $out" "^fail " "$out" ;;
	esac
}

attempt "TCP Fast Open, IPv4" captured tfo 198.18.0.100:8080
attempt "TCP Fast Open, IPv6" captured6 tfo "[2001:2::100]:8081"
attempt "io_uring connect" captured uring 198.18.0.100:8080
attempt "v4-mapped IPv6 socket" captured mapped 198.18.0.100:8080
attempt "bound to 127.0.0.6 first" captured bind 127.0.0.6 198.18.0.100:8080
attempt "bound to the pod IP first" captured bind 198.18.0.10 198.18.0.100:8080
attempt "connect, AF_UNSPEC, connect again" captured unspec 198.18.0.100:8080
attempt "non-blocking connect" captured nonblock 198.18.0.100:8080
attempt "the other family (IPv6)" captured6 nonblock "[2001:2::100]:8081"
attempt "SO_BINDTODEVICE eth0" closed device eth0 198.18.0.100:8080

# --- an app that runs as the proxy's uid ------------------------------------------------------
# Under istio-iptables (and shunt's default identity) uid 1337 is the proxy, wherever it runs.
out=$(tb_run_as 1337 1337 a "$TOOLS/tcpclient" 198.18.0.100:8080)
local=$(sed -n 's/.*local=\([^ ]*\) .*/\1/p' <<<"$out")
check "uid identity (istio-iptables'): an app running as 1337 goes direct, as under iptables" \
	grep -qF "peer=$local " "$TB_TMP/echo-w-8080.log"
# Pod k's proxy is uid 1337 *in its container's cgroup*: the app container's 1337 is captured.
TB_POD_CG[k]=$TB_CG/k/proxy
tb_sidecar k || tap_bail "sidecar k"
TB_POD_CG[k]=$TB_CG/k/app
before=$(tb_sidecar_count k)
out=$(tb_run_as 1337 1337 k "$TOOLS/tcpclient" 198.18.0.100:8080)
check_match "uid+cgroup identity: the app container's uid-1337 process: data intact" '^ok local=127\.0\.0\.1:' "$out"
sleep 0.2
check_match "... captured by k's proxy, original destination kept" \
	'fe=outbound origdst=198\.18\.0\.100:8080 ' "$(tb_sidecar_log k | tail -1)"
check_eq "... exactly one proxy connection (the proxy's own upstream was not captured again)" \
	"$((before + 1))" "$(tb_sidecar_count k)"
check_match "dump shows the identity" 'proxy.cgroup +cgroup id [0-9]+ \(identity uid\+cgroup\)' \
	"$("$SHUNT" dump --pin-dir "$TB_PIN")"
# acceleration: proxy knows the proxy's sockets by their owner's uid: not with a cgroup alone
printf 'proxy: {cgroup: %s, identity: cgroup}\nacceleration: proxy\n' "$TB_CG/k/proxy" > "$TB_TMP/cgaccel.yaml"
out=$("$SHUNT" check --config "$TB_TMP/cgaccel.yaml" 2>&1)
check_match "check: acceleration: proxy with proxy.identity: cgroup is refused at its line" \
	"^2:.*cgaccel.yaml:2:[0-9]+: 'acceleration: proxy' knows the proxy's sockets by the proxy's uid" "$?:$out"
printf 'proxy: {cgroup: %s, identity: uid+cgroup}\nacceleration: proxy\n' "$TB_CG/k/proxy" > "$TB_TMP/cgaccel.yaml"
check_match "... with identity uid+cgroup it is taken" "acceleration +proxy" "$("$SHUNT" check --config "$TB_TMP/cgaccel.yaml" 2>&1)"
# check prints what each workload gets, its switch over the node's
printf 'acceleration: true\nmesh: {flavor: linkerd}\nworkloads:\n  - {name: off, netns: /run/netns/x, acceleration: false}\n  - {name: own, netns: /run/netns/y, outbound: {exclude_ports: [5432]}}\n' > "$TB_TMP/wl.yaml"
out=$("$SHUNT" check --config "$TB_TMP/wl.yaml" 2>&1)
check_match "check: a workload's acceleration: false is printed as its own" \
	'workload off +/run/netns/x \(acceleration false, its own; the node.s policy\)' "$out"
check_match "... one with policy keys has a policy of its own, the node's acceleration" \
	'workload own +/run/netns/y \(acceleration true; a policy of its own' "$out"
check_match "... mesh.flavor and the queue limit are printed" 'mesh.flavor +linkerd.*acceleration_queue_limit|acceleration_queue_limit +4194304 bytes.*mesh.flavor +linkerd' "$(tr '\n' ' ' <<<"$out")"
tap_done
