# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# A sandbox node for tests and the demo: "pods" = a network namespace + a cgroup, joined by
# veth to a bridge in a switch netns; a backend netns plays the rest of the world. Addresses
# come from 198.18.0.0/15 (benchmarking range) and nothing routes off the machine.
# Source it, call tb_init, and tb_cleanup runs on EXIT: it kills only the processes it
# started, deletes its namespaces, cgroups and pins, also when a test fails.

TB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHUNT=${SHUNT:-$TB_ROOT/build/shunt}
TOOLS=$TB_ROOT/build/tools

tb_init() {
	local tag=${1:-t}
	TB_ID="${tag}$$"                       # short: interface names stop at 15 characters
	TB_TMP=$(mktemp -d "/tmp/shunt-$TB_ID.XXXXXX")
	chmod 1777 "$TB_TMP"                   # proxies run as uid 1337: they read configs, write logs
	TB_CGROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	[ -n "$TB_CGROOT" ] || { echo "no cgroup2 mount in /proc/mounts" >&2; return 1; }
	TB_CG="$TB_CGROOT/shunt-test-$TB_ID"
	TB_PIN="/sys/fs/bpf/shunt-test-$TB_ID"
	TB_SW="shunt-$TB_ID-sw"
	TB_PIDS=()
	TB_NS=()
	TB_EXTRA_PINS=()                       # pin dirs of more shunt instances (tb_instance)
	TB_EXTRA_CGS=()
	declare -gA TB_POD_CG=()               # pod -> its cgroup, when not under $TB_CG
	trap tb_cleanup EXIT
	trap 'exit 130' INT TERM
	mkdir -p "$TB_CG"
	ip netns add "$TB_SW"
	TB_NS+=("$TB_SW")
	ip -n "$TB_SW" link add br0 type bridge
	ip -n "$TB_SW" link set br0 up
	ip -n "$TB_SW" link set lo up
}

tb_cleanup() {
	local rc=$? pid ns pin cg i procs
	trap - EXIT
	for pid in "${TB_PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${TB_PIDS[@]}"; do
		# tcpecho forks one child per connection; they are in the pod's cgroup.
		wait "$pid" 2>/dev/null
	done
	# Processes still in our cgroups are ours (children of what we started); a cgroup is only
	# removable once they are gone, which can take a moment (a proxy with many sockets).
	for i in $(seq 30); do
		procs=$(find "$TB_CG" "${TB_EXTRA_CGS[@]}" -name cgroup.procs -exec cat {} + 2>/dev/null)
		[ -n "$procs" ] || break
		xargs -r kill -9 <<<"$procs" 2>/dev/null
		sleep 0.1
	done
	for pin in "$TB_PIN" "${TB_EXTRA_PINS[@]}"; do
		[ -d "$pin" ] && "$SHUNT" unload --pin-dir "$pin" >/dev/null 2>&1
		[ -d "$pin" ] && rm -rf "$pin"
	done
	for ns in "${TB_NS[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	for cg in "$TB_CG" "${TB_EXTRA_CGS[@]}"; do
		[ -d "$cg" ] || continue
		find "$cg" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null
		rmdir "$cg" 2>/dev/null
	done
	[ -n "$TB_TMP" ] && rm -rf "$TB_TMP"
	exit "$rc"
}

# tb_instance NAME: a second shunt's cgroup and pin dir, beside this sandbox's, removed by
# tb_cleanup. Sets TB_CG_<NAME> and TB_PIN_<NAME>.
tb_instance() {
	local cg="$TB_CGROOT/shunt-test-$TB_ID-$1" pin="/sys/fs/bpf/shunt-test-$TB_ID-$1"
	mkdir -p "$cg"
	TB_EXTRA_CGS+=("$cg")
	TB_EXTRA_PINS+=("$pin")
	printf -v "TB_CG_$1" '%s' "$cg"
	printf -v "TB_PIN_$1" '%s' "$pin"
}

# tb_pod_cg POD: the cgroup POD's processes join.
tb_pod_cg() { echo "${TB_POD_CG[$1]:-$TB_CG/$1}"; }

# tb_ns POD -> the netns name of POD
tb_ns() { echo "shunt-$TB_ID-$1"; }

