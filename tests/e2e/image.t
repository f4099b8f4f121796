#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The DaemonSet's image in a real container runtime (podman with runc), run as the DaemonSet
# runs it: host network and PID namespace, the DaemonSet's hostPath mounts, its ConfigMap
# mounted read-only, all capabilities dropped but the ones the rendered DaemonSet adds, the
# runtime's default seccomp profile. It must load, be ready on /readyz and capture a pod's
# traffic through the pod's proxy. Then the same run without each of those capabilities in
# turn must not capture: the set is the smallest that works (measured, not assumed).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$here/../..
. "$top/scripts/testbed.sh"
. "$here/../tap.sh"

tap_require_root podman runc kubectl curl haproxy
# the emulated guest (scripts/vmtest.sh) sees this machine read-only: no container store
[ -n "${SHUNT_VM:-}" ] && tap_skip_all "podman needs a writable container store (not in the VM guest)"

tb_init i
tb_pod a 198.18.0.10     # meshed by its proxy (auto_detect)
tb_pod w 198.18.0.100
tb_echo w 0.0.0.0:7001 || tap_bail "world"
tb_sidecar a || tap_bail "sidecar a"

# make image's build: both architectures, one tag (a manifest list), arm64 cross-built
IMAGE=localhost/shunt-test:$TB_ID
cleanup_image() {
	podman manifest rm "$IMAGE" > /dev/null 2>&1
	podman rmi -f "$IMAGE" "$IMAGE-amd64" "$IMAGE-arm64" > /dev/null 2>&1
}
out=$(SHUNT_IMAGE_ARCHS="amd64 arm64" "$top/scripts/image.sh" "$IMAGE" 2>&1)
check_match "make image: built offline, amd64 from build/shunt" "^$IMAGE-amd64 \(amd64, [0-9]* bytes\)" "$out"
check_match "... arm64 cross-built" "^$IMAGE-arm64 \(arm64, [0-9]* bytes\)" "$out"
echo "$out" | sed 's/^/# /'
check_eq "... under one tag: a manifest list of both" "amd64 arm64" \
	"$(podman manifest inspect "$IMAGE" | sed -n 's/.*"architecture": "\(.*\)".*/\1/p' | sort | paste -sd' ' -)"
# what the arm64 image holds is arm64 through and through (the arm64 guest of arm64.t runs
# the same content: scripts/rootfs.sh)
cid=$(podman create --arch arm64 "$IMAGE-arm64" 2>/dev/null)
mkdir -p "$TB_TMP/arm64"
podman cp "$cid:/usr/local/bin/shunt" "$TB_TMP/arm64/shunt" > /dev/null 2>&1
podman cp "$cid:/lib/ld-linux-aarch64.so.1" "$TB_TMP/arm64/ld" > /dev/null 2>&1
podman rm -f "$cid" > /dev/null 2>&1
check_match "... its shunt is an arm64 executable" 'ELF 64-bit LSB .*ARM aarch64' "$(file -L "$TB_TMP/arm64/shunt")"
check_match "... with arm64's loader beside it" 'ELF 64-bit LSB .*ARM aarch64' "$(file -L "$TB_TMP/arm64/ld")"

