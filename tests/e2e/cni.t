#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# CNI mode: build/shunt-cni, run as a container runtime runs it (CNI_* environment, the
# network configuration with prevResult on stdin), hands ADD/DEL/CHECK to `shunt run`, which
# looks the pod up in a Kubernetes API stand-in (recorded pod objects over HTTP, as a real API
# server returns them) and meshes the pod's netns before ADD returns. Every capture check is
# a real connection through a real HAProxy sidecar; Istio's istio-validation steps run
# unmodified against the result. Then the failures: each a clear ADD error and nothing
# half-meshed. Last, podman with its CNI backend runs the real chain (bridge + host-local +
# shunt-cni) for a pod with a sidecar and one without.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$here/../..
. "$top/scripts/testbed.sh"
. "$here/../tap.sh"

tap_require_root haproxy openssl
PLUGIN=$top/build/shunt-cni
FIX=$top/tests/fixtures/pods

tb_init n
tb_pod a 198.18.0.10     # shop/web: an Istio-injected pod (CNI mode)
tb_pod b 198.18.0.20     # shop/db: no sidecar
tb_pod l 198.18.0.40     # shop/api: Linkerd
tb_pod p 198.18.0.50     # the same policy through pod-init, for parity
tb_pod v 198.18.0.60     # shop/val: istio-validation's steps
tb_pod e 198.18.0.70     # the failures: must stay unmeshed
tb_pod r 198.18.0.80     # shop/early: started before the plugin (repaired at start)
tb_pod w 198.18.0.100    # the world
tb_echo w 0.0.0.0:7000 || tap_bail "world"

# The API stand-in: recorded objects, a bearer token it insists on
API=$TB_TMP/api
mkdir -p "$API/pods/shop" "$API/namespaces"
cp "$FIX/istio-web.json" "$API/pods/shop/web.json"
cp "$FIX/plain-db.json" "$API/pods/shop/db.json"
cp "$FIX/linkerd-api.json" "$API/pods/shop/api.json"
cp "$FIX/namespace-shop.json" "$API/namespaces/shop.json"
pod_variant() { # pod_variant NAME PYTHON-EXPR-ON-p: web.json edited, as shop/NAME
	/usr/bin/python3 - "$FIX/istio-web.json" "$API/pods/shop/$1.json" "$1" "$2" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["metadata"]["name"] = sys.argv[3]
a = p["metadata"]["annotations"]
exec(sys.argv[4])
json.dump(p, open(sys.argv[2], "w"))
PY
}
pod_variant val 'pass'
pod_variant early 'p["status"]["podIPs"] = [{"ip": "198.18.0.80"}]; p["status"]["podIP"] = "198.18.0.80"'
pod_variant elsewhere 'p["spec"]["nodeName"] = "node-2"; p["status"]["podIPs"] = [{"ip": "198.18.0.20"}]'
pod_variant slow 'pass'
pod_variant tproxy 'a["sidecar.istio.io/interceptionMode"] = "TPROXY"'
pod_variant badcidr 'a["traffic.sidecar.istio.io/excludeOutboundIPRanges"] = "10.0.0.1/8"'
for b in err500:500 garbage:garbage huge:huge hang:hang slow:"slow 1"; do
	pod_variant "${b%%:*}" 'pass'
	echo "${b#*:}" > "$API/pods/shop/${b%%:*}.behave"
done
printf 'first-token\n' > "$API/token"
printf 'first-token\n' > "$TB_TMP/token"
# over HTTPS with a CA of its own, as a real API server: the kubeconfig carries the CA's data
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TB_TMP/api.key" -out "$TB_TMP/api.crt" -days 1 \
	-subj /CN=kube-apiserver-stand-in -addext subjectAltName=IP:127.0.0.1 > /dev/null 2>&1 ||
	tap_bail "openssl cannot make the stand-in's certificate"
/usr/bin/python3 "$top/tests/tools/kube-api.py" "$API" "$TB_TMP/api.port" --tls "$TB_TMP/api.crt" \
	"$TB_TMP/api.key" > "$TB_TMP/api.log" 2>&1 &