# tb_pod POD IPV4 [IPV6]: a netns on the bridge with the address(es), its own cgroup
# (under $TB_CG, or under $TB_POD_PARENT when set: another shunt instance's cgroup).
tb_pod() {
	local pod=$1 ip4=$2 ip6=${3:-} ns host
	ns=$(tb_ns "$pod")
	host="v$TB_ID$pod"
	host=${host:0:15}
	ip netns add "$ns"
	TB_NS+=("$ns")
	ip link add "$host" type veth peer name eth0 netns "$ns"
	ip link set "$host" netns "$TB_SW"
	ip -n "$TB_SW" link set "$host" master br0 up
	ip -n "$ns" link set lo up
	ip -n "$ns" addr add "$ip4/24" dev eth0
	[ -n "$ip6" ] && ip -n "$ns" addr add "$ip6/64" dev eth0 nodad
	ip -n "$ns" link set eth0 up
	# Everything in 198.18.0.0/15 is on the bridge; no default route, nothing leaves.
	ip -n "$ns" route add 198.18.0.0/15 dev eth0
	[ -n "${TB_POD_PARENT:-}" ] && TB_POD_CG[$pod]="$TB_POD_PARENT/$pod"
	mkdir -p "$(tb_pod_cg "$pod")"
}

# tb_addr POD IP/LEN: one more address on the pod's eth0.
tb_addr() { ip -n "$(tb_ns "$1")" addr add "$2" dev eth0; }

# tb_run POD CMD...: run CMD inside POD: join its cgroup first (cgroup hooks follow the
# cgroup a socket is created in), then enter its netns. ip netns exec would remount /sys.
tb_run() {
	local pod=$1
	shift
	sh -c 'echo $$ > "$1/cgroup.procs" && ns=$2 && shift 2 && exec nsenter --net="$ns" -- "$@"' \
		sh "$(tb_pod_cg "$pod")" "/run/netns/$(tb_ns "$pod")" "$@"
}

# tb_run_as UID GID POD CMD...
tb_run_as() {
	local uid=$1 gid=$2
	shift 2
	local pod=$1
	shift
	tb_run "$pod" setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@"
}

# tb_bg POD CMD...: start in the background, remember the PID for cleanup.
tb_bg() {
	tb_run "$@" &
	TB_PIDS+=($!)
}

tb_bg_as() {
	tb_run_as "$@" &
	TB_PIDS+=($!)
}

# tb_wait_listen POD PORT: until something listens on PORT in POD (up to 5 s).
tb_wait_listen() {
	local ns i
	ns=$(tb_ns "$1")
	for i in $(seq 50); do
		ip netns exec "$ns" ss -Hltn "sport = :$2" 2>/dev/null | grep -q . && return 0
		sleep 0.1
	done
	echo "nothing listens on port $2 in pod $1" >&2
	return 1
}