# The capabilities the DaemonSet adds, from the rendered manifest
caps=$(kubectl kustomize "$top/deploy" | awk '/^ *add:$/ { on = 1; next }
	on && /^ *- / { sub(/^ *- /, ""); print; next } on { exit }')
check "the DaemonSet adds capabilities" test -n "$caps"
echo "# the DaemonSet's capabilities: $(echo $caps)"

mkdir -p "$TB_TMP/config" "$TB_TMP/socket"
printf 'acceleration: true\n' > "$TB_TMP/config/shunt.yaml"
HTTP=$((20000 + RANDOM % 20000))
# run_container NAME CAPS...: the DaemonSet's container, confined to this sandbox's cgroup and
# pin dir (the real one attaches to the node's cgroup2 root); the container's id on stdout
run_container() {
	local name=$1 add=()
	shift
	for c in "$@"; do add+=(--cap-add "CAP_$c"); done
	podman run -d --name "$name" --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 \
		--network host --pid host --cgroupns host --cap-drop ALL "${add[@]}" \
		-v /sys/fs/bpf:/sys/fs/bpf:rslave -v /sys/fs/cgroup:/sys/fs/cgroup \
		-v /run/netns:/run/netns:rslave -v "$TB_TMP/config:/etc/shunt:ro" \
		-v "$TB_TMP/socket:/var/run/shunt" "$IMAGE" \
		run --config /etc/shunt/shunt.yaml --listen "127.0.0.1:$HTTP" \
		--pin-dir "$TB_PIN" --cgroup "$TB_CG" --socket /var/run/shunt/shunt.sock
}
stop_container() {
	podman rm -f "$1" > /dev/null 2>&1
	"$SHUNT" unload --pin-dir "$TB_PIN" > /dev/null 2>&1
}
trap 'for n in $(podman ps -a --format "{{.Names}}" | grep "^shunt-test-$TB_ID-"); do
	podman rm -f "$n" > /dev/null 2>&1; done; cleanup_image; tb_cleanup' EXIT
# captured: a connection from pod a reached its proxy (one more HAProxy line)
# captured: a connection from pod a was accepted by its proxy (counted at accept: a log line
# waits for the session's end). not_captured: it worked, and the proxy, which answers, did not.
captured() {
	local before
	before=$(tb_sidecar_accepted a outbound)
	tb_run a "$TOOLS/tcpclient" -t 3 198.18.0.100:7001 > /dev/null
	[ "$(tb_sidecar_accepted a outbound)" = "$((before + 1))" ]
}
not_captured() {
	local before out
	before=$(tb_sidecar_accepted a outbound)
	out=$(tb_run a "$TOOLS/tcpclient" -t 3 198.18.0.100:7001)
	[[ $before =~ ^[0-9]+$ ]] && [ "${out%% *}" = ok ] &&
		[ "$(tb_sidecar_accepted a outbound)" = "$before" ]
}
ready() { # up to 6 s
	for i in $(seq 30); do curl -fs "http://127.0.0.1:$HTTP/readyz" > /dev/null && return 0; sleep 0.2; done
	return 1
}

# --- the DaemonSet's set ------------------------------------------------------------------------
name=shunt-test-$TB_ID-all
run_container "$name" $caps > /dev/null
check "with the DaemonSet's capabilities: /readyz answers 200" ready
sleep 0.5
check "... and pod a's connection is captured by its proxy" captured
check_match "... the proxy read the original destination" 'origdst=198.18.0.100:7001 ' "$(tb_sidecar_log a | tail -1)"
check_eq "... the container still runs" "running" "$(podman inspect -f '{{.State.Status}}' "$name")"
check "... and its pins are on the host's bpffs" test -e "$TB_PIN/links/shunt_connect4"
stop_container "$name"
if captured; then
	tap_fail "container stopped and unloaded: nothing is captured" "a connection still was"
else
	tap_ok "container stopped and unloaded: nothing is captured"
fi

# --- the DaemonSet's pod template played by podman, the closest thing to a kubelet here ------
# podman 4.3 has no DaemonSet kind: the template becomes a Pod, unchanged but for what confines
# it to this sandbox (image, pin dir, cgroup, socket dir, probe port). The ConfigMap is the
# rendered one, mounted by podman as a kubelet would.
kubectl kustomize "$top/deploy" > "$TB_TMP/rendered.yaml"
cat > "$TB_TMP/topod.py" <<'PY'
import sys, yaml
rendered, image, pin, cg, sock, port, name, out_pod, out_cm = sys.argv[1:10]
remap = dict(a.split("=", 1) for a in sys.argv[10:])   # hostPath volume name -> scratch path
docs = [d for d in yaml.safe_load_all(open(rendered)) if d]
ds = next(d for d in docs if d["kind"] == "DaemonSet")
cm = next(d for d in docs if d["kind"] == "ConfigMap")
spec = ds["spec"]["template"]["spec"]
c = spec["containers"][0]
c["image"] = image
c["command"] = [a.replace("15014", port) for a in c["command"]] + ["--pin-dir", pin, "--cgroup", cg]
# podman 4.3 refuses ports with host networking (a kubelet takes them: hostPort = containerPort);
# they only name the port for a PodMonitor
c.pop("ports", None)
for probe in ("livenessProbe", "readinessProbe"):
    c[probe]["httpGet"]["port"] = int(port)
for v in spec["volumes"]:
    if v["name"] == "socket":
        v["hostPath"]["path"] = sock
    if v["name"] in remap:
        v["hostPath"]["path"] = remap[v["name"]]
# podman 4.3 refuses fieldRef spec.nodeName (a kubelet fills it in): the value, literally
for e in c.get("env", []):
    if e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "spec.nodeName":
        e.pop("valueFrom")
        e["value"] = "node-1"
pod = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": name, "labels": ds["spec"]["template"]["metadata"]["labels"]},
       "spec": spec}