TB_PIDS+=($!)
for i in $(seq 50); do [ -s "$TB_TMP/api.port" ] && break; sleep 0.1; done
[ -s "$TB_TMP/api.port" ] || tap_bail "the API stand-in did not start: $(cat "$TB_TMP/api.log")"
cat > "$TB_TMP/kubeconfig" <<EOF
apiVersion: v1
kind: Config
current-context: lab
contexts:
- name: lab
  context: {cluster: stand-in, user: shunt}
clusters:
- name: stand-in
  cluster:
    server: "https://127.0.0.1:$(cat "$TB_TMP/api.port")"
    certificate-authority-data: $(base64 -w0 "$TB_TMP/api.crt")
users:
- name: shunt
  user: {tokenFile: "$TB_TMP/token"}
EOF

# No detection: only what CNI (or pod-init) meshes is meshed.
printf 'mesh: {auto_detect: false}\n' > "$TB_TMP/node.yaml"
out=$("$SHUNT" load --config "$TB_TMP/node.yaml" --pin-dir "$TB_PIN" --cgroup "$TB_CG" 2>&1) ||
	tap_bail "load: $out"
SOCK=$TB_TMP/shunt.sock
# The API lookup's time limit: 2 s, as a node agent would give it; the emulated 6.1 guest runs
# ~50 times slower and once took longer than that for one of 100 concurrent ADDs.
KT=2
[ -n "${SHUNT_VM:-}" ] && KT=6
"$SHUNT" run --config "$TB_TMP/node.yaml" --pin-dir "$TB_PIN" --socket "$SOCK" \
	--kubeconfig "$TB_TMP/kubeconfig" --kube-timeout "$KT" --node-name node-1 > "$TB_TMP/run.log" 2>&1 &
TB_PIDS+=($!)
for i in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || tap_bail "shunt run did not listen: $(cat "$TB_TMP/run.log")"

PREV='{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/run/netns/x"}],"ips":[{"address":"198.18.0.10/24","interface":0}],"dns":{}}'
conf() { # conf [EXTRA-JSON-MEMBERS]: the plugin's network configuration, with prevResult
	printf '{"cniVersion":"1.0.0","name":"k8s-pod-network","type":"shunt-cni","socket":"%s","exclude_namespaces":["kube-system"],"prevResult":%s%s}' \
		"$SOCK" "$PREV" "${1:+,$1}"
}
# cni COMMAND TBPOD K8SNAME [CONF]: run the plugin as the runtime does; output, then "exit N"
cni() {
	local conf=${4:-$(conf)}
	printf '%s' "$conf" | CNI_COMMAND=$1 CNI_CONTAINERID="c0ffee$2" CNI_NETNS="/run/netns/$(tb_ns "$2")" \
		CNI_IFNAME=eth0 CNI_PATH=/opt/cni/bin \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=$3;K8S_POD_INFRA_CONTAINER_ID=c0ffee$2;K8S_POD_UID=u-$3" \
		"$PLUGIN" 2>/dev/null
	echo "exit $?"
}
norm() { /usr/bin/python3 -c 'import json,sys; print(json.dumps(json.loads(sys.stdin.read()), sort_keys=True))'; }
meshed() { "$SHUNT" dump --pin-dir "$TB_PIN" --pod "$(tb_ns "$1")" 2>&1 | grep -q "^policy of netns"; }
not_meshed() { ! meshed "$1"; }
errmsg() { sed -n '1p' <<<"$1" | /usr/bin/python3 -c 'import json,sys; e=json.load(sys.stdin); print(e["code"], e["msg"])'; }

# --- the plugin's contract ---------------------------------------------------------------------
out=$(printf '{}' | CNI_COMMAND=VERSION "$PLUGIN")
check_match "VERSION: CNI 1.0.0 and 0.4.0" '"supportedVersions":\[.*"0.4.0".*"1.0.0"\]' "$out"
check_match "a static binary (no host library)" 'not a dynamic executable|statically linked' "$(ldd "$PLUGIN" 2>&1)"

