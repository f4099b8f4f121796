#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Two shunts on one node, each on its own cgroup and pin dir (a second one loaded by hand
# to debug, or two test suites side by side): each meshes only the pods whose processes live
# in its cgroup, and never takes the other's pods, links or listeners. Also: the loopback
# addresses of a pod (127.0.0.6, ::6 on lo, as Istio adds them) are never pod addresses.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/testbed.sh"
. "$here/../tap.sh"
tap_require_root haproxy

tb_init s
tb_instance two
tb_pod a 198.18.0.10            # shunt one's pod, HAProxy sidecar
tb_pod c 198.18.0.30            # a client outside the mesh
TB_POD_PARENT=$TB_CG_two tb_pod d 198.18.0.40   # shunt two's pod, HAProxy sidecar
ip -n "$(tb_ns a)" -6 addr add ::6/128 dev lo   # Istio's IPv6 inbound passthrough source
for p in a d; do
	tb_echo "$p" 0.0.0.0:8080 || tap_bail "app $p"
	tb_sidecar "$p" || tap_bail "sidecar $p: $(cat "$TB_TMP"/haproxy-"$p".*.log)"
done

inbound_lines() { tb_sidecar_log "$1" | grep -c 'fe=inbound'; }
# steered_to POD DESC: c -> POD:8080 is accepted by POD's own sidecar, original dst kept
steered_to() {
	local pod=$1 ip=$2 desc=$3 n0 out i
	n0=$(inbound_lines "$pod")
	out=$(tb_run c "$TOOLS/tcpclient" "$ip:8080")
	for i in $(seq 50); do [ "$(inbound_lines "$pod")" -gt "$n0" ] && break; sleep 0.1; done
	check_match "$desc: data intact" '^ok ' "$out"
	check_match "$desc: $pod's own sidecar accepted it, original destination $ip:8080" \
		"fe=inbound origdst=$ip:8080 " "$(tb_sidecar_log "$pod" | grep 'fe=inbound' | tail -1)"
}
# meshed PIN: the netns inodes a shunt's dump lists as meshed, sorted
meshed() { "$SHUNT" dump --pin-dir "$1" | awk '$1 == "netns" && $3 == "ino" { print $4 }' | sort; }
ino() { stat -L -c %i "/run/netns/$(tb_ns "$1")"; }

CFG=$TB_TMP/shunt.yaml
printf 'inbound:\n  include_ports: ["*"]\n' > "$CFG"
out=$("$SHUNT" load --config "$CFG" --pin-dir "$TB_PIN" --cgroup "$TB_CG" 2>&1)
check_eq "shunt one loads on its cgroup" "0" "$?"
check_eq "shunt one meshes only pod a (its cgroup)" "$(ino a)" "$(meshed "$TB_PIN")"
steered_to a 198.18.0.10 "shunt one alone: c -> a"

out=$("$SHUNT" load --config "$CFG" --pin-dir "$TB_PIN_two" --cgroup "$TB_CG_two" 2>&1)
check_eq "shunt two loads on another cgroup" "0" "$?"
check_eq "shunt two meshes only pod d, though a's proxy listens too" "$(ino d)" "$(meshed "$TB_PIN_two")"
check_eq "shunt two attached no sk_lookup link to pod a" "1" \
	"$(find "$TB_PIN_two/links" -name 'sk_lookup_*' | grep -c .)"
steered_to a 198.18.0.10 "with shunt two loaded: c -> a"
steered_to d 198.18.0.40 "with shunt two loaded: c -> d"

out=$("$SHUNT" apply --config "$CFG" --pin-dir "$TB_PIN" 2>&1)
check_eq "apply on shunt one" "0" "$?"
check_eq "... still meshes only pod a" "$(ino a)" "$(meshed "$TB_PIN")"
out=$("$SHUNT" apply --config "$CFG" --pin-dir "$TB_PIN_two" 2>&1)
check_eq "apply on shunt two" "0" "$?"
check_eq "... still meshes only pod d" "$(ino d)" "$(meshed "$TB_PIN_two")"
steered_to a 198.18.0.10 "after both applied: c -> a"
steered_to d 198.18.0.40 "after both applied: c -> d"

dump=$("$SHUNT" dump --pin-dir "$TB_PIN")
check_match "pod a's own address is a pod address" '198\.18\.0\.10' "$dump"
check_nomatch "::6 on pod a's lo is not a pod address" '(^|[ ,])::6([ ,/]|$)' "$dump"
check_nomatch "no 127.x address is a pod address" '127\.0\.0\.' "$dump"

# A pod goes and a new one takes its address before shunt looks again: one refresh sees
# both. The new pod's address entry must survive the old pod's removal, or its proxy's
# SO_ORIGINAL_DST has no answer and inbound connections to it fail.
tb_pod e 198.18.0.50
tb_echo e 0.0.0.0:8080 || tap_bail "app e"
tb_sidecar e || tap_bail "sidecar e"
out=$("$SHUNT" apply --config "$CFG" --pin-dir "$TB_PIN" 2>&1)
steered_to e 198.18.0.50 "pod e meshed"
tb_pod_del e 2>/dev/null
tb_pod f 198.18.0.50
ip -n "$(tb_ns c)" neigh flush all      # c still knows e's MAC for the address
tb_echo f 0.0.0.0:8080 || tap_bail "app f"
tb_sidecar f || tap_bail "sidecar f"
out=$("$SHUNT" apply --config "$CFG" --pin-dir "$TB_PIN" 2>&1)
check_eq "apply with pod e gone and pod f on its address" "0" "$?"
steered_to f 198.18.0.50 "pod f, on pod e's old address"

# Pins are root's alone: the pin dir 0700, a non-root user cannot open a map.
check_eq "pin dir mode 0700" "700" "$(stat -c %a "$TB_PIN")"
# Refused by the path lookup (EACCES), not by some other failure of bpf() (EPERM when
# unprivileged BPF is off would pass for any file). bpftool's own statfs fails first and says
# "not in bpffs", so BPF_OBJ_GET is called directly.
obj_get() { # obj_get PATH [RUNAS...]: bpf(BPF_OBJ_GET) on PATH; prints "fd" or the errno's name
	local path=$1
	shift
	"$@" /usr/bin/python3 -c '
import ctypes, errno, platform, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
path = ctypes.create_string_buffer(sys.argv[1].encode())
attr = ctypes.create_string_buffer(128)      # union bpf_attr: pathname, bpf_fd, file_flags
struct.pack_into("Q", attr, 0, ctypes.addressof(path))
nr = {"x86_64": 321, "aarch64": 280}[platform.machine()]
r = libc.syscall(nr, 7, attr, 128)           # BPF_OBJ_GET
print("fd" if r >= 0 else errno.errorcode[ctypes.get_errno()])' "$path"
}
check_eq "a non-root user cannot open a pinned map: BPF_OBJ_GET fails at the path (EACCES)" "EACCES" \
	"$(obj_get "$TB_PIN/maps/shunt_odst_v2" setpriv --reuid=65534 --regid=65534 --clear-groups -- 2>&1)"
check_eq "... where root's BPF_OBJ_GET opens it" "fd" "$(obj_get "$TB_PIN/maps/shunt_odst_v2")"

check "unload shunt two" "$SHUNT" unload --pin-dir "$TB_PIN_two"
steered_to a 198.18.0.10 "shunt two unloaded: c -> a untouched"
tap_done