yaml.safe_dump(pod, open(out_pod, "w"))
yaml.safe_dump(cm, open(out_cm, "w"))
PY
name=shunt-test-$TB_ID-kube
python3 "$TB_TMP/topod.py" "$TB_TMP/rendered.yaml" "$IMAGE" "$TB_PIN" "$TB_CG" "$TB_TMP/socket" \
	"$HTTP" "$name" "$TB_TMP/pod.yaml" "$TB_TMP/cm.yaml" || tap_bail "pod template"
# crun fails on this machine's hybrid cgroup mount: runc, and the limits podman run gets above
printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n' > "$TB_TMP/containers.conf"
kube_down() {
	CONTAINERS_CONF=$TB_TMP/containers.conf podman --runtime runc kube down "$TB_TMP/pod.yaml" > /dev/null 2>&1
	[ -n "${pause_made:-}" ] && podman rmi -f $(podman images -q --filter reference=localhost/podman-pause) > /dev/null 2>&1
	pause_made=
}
trap 'kube_down; for n in $(podman ps -a --format "{{.Names}}" | grep "^shunt-test-$TB_ID-"); do
	podman rm -f "$n" > /dev/null 2>&1; done; cleanup_image; tb_cleanup' EXIT
# kube play builds a local pause image for the pod's infra container when there is none
pause_made=$(podman images -q --filter reference=localhost/podman-pause | grep -q . || echo yes)
out=$(CONTAINERS_CONF=$TB_TMP/containers.conf podman --runtime runc kube play \
	--configmap "$TB_TMP/cm.yaml" "$TB_TMP/pod.yaml" 2>&1)
check_eq "podman kube play of the DaemonSet's pod template: started" "0" "$?"
[ "${out#*Error}" = "$out" ] || echo "# $out"
ctr=$(podman ps -a --filter "pod=$name" --format '{{.Names}}' | grep -v infra | head -1)
check "... /readyz answers 200" ready
check_match "... with exactly the manifest's capabilities" '^\[?CAP_SYS_ADMIN CAP_SYS_PTRACE\]?$|^\[?CAP_SYS_PTRACE CAP_SYS_ADMIN\]?$' \
	"$(podman inspect -f '{{.EffectiveCaps}}' "$ctr" 2>&1)"
check_match "... on the host's network" '^host$' "$(podman inspect -f '{{.HostConfig.NetworkMode}}' "$ctr")"
check "... its programs attached and pinned on the host's bpffs" test -e "$TB_PIN/links/shunt_connect4"
# BPF maps are charged to the loader's memory cgroup: preallocated maps failed this load
check_eq "... within the manifest's memory limit (the maps are charged to it)" "$((64 << 20))" \
	"$(podman inspect -f '{{.HostConfig.Memory}}' "$ctr")"