# --- repair: a pod that started before the plugin, found by its IP among the node's netns ------
for i in $(seq 50); do grep -q 'cni repair:.*looked at' "$TB_TMP/run.log" && break; sleep 0.1; done
check "a pod of this node that started before the plugin is meshed at start (repair)" meshed r
check_match "... the daemon says which, and why" \
	'cni repair: pod shop/early \(198.18.0.80\) started before the plugin: meshed' "$(cat "$TB_TMP/run.log")"
check "... a pod of another node with a local address is not touched" not_meshed b

# --- an Istio-injected pod ---------------------------------------------------------------------
out=$(cni ADD a web)
check_match "ADD shop/web: exit 0" 'exit 0$' "$out"
check_eq "... prevResult passed through unchanged" "$(norm <<<"$PREV")" "$(sed '$d' <<<"$out" | norm)"
check "... the pod is meshed when ADD returns" meshed a
out=$(tb_run a "$TOOLS/tcpclient" -t 2 198.18.0.100:7000)
check_match "fail-closed before its proxy starts: the app's connection is refused" '^fail' "$out"
check_eq "... and the world saw nothing from it" "0" "$(grep -c 'peer=198.18.0.10:' "$TB_TMP/echo-w-7000.log")"
tb_sidecar a || tap_bail "sidecar a"
out=$(tb_run a "$TOOLS/tcpclient" 198.18.0.100:7000)
check_match "with its sidecar: the app's connection works" '^ok ' "$out"
sleep 0.3
check_match "... through the sidecar, which read the original destination" \
	'origdst=198.18.0.100:7000' "$(tb_sidecar_log a | tail -1)"
dump_a=$("$SHUNT" dump --pin-dir "$TB_PIN" --pod "$(tb_ns a)")
check_match "the pod's policy: istio-cni's outbound exclusion of 15020" \
	'outbound.exclude_ports +15020$' "$dump_a"
check_match "... and the inbound exclusions 15020, 15021, 15090" \
	'inbound.exclude_ports +15020-15021,15090$' "$dump_a"
out=$(cni CHECK a web)
check_match "CHECK shop/web: meshed as asked" 'exit 0$' "$out"
# the pod by its Kubernetes name: ADD recorded it
# (the workload row's last column is its age in seconds: it may tick between the two dumps)
check_eq "--pod shop/web: the same pod as its netns (dump)" "$(sed -E 's/ [0-9]+s$//' <<<"$dump_a")" \
	"$("$SHUNT" dump --pin-dir "$TB_PIN" --pod shop/web 2>&1 | sed -E 's/ [0-9]+s$//')"
check_match "... status lists it by name" '"pod":"shop/web"' "$(tb_status)"
check_match "... explain takes it" '^pod +shop/web' "$("$SHUNT" explain --pin-dir "$TB_PIN" --pod shop/web 198.18.0.100:7000 2>&1)"
check_match "... the repaired pod too (its name from the pod list)" '^policy of netns' \
	"$("$SHUNT" dump --pin-dir "$TB_PIN" --pod shop/early 2>&1)"
out=$("$SHUNT" dump --pin-dir "$TB_PIN" --pod shop/nope 2>&1)
check_match "--pod shop/nope: exit 1, says so" "^1:shunt: error: pod shop/nope: not a meshed pod" "$?:$out"