# tb_echo POD ADDR:PORT: a tcpecho server; its connection log is $TB_TMP/echo-POD-PORT.log
tb_echo() {
	local pod=$1 addr=$2 port=${2##*:}
	tb_bg "$pod" "$TOOLS/tcpecho" "$addr" "$TB_TMP/echo-$pod-$port.log"
	tb_wait_listen "$pod" "$port"
}

# The sidecars' idle timeout in seconds (tb_sidecar).
TB_PROXY_IDLE_S=20
[ -n "${SHUNT_VM:-}" ] && TB_PROXY_IDLE_S=120

# tb_sidecar POD: HAProxy as uid/gid 1337 in Istio's shape: outbound listener 127.0.0.1:15001
# forwarding each connection to its SO_ORIGINAL_DST; inbound listener 0.0.0.0:15006
# forwarding from 127.0.0.6 to the original destination (Envoy's inbound passthrough).
# TB_SIDECAR_MAXCONN (default 4096) sets its maxconn; raise ulimit -n to match first. Its
# idle timeouts are 20 s, 120 s in the emulated guest (SHUNT_VM: everything runs ~50 times
# slower there, so 20 s of wall clock is a fraction of a second of the host's work).
# One line per connection, read with tb_sidecar_log POD:
#   client=IP:PORT fe=outbound|inbound origdst=IP:PORT via=BACKEND-SOURCE server=IP:PORT
# Each start logs to a file of its own: HAProxy resets stdout's flags (O_APPEND with them),
# so a restarted one would overwrite its predecessor's lines.
tb_sidecar() {
	local pod=$1 cfg="$TB_TMP/haproxy-$1.cfg" stat
	# its stats socket, abstract (in the pod's netns: uid 1337 cannot write to TB_TMP)
	stat="shunt-$TB_ID-$pod-$(date +%s%N)"
	echo "$stat" >> "$TB_TMP/haproxy-$pod.stats"
	cat > "$cfg" <<CFG
global
    log stdout format raw local0
    maxconn ${TB_SIDECAR_MAXCONN:-4096}
    stats socket abns@$stat level user
defaults
    mode tcp
    log global
    timeout connect 2s
    timeout client ${TB_PROXY_IDLE_S}s
    timeout server ${TB_PROXY_IDLE_S}s
    log-format "client=%ci:%cp fe=%ft origdst=%fi:%fp via=%bi:%bp server=%si:%sp bytes=%B up=%U term=%ts"
frontend outbound
    bind 127.0.0.1:15001
    default_backend passthrough
backend passthrough
    server s 0.0.0.0:0
frontend inbound
    bind 0.0.0.0:15006
    # straight to 15006 from outside would loop through the proxy (Envoy rejects it too)
    tcp-request connection reject if { dst_port 15006 }
    default_backend inbound_passthrough
backend inbound_passthrough
    source 127.0.0.6
    server app 0.0.0.0:0
CFG
	local log
	log="$TB_TMP/haproxy-$pod.$(date +%s%N).log"
	tb_run_as 1337 1337 "$pod" haproxy -db -f "$cfg" > "$log" 2>&1 &
	TB_PIDS+=($!)
	tb_wait_listen "$pod" 15001 && tb_wait_listen "$pod" 15006
}

# tb_sidecar_log POD: the connection lines of every sidecar POD has run, oldest first.
tb_sidecar_log() { cat "$TB_TMP/haproxy-$1".*.log 2>/dev/null | grep '^client='; }
# tb_sidecar_count POD: how many connections POD's sidecars have logged.
tb_sidecar_count() { tb_sidecar_log "$1" | grep -c .; }
# tb_wait_sidecar POD N: until POD's sidecars have logged N connections (3 s); 1 if not.
tb_wait_sidecar() {
	local i
	for i in $(seq 30); do
		[ "$(tb_sidecar_count "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# tb_sidecar_accepted POD FRONTEND: connections POD's running sidecars have accepted on
# FRONTEND (outbound|inbound) since they started, from their stats sockets: counted at
# accept, where a log line waits for the session's end. Prints "unreachable" (never a 0 that
# could pass for "nothing captured") when no sidecar of POD answers or none has FRONTEND.
tb_sidecar_accepted() {
	tb_run "$1" python3 -c '
import socket, sys
total = 0
seen = False
for name in open(sys.argv[1]).read().split():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        # HAProxy binds abstract names padded with NULs to the whole sun_path
        s.connect(("\0" + name).ljust(108, "\0"))
    except OSError:
        continue          # that sidecar is gone
    s.sendall(b"show stat\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    rows = data.decode().splitlines()
    head = rows[0].lstrip("# ").split(",")
    for r in rows[1:]:
        f = r.split(",")
        if len(f) == len(head) and f[0] == sys.argv[2] and f[1] == "FRONTEND":
            total += int(f[head.index("stot")] or 0)
            seen = True
print(total if seen else "unreachable")' "$TB_TMP/haproxy-$1.stats" "$2"
}

# tb_pod_del POD: the pod goes away: its processes, its netns.
tb_pod_del() {
	local pod=$1 ns host i cg
	ns=$(tb_ns "$pod")
	cg=$(tb_pod_cg "$pod")
	host="v$TB_ID$pod"
	host=${host:0:15}
	for i in $(seq 20); do
		xargs -r kill -9 < "$cg/cgroup.procs" 2>/dev/null
		[ -s "$cg/cgroup.procs" ] || break
		sleep 0.1
	done
	# The veth pair goes now, not when the kernel gets round to tearing the netns down: a
	# pod of the same name may be made again at once.
	ip -n "$TB_SW" link del "$host" 2>/dev/null
	ip netns del "$ns"
	rmdir "$cg" 2>/dev/null
}

# tb_shunt_run CONFIG: shunt load, then shunt run in the background, serving pod-init at
# $SOCK ($TB_TMP/shunt.sock); returns once the socket is there (up to 5 s).
tb_shunt_run() {
	local i
	SOCK=$TB_TMP/shunt.sock
	"$SHUNT" load --config "$1" --pin-dir "$TB_PIN" --cgroup "$TB_CG" > "$TB_TMP/load.log" 2>&1 ||
		{ echo "load: $(cat "$TB_TMP/load.log")" >&2; return 1; }
	"$SHUNT" run --config "$1" --pin-dir "$TB_PIN" --cgroup "$TB_CG" --socket "$SOCK" \
		>> "$TB_TMP/run.log" 2>&1 &
	TB_PIDS+=($!)
	for i in $(seq 50); do [ -S "$SOCK" ] && return 0; sleep 0.1; done
	echo "shunt run: $(cat "$TB_TMP/run.log")" >&2
	return 1
}

# tb_counter JSON NAME: a counter out of 'shunt status --json' output.
tb_counter() { sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" <<<"$1"; }

# tb_status: shunt status --json for this sandbox's pin dir.
tb_status() { "$SHUNT" status --json --pin-dir "$TB_PIN"; }