check_match "... the ConfigMap's file (Istio's defaults) in force" 'exclude_ports +15020-15021,15090' \
	"$("$SHUNT" dump --pin-dir "$TB_PIN" 2>&1)"
# podman 4.3's kube play ignores hostPID (the container gets a PID namespace of its own), so
# this shunt cannot see pods' processes: meshing is checked with podman run --pid host above.
echo "# podman kube play: PID namespace '$(podman inspect -f '{{.HostConfig.PidMode}}' "$ctr")' (hostPID ignored by podman $(podman version -f '{{.Client.Version}}'))"
kube_down
"$SHUNT" unload --pin-dir "$TB_PIN" > /dev/null 2>&1

# --- CNI mode: deploy/cni's template played the same way, the host's CNI dirs a scratch copy --
# As README's "Installing on a cluster" has it (kubectl apply -k deploy/cni): the plugin lands
# in the host's bin dir, is appended to the network configuration, and only then is the pod
# ready. (No API server here: the in-cluster lookup is cni.t's, against a stand-in.)
kubectl kustomize "$top/deploy/cni" > "$TB_TMP/rendered.yaml"
mkdir -p "$TB_TMP/hostcni/bin" "$TB_TMP/hostcni/net.d"
printf '{"cniVersion":"1.0.0","name":"podnet","plugins":[{"type":"bridge","bridge":"cni0","ipam":{"type":"host-local","subnet":"198.18.90.0/24"}}]}\n' \
	> "$TB_TMP/hostcni/net.d/10-podnet.conflist"
python3 "$TB_TMP/topod.py" "$TB_TMP/rendered.yaml" "$IMAGE" "$TB_PIN" "$TB_CG" "$TB_TMP/socket" \
	"$HTTP" "$name" "$TB_TMP/pod.yaml" "$TB_TMP/cm.yaml" "cni-bin=$TB_TMP/hostcni/bin" \
	"cni-conf=$TB_TMP/hostcni/net.d" || tap_bail "pod template (cni)"
out=$(CONTAINERS_CONF=$TB_TMP/containers.conf podman --runtime runc kube play \
	--configmap "$TB_TMP/cm.yaml" "$TB_TMP/pod.yaml" 2>&1)
check_eq "deploy/cni's pod template played: started" "0" "$?"
[ "${out#*Error}" = "$out" ] || echo "# $out"
check "... /readyz answers 200" ready
check "... the plugin is in the host's CNI bin dir" cmp -s "$TB_TMP/hostcni/bin/shunt-cni" "$top/build/shunt-cni"
check_eq "... and appended to the host's network configuration" "bridge shunt-cni" \
	"$(python3 -c 'import json,sys; print(" ".join(p["type"] for p in json.load(open(sys.argv[1]))["plugins"]))' \
	"$TB_TMP/hostcni/net.d/10-podnet.conflist")"
kube_down
"$SHUNT" unload --pin-dir "$TB_PIN" > /dev/null 2>&1

# --- each capability is needed ----------------------------------------------------------------
for drop in $caps; do
	rest=$(for c in $caps; do [ "$c" = "$drop" ] || echo "$c"; done)
	name=shunt-test-$TB_ID-no-$drop
	run_container "$name" $rest > /dev/null
	ready
	sleep 0.5
	# the container ran shunt: still running (loaded, nothing meshed) or exited saying why
	state=$(podman inspect -f '{{.State.Status}}' "$name" 2>&1)
	why=$(podman logs "$name" 2>&1 | grep -m1 'error')
	check "without $drop: the container ran shunt ($state${why:+: ${why#shunt: }})" \
		test "$state" = running -o \( "$state" = exited -a -n "$why" \)
	check "without $drop: pod a's connection works and goes direct, its proxy did not get it" not_captured
	stop_container "$name"
done
tap_done