# Parity: pod-init with the istio-iptables flags the injector wrote for istio-validation,
# plus istio-cni's -o 15020, gives the same policy as the annotations.
flags=$(/usr/bin/python3 -c 'import json,sys; a=json.load(open(sys.argv[1]))["spec"]["initContainers"][0]["args"][1:]
print("\n".join(x for x in a if x != "--skip-rule-apply"))' "$FIX/istio-web.json")
mapfile -t fl <<<"$flags"
out=$(tb_run p env POD_NAMESPACE=shop POD_NAME=validated "$SHUNT" pod-init --socket "$SOCK" "${fl[@]}" -o 15020 2>&1)
check_eq "pod-init with the injector's istio-iptables flags: meshed" "0" "$?"
check_match "... with POD_NAMESPACE and POD_NAME (downward API): --pod shop/validated finds it" \
	'^policy of netns' "$("$SHUNT" dump --pin-dir "$TB_PIN" --pod shop/validated 2>&1)"
policy_of() { "$SHUNT" dump --pin-dir "$TB_PIN" --pod "$(tb_ns "$1")" | sed -n '/^policy of netns/,/^workloads/p' | sed '1d;$d'; }
check_eq "parity: the CNI pod's policy equals pod-init's from the same flags" "$(policy_of p)" "$(policy_of a)"

# --- a pod without a sidecar, and the plugin's other passes -------------------------------------
out=$(cni ADD b db)
check_match "ADD shop/db (no sidecar): passes" 'exit 0$' "$out"
check "... not meshed" not_meshed b
out=$(tb_run b "$TOOLS/tcpclient" 198.18.0.100:7000)
check_match "... its connection goes direct, untouched" '^ok local=198.18.0.20:' "$out"
check_match "... the world saw the pod itself" 'peer=198.18.0.20:' "$(tail -1 "$TB_TMP/echo-w-7000.log")"
check_match "CHECK shop/db: not meshed, as asked" 'exit 0$' "$(cni CHECK b db)"
out=$(cni ADD e web "$(conf '"exclude_namespaces":["shop"]' | sed 's/"exclude_namespaces":\["kube-system"\],//')")
check_match "an excluded namespace passes" 'exit 0$' "$out"
check "... unmeshed" not_meshed e
out=$(printf '%s' "$(conf)" | CNI_COMMAND=ADD CNI_NETNS="/run/netns/$(tb_ns e)" CNI_CONTAINERID=x CNI_IFNAME=eth0 "$PLUGIN")
check "not a Kubernetes pod (no K8S_POD_*) passes" test "$(norm <<<"$out")" = "$(norm <<<"$PREV")"

# --- Linkerd ------------------------------------------------------------------------------------
out=$(cni ADD l api)
check_match "ADD shop/api (linkerd-proxy, a native sidecar): meshed" 'exit 0$' "$out"
dump_l=$("$SHUNT" dump --pin-dir "$TB_PIN" --pod "$(tb_ns l)")
check_match "... Linkerd's ports" 'proxy.inbound_port +4143$' "$dump_l"
check_match "... the pod's skip-outbound-ports wins over the namespace's" 'outbound.exclude_ports +3306$' "$dump_l"
check_match "... the namespace's skip-inbound-ports added to 4190, 4191" 'inbound.exclude_ports +4190-4191,9999$' "$dump_l"
check_match "... mesh.flavor linkerd" 'mesh.flavor +linkerd$' "$dump_l"

# --- istio-validation, unmodified steps ----------------------------------------------------------
out=$(tb_run_as 1337 1337 b "$TOOLS/validate")
check_eq "control: in an unmeshed pod the validator fails (exit 126)" "126" "$?"
out=$(cni ADD v val)
check_match "ADD shop/val" 'exit 0$' "$out"
out=$(tb_run_as 1337 1337 v "$TOOLS/validate")
check_match "istio-validation passes: 127.0.0.1 -> 127.0.0.6:15002 lands on 15006, original port 15002" \
	'^ok accepted on 15006, original destination port 15002$' "$out"
out=$(tb_run_as 1337 1337 v "$TOOLS/validate" -6)
check_match "... and the IPv6 twin: ::1 -> ::6:15002" '^ok accepted on 15006, original destination port 15002$' "$out"

# --- failures: a clear ADD error, nothing half-meshed ----------------------------------------------
fails() { # fails DESC K8SNAME REGEX [CONF]
	local out
	out=$(cni ADD e "$2" "${4:-}")
	check_match "$1: ADD fails" 'exit 1$' "$out"
	check_match "... saying why" "$3" "$(errmsg "$out")"
	check "... and the pod is not meshed" not_meshed e
}
fails "a pod the API server does not know (404)" nosuch '^100 .*HTTP 404'
# the plugin's own log (the runtime keeps its stderr): JSON with "log_format": "json"
err=$(printf '%s' "$(conf '"log_format":"json"')" | CNI_COMMAND=ADD CNI_CONTAINERID=c0ffeex \
	CNI_NETNS="/run/netns/$(tb_ns e)" CNI_IFNAME=eth0 CNI_PATH=/opt/cni/bin \
	CNI_ARGS="K8S_POD_NAMESPACE=shop;K8S_POD_NAME=nosuch" "$PLUGIN" 2>&1 >/dev/null)
check_eq "\"log_format\": \"json\": the plugin's stderr line is a JSON object naming the pod" \
	"error shop/nosuch" "$(/usr/bin/python3 -c 'import json,sys; o=json.loads(sys.argv[1]); print(o["level"], o["pod"])' "$err" 2>&1)"
fails "the API server answers 500" err500 "^100 .*HTTP 500 \\([0-9]+ tries in $KT s\\)"
fails "malformed JSON" garbage '^100 .*not a JSON object'
fails "a 6 MiB object" huge '^100 .*larger than 4194304 bytes'
fails "a server that never answers" hang '^100 .*(timed out|Timeout)'
fails "interceptionMode TPROXY" tproxy '^100 .*TPROXY.*REDIRECT'
fails "a pod name that is not a Kubernetes name (it would go into the API path)" 'web/../../x' \
	'^100 .*not a Kubernetes name'
fails "an annotation with garbage (10.0.0.1/8)" badcidr '^100 .*10.0.0.1/8'
fails "no prevResult (not chained)" web '^7 .*chained' \
	"{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"shunt-cni\",\"socket\":\"$SOCK\"}"
fails "cniVersion 9.9.9" web '^1 .*9.9.9' "$(conf | sed 's/"1.0.0","name"/"9.9.9","name"/')"
fails "the daemon is not running" web '^11 .*not answering' "$(conf | sed "s|$SOCK|$TB_TMP/none.sock|")"
out=$(printf '%s' "$(conf)" | setpriv --reuid 1000 --regid 1000 --clear-groups env CNI_COMMAND=ADD \
	CNI_NETNS="/run/netns/$(tb_ns e)" CNI_CONTAINERID=x CNI_ARGS="K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web" \
	"$PLUGIN" 2>/dev/null)
check_match "a caller that is not root cannot reach the daemon" '^11 .*Permission denied' "$(errmsg "$out")"
check "... the pod is not meshed" not_meshed e
out=$(printf '%s' "$(conf)" | ip netns exec "$(tb_ns e)" env CNI_COMMAND=ADD CNI_NETNS="/run/netns/$(tb_ns e)" \
	CNI_CONTAINERID=x CNI_ARGS="K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web" "$PLUGIN" 2>/dev/null)
check_match "root inside a pod's netns is refused: CNI requests come from the node" \
	"^100 .*node's network namespace" "$(errmsg "$out")"
check "... the pod is not meshed" not_meshed e
out=$(printf '%s' "$(conf)" | CNI_COMMAND=ADD CNI_NETNS=/proc/$$/ns/net CNI_CONTAINERID=x \
	CNI_ARGS="K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web" "$PLUGIN" 2>/dev/null)
check_match "the node's own netns as CNI_NETNS is refused" '^100 .*refusing to mesh the host' "$(errmsg "$out")"
printf 'second-token\n' > "$TB_TMP/token"
fails "a token the API server refuses (401)" web '^100 .*HTTP 401'
# rotated: the API server and the token file agree again; the next ADD reads the new one
printf 'second-token\n' > "$API/token"
out=$(cni ADD e slow)
check_match "a rotated token is read again, a slow (1 s) server waited for: meshed" 'exit 0$' "$out"
check "... meshed" meshed e
check_match "the daemon said each refusal in one log line naming the pod" \
	'cni ADD shop/tproxy refused: pod shop/tproxy: sidecar.istio.io/interceptionMode is TPROXY' \
	"$(cat "$TB_TMP/run.log")"

# --- DEL ----------------------------------------------------------------------------------------
out=$(cni DEL e slow)
check_match "DEL: exit 0" 'exit 0$' "$out"
check_eq "... prints nothing" "exit 0" "$out"
check "... the pod left the mesh" not_meshed e
e_cookie=$(sed -n 's/.*cni ADD shop\/slow: meshed netns cookie \([0-9]*\).*/\1/p' "$TB_TMP/run.log" | tail -1)
check "... its sk_lookup link is gone" test -n "$e_cookie" -a ! -e "$TB_PIN/links/sk_lookup_$e_cookie"
check_match "DEL again (idempotent): exit 0" 'exit 0$' "$(cni DEL e slow)"
check_match "DEL of a pod that was never meshed: exit 0" 'exit 0$' "$(cni DEL b db)"
check_match "DEL with the daemon down: exit 0 (nothing to undo now)" 'exit 0$' \
	"$(cni DEL a web "$(conf | sed "s|$SOCK|$TB_TMP/none.sock|")")"
check "... pod a is still meshed" meshed a
out=$(cni DEL a web)
check "DEL shop/web: unmeshed" not_meshed a
out=$(tb_run a "$TOOLS/tcpclient" 198.18.0.100:7000)
check_match "... its app now goes direct" '^ok local=198.18.0.10:' "$out"
out=$(cni CHECK a web)
check_match "CHECK after DEL: says the pod should be meshed and is not" 'should be meshed' "$(errmsg "$out")"

# --- scale: 100 pods added and deleted, 8 at a time, while the daemon reloads its config -----------
workloads() { "$SHUNT" status --json --pin-dir "$TB_PIN" | grep -o '"workloads":[0-9]*' | cut -d: -f2; }
base=$(workloads)
for i in $(seq 100); do
	sed "s/\"name\": \"web\",/\"name\": \"s$i\",/" "$FIX/istio-web.json" > "$API/pods/shop/s$i.json"
	ip netns add "shunt-$TB_ID-s$i"
	TB_NS+=("shunt-$TB_ID-s$i")
done
run_pid=$(pgrep -f -- "--socket $SOCK" | head -1)
( for i in $(seq 20); do kill -HUP "$run_pid" 2>/dev/null; sleep 0.1; done ) &
hup=$!
export SOCK PLUGIN TB_ID
one() { # one COMMAND N: the plugin for scale pod N; prints "N exit RC"
	printf '{"cniVersion":"1.0.0","name":"n","type":"shunt-cni","socket":"%s","prevResult":{"cniVersion":"1.0.0"}}' "$SOCK" |
		CNI_COMMAND=$1 CNI_NETNS="/run/netns/shunt-$TB_ID-s$2" CNI_CONTAINERID="s$2" CNI_IFNAME=eth0 \
		CNI_ARGS="K8S_POD_NAMESPACE=shop;K8S_POD_NAME=s$2" "$PLUGIN" 2>&1 > /dev/null | head -1 | tr '\n' ' '
	echo "$2 exit ${PIPESTATUS[1]}"
}
export -f one
out=$(seq 100 | xargs -P 8 -I{} bash -c 'one ADD {}')
wait "$hup"
check_eq "100 ADDs, 8 at a time, during 20 config reloads: all exit 0" "100" "$(grep -c ' exit 0$' <<<"$out")"
grep -v ' exit 0$' <<<"$out" | sed 's/^/# /' 
check_eq "... 100 more pods meshed" "$((base + 100))" "$(workloads)"
out=$(seq 100 | xargs -P 8 -I{} bash -c 'one DEL {}')
check_eq "100 DELs, 8 at a time: all exit 0" "100" "$(grep -c ' exit 0$' <<<"$out")"
check_eq "... every one of them gone from the mesh" "$base" "$(workloads)"
check_eq "... and their sk_lookup links" "$base" "$(ls "$TB_PIN/links" | grep -c '^sk_lookup_')"
check_match "the daemon reloaded meanwhile" 'SIGHUP: applied' "$(cat "$TB_TMP/run.log")"

# --- the real chain: podman's CNI backend, bridge + host-local + shunt-cni --------------------------
if [ -n "${SHUNT_VM:-}" ]; then
	tap_skip "podman needs a writable container store (not in the VM guest)"
	tap_done
	exit
fi
command -v podman > /dev/null || tap_bail "podman is not installed (scripts/install-deps.sh)"
IMG=localhost/shunt-cni-test:$TB_ID
NET=shunt-$TB_ID
CGREL=${TB_CG#"$TB_CGROOT"}/pods
export CONTAINERS_CONF=$TB_TMP/containers.conf
mkdir -p "$TB_TMP/net.d" "$TB_TMP/cnibin" "$TB_TMP/ctx/rootfs/tools" "$TB_TMP/cfg"
cat > "$CONTAINERS_CONF" <<EOF
[network]
network_backend = "cni"
network_config_dir = "$TB_TMP/net.d"
cni_plugin_dirs = ["$TB_TMP/cnibin", "/usr/lib/cni"]
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
EOF
cat > "$TB_TMP/net.d/$NET.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "$NET", "plugins": [
  {"type": "bridge", "bridge": "sb$TB_ID", "isGateway": true, "ipMasq": false,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "198.18.64.0/24"}]],
            "routes": [{"dst": "198.18.64.0/24"}], "dataDir": "$TB_TMP/ipam"}}
]}
EOF
# the chain as the installer leaves it (shunt-cni appended last, the binary in place)
out=$("$SHUNT" cni-install --cni-bin-dir "$TB_TMP/cnibin" --cni-conf-dir "$TB_TMP/net.d" --socket "$SOCK" 2>&1)
check_match "shunt cni-install appends shunt-cni to the pod network's conflist" 'shunt-cni appended' "$out"
# The pod image: HAProxy and the test tools with exactly the libraries they load
for f in "$(command -v haproxy)" "$TOOLS/tcpclient" "$TOOLS/tcpecho" "$TOOLS/validate"; do
	cp "$f" "$TB_TMP/ctx/rootfs/tools/"
	for lib in $(ldd "$f" | grep -o '/[^ ]*'); do
		mkdir -p "$TB_TMP/ctx/rootfs$(dirname "$lib")"
		cp -L "$lib" "$TB_TMP/ctx/rootfs$lib"
	done
done
mkdir -p "$TB_TMP/ctx/rootfs/tmp" && chmod 1777 "$TB_TMP/ctx/rootfs/tmp"
printf 'FROM scratch\nCOPY rootfs/ /\n' > "$TB_TMP/ctx/Containerfile"
podman build --quiet --tag "$IMG" "$TB_TMP/ctx" > /dev/null 2>&1 || tap_bail "cannot build the pod image"
podman_cleanup() {
	local rc=$? p
	for p in $(podman pod ls --format '{{.Name}}' | grep "^shunt-$TB_ID-"); do
		podman pod rm -f "$p" > /dev/null 2>&1
	done
	podman rmi -f "$IMG" > /dev/null 2>&1
	# the infra containers' pause image, if podman built it for this test (as image.t does)
	[ -n "${pause_made:-}" ] && podman rmi -f $(podman images -q --filter reference=localhost/podman-pause) > /dev/null 2>&1
	ip link del "sb$TB_ID" 2>/dev/null
	# the runtime's cgroups in the v1 hierarchies (podman on a hybrid host), ours by name
	for d in /sys/fs/cgroup/*/"$(basename "$TB_CG")"; do
		[ "$d" != "$TB_CG" ] && [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	(exit "$rc")   # tb_cleanup exits with the status it finds
	tb_cleanup
}
trap podman_cleanup EXIT
pause_made=$(podman images -q --filter reference=localhost/podman-pause | grep -q . || echo yes)
sed 's/^    stats socket.*//; s/^    maxconn .*/    maxconn 200/' "$TB_TMP/haproxy-a.cfg" > "$TB_TMP/cfg/haproxy.cfg"
chmod 644 "$TB_TMP/cfg/haproxy.cfg"
# podpod NAME: a pod sandbox through the CNI chain, as a kubelet's runtime names it
podpod() {
	CNI_ARGS="K8S_POD_NAMESPACE=shop;K8S_POD_NAME=$1" podman --runtime runc pod create \
		--name "shunt-$TB_ID-$1" --network "$NET" --cgroup-parent "$CGREL" > /dev/null &&
	CNI_ARGS="K8S_POD_NAMESPACE=shop;K8S_POD_NAME=$1" podman --runtime runc pod start "shunt-$TB_ID-$1" > /dev/null
}
prun() { # prun POD [podman run options] -- CMD...
	local pod=$1
	shift
	CNI_ARGS="K8S_POD_NAMESPACE=shop;K8S_POD_NAME=$pod" podman --runtime runc run --pod "shunt-$TB_ID-$pod" "$@"
}
out=$(podpod db 2>&1)
check_eq "podman: pod shop/db (no sidecar) created through the chain" "" "$out"
dbip=$(podman pod inspect "shunt-$TB_ID-db" --format '{{.InfraContainerID}}' | xargs podman inspect \
	--format "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}")
check_match "... has its address from host-local" '^198\.18\.64\.[0-9]+$' "$dbip"
prun db -d --name "shunt-$TB_ID-db-app" "$IMG" /tools/tcpecho 0.0.0.0:7000 /tmp/echo.log > /dev/null
check_match "... not meshed (no sidecar), the daemon says" 'cni ADD shop/db: not meshed: no istio-proxy' \
	"$(cat "$TB_TMP/run.log")"
out=$(podpod web 2>&1)
check_eq "podman: pod shop/web (Istio-injected) created through the chain" "" "$out"
cookie=$(sed -n 's/.*cni ADD shop\/web: meshed netns cookie \([0-9]*\).*/\1/p' "$TB_TMP/run.log" | tail -1)
check_match "... meshed at sandbox creation, before any container" '^[0-9]+$' "$cookie"
# istio-validation runs first, as the injector orders it, unprivileged (uid 1337, no capability)
out=$(prun web --rm --user 1337:1337 --cap-drop ALL "$IMG" /tools/validate 2>&1)
check_match "istio-validation's steps in the pod's first container pass" \
	'^ok accepted on 15006, original destination port 15002$' "$out"
prun web -d --name "shunt-$TB_ID-web-proxy" --user 1337:1337 -v "$TB_TMP/cfg:/cfg:ro" "$IMG" \
	/tools/haproxy -db -f /cfg/haproxy.cfg > /dev/null
infra=$(podman pod inspect "shunt-$TB_ID-web" --format '{{.InfraContainerID}}' | xargs podman inspect --format '{{.State.Pid}}')
for i in $(seq 50); do
	nsenter -t "$infra" -n ss -Hltn 'sport = :15001' | grep -q . && break
	sleep 0.1
done
out=$(prun web --rm "$IMG" /tools/tcpclient "$dbip:7000" 2>&1)
check_match "the app container's first process: its first connection works" '^ok ' "$out"
sleep 0.3
check_match "... it went through the sidecar, which read the original destination" \
	"origdst=$dbip:7000" "$(podman logs "shunt-$TB_ID-web-proxy" 2>&1 | grep '^client=' | tail -1)"
podman pod rm -f "shunt-$TB_ID-web" > /dev/null 2>&1
check_match "podman pod rm: DEL ran" "cni DEL shop/web: netns cookie $cookie left the mesh" "$(cat "$TB_TMP/run.log")"
check_nomatch "... the pod's entries are gone from the maps" "^  netns $cookie " "$("$SHUNT" dump --pin-dir "$TB_PIN")"
check "... and its sk_lookup link" test ! -e "$TB_PIN/links/sk_lookup_$cookie"
tap_done
