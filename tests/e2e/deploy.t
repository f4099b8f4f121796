#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# deploy/ renders with kustomize, and the configuration it ships is one shunt accepts.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tap.sh"
top=$here/../..
command -v kubectl >/dev/null || tap_skip_all "kubectl not installed"
out=$(kubectl kustomize "$top/deploy" 2>&1)
check_eq "kubectl kustomize deploy/ renders" "0" "$?"
check_match "it has the DaemonSet" '^kind: DaemonSet' "$out"
# the container's command, one argument a line, exactly
cmd=$(awk '/^ *- command:$|^ *command:$/ { on = 1; ind = -1; next }
	on && /^ *- / { i = index($0, "-"); if (ind < 0) ind = i; if (i == ind) { sub(/^ *- /, ""); print; next } }
	on { exit }' <<<"$out" | tr '\n' ' ')
check_eq "which runs 'shunt run' with the ConfigMap's file, serving probes and metrics on the node's port 15014, logging JSON" \
	"/usr/local/bin/shunt run --config /etc/shunt/shunt.yaml --listen 0.0.0.0:15014 --log-format json " "$cmd"
flat=$(tr '\n' ' ' <<<"$out" | tr -s ' ')
check_match "... annotated for Prometheus' pod discovery (port 15014)" \
	'prometheus.io/path: /metrics prometheus.io/port: "15014" prometheus.io/scrape: "true"' "$flat"
check_match "... Linux nodes only" 'nodeSelector: kubernetes.io/os: linux' "$flat"
check_match "... its own ServiceAccount, no token mounted (pod-init mode reads no API)" \
	'automountServiceAccountToken: false .*serviceAccountName: shunt ' "$flat"
check_match "... and the ServiceAccount is part of the install" '^kind: ServiceAccount' "$out"
# one version: the binary's, the file VERSION, every image reference to shunt, the man page
version=$(cat "$top/VERSION")
check_eq "the binary is VERSION ($version)" "shunt $version" "$("$top/build/shunt" --version | cut -d' ' -f1-2)"
refs=$( (kubectl kustomize "$top/deploy"; kubectl kustomize "$top/deploy/cni"; cat "$top"/deploy/examples/*.yaml \
	"$top"/deploy/base/*.yaml) | grep -o 'image: [^ ]*shunt[^ ]*' | sort -u | paste -sd' ' -)
check_eq "every image of shunt in deploy/ is localhost/shunt:VERSION" "image: localhost/shunt:$version" "$refs"
check_match "make image tags it so" "tag=\\\$\{1:-localhost/shunt:\\\$version\}" "$(cat "$top/scripts/image.sh")"
check_match "the man page says it" "^\\.TH SHUNT 8 \"[-0-9]*\" \"shunt $version\"" "$(cat "$top/man/shunt.8")"
check_match "not privileged: all capabilities dropped, SYS_ADMIN and SYS_PTRACE added" \
	'capabilities: add: - SYS_ADMIN - SYS_PTRACE drop: - ALL privileged: false' "$(tr '\n' ' ' <<<"$out" | tr -s ' ')"
check_match "liveness on /healthz, readiness on /readyz, where --listen serves them" \
	'livenessProbe:.* httpGet: host: 127.0.0.1 path: /healthz port: 15014 .*readinessProbe: httpGet: host: 127.0.0.1 path: /readyz port: 15014 ' \
	"$(tr '\n' ' ' <<<"$out" | tr -s ' ')"
tmp=$(mktemp /tmp/shunt-deploy.XXXXXX.yaml)
trap 'rm -f "$tmp"' EXIT
# the ConfigMap's shunt.yaml, unindented
awk '/^  shunt.yaml: \|/ { on = 1; next } on && /^[^ ]/ { on = 0 } on { sub(/^    /, ""); print }' \
	"$top/deploy/base/configmap.yaml" > "$tmp"
out=$("$top/build/shunt" check --config "$tmp" 2>&1)
check_eq "the shipped configuration passes 'shunt check'" "0" "$?"
check_match "... and is Istio's defaults" 'inbound.exclude_ports    15020,15021,15090' "$out"
rendered=$(kubectl kustomize "$top/deploy" 2>&1)
check_eq "the DaemonSet mounts the pod-init socket's directory from the host" "2" \
	"$(grep -cE '^ *(- mountPath|path): /var/run/shunt$' <<<"$rendered")"
# the example pod's init container: its arguments are ones shunt pod-init accepts, and mean
# what its annotations say
ex=$top/deploy/examples/pod-init.yaml
args=()
while read -r a; do args+=("$a"); done <<<"$(grep -m1 '"pod-init"' "$ex" | grep -o '"[^"]*"' | tr -d '"' | tail -n +3)"
check "the example's init container has arguments" test "${#args[@]}" -gt 10
out=$("$top/build/shunt" pod-init "${args[@]}" --dry-run 2>&1)
check_eq "the example's pod-init arguments are accepted" "0" "$?"
check_match "... -o 5432 (excludeOutboundPorts)" 'exclude_ports: \[5432\]' "$out"
check_match "... -x 10.0.0.0/24 (excludeOutboundIPRanges)" 'exclude_cidrs: \["10\.0\.0\.0/24"\]' "$out"
check_match "... -b 8080 (includeInboundPorts)" 'include_ports: \[8080\]' "$out"
# CNI mode (deploy/cni): the same DaemonSet, installing the plugin, with a ServiceAccount
# whose role reads pods and namespaces and nothing else
cni=$(kubectl kustomize "$top/deploy/cni" 2>&1)
check_eq "kubectl kustomize deploy/cni renders" "0" "$?"
flat=$(tr '\n' ' ' <<<"$cni" | tr -s ' ')
check_match "... the DaemonSet runs shunt run --cni-install into the host's CNI directories" \
	'- --cni-install - --cni-bin-dir - /host/opt/cni/bin - --cni-conf-dir - /host/etc/cni/net.d ' "$flat"
check_match "... mounting /opt/cni/bin and /etc/cni/net.d from the host" \
	'hostPath: path: /opt/cni/bin .*hostPath: path: /etc/cni/net.d ' "$flat"
check_match "... with its own ServiceAccount, its token mounted" \
	'automountServiceAccountToken: true .*serviceAccountName: shunt ' "$flat"
# uninstall (deploy/uninstall): shunt uninstall on every node, with the CNI directories
un=$(kubectl kustomize "$top/deploy/uninstall" 2>&1)
check_eq "kubectl kustomize deploy/uninstall renders" "0" "$?"
flat=$(tr '\n' ' ' <<<"$un" | tr -s ' ')
check_match "... its init container runs shunt uninstall into the host's CNI directories" \
	'- uninstall - --config - /etc/shunt/shunt.yaml - --cni-bin-dir - /host/opt/cni/bin - --cni-conf-dir - /host/etc/cni/net.d ' "$flat"
uargs=$(grep -A3 'command: \["/usr/local/bin/shunt", "uninstall"' "$top/deploy/uninstall/daemonset.yaml" |
	tr -d '\n' | grep -o '"[^"]*"' | tr -d '"' | tail -n +3 | paste -sd' ' -)
out=$("$top/build/shunt" uninstall $uargs stop-here 2>&1)
check_match "... with options shunt uninstall takes (parsed up to the stray argument)" \
	"^shunt: unexpected argument 'stop-here'" "$out"
check_eq "... and the shunt image of VERSION" "image: localhost/shunt:$version" \
	"$(grep -o 'image: [^ ]*shunt[^ ]*' <<<"$un" | sort -u)"
check_eq "... the ClusterRole: get and list pods, get namespaces, no more" \
	"rules: - apiGroups: - \"\" resources: - pods verbs: - get - list - apiGroups: - \"\" resources: - namespaces verbs: - get " \
	"$(sed -n '/^kind: ClusterRole$/,/^---$/p' <<<"$cni" | sed -n '/^rules:/,/^---$/p' | grep -v '^---' | tr '\n' ' ' | tr -s ' ')"
# Every object kustomize renders, and the example, against the Kubernetes API schema
# (kubernetes-models: types, required fields, formats; unknown fields by TypeScript's
# excess-property check). A broken copy proves the check would see a typo and a wrong type.
schema=$top/tests/schema
if [ -n "${SHUNT_VM:-}" ]; then
	tap_skip "schema check: not kernel-dependent, run on the host only"
elif ! command -v node >/dev/null || [ ! -d "$schema/node_modules/kubernetes-models" ]; then
	tap_skip "schema check: node or tests/schema/node_modules missing (scripts/install-deps.sh runs npm ci)"
else
	out=$(printf '%s\n---\n%s\n' "$rendered" "$(cat "$top"/deploy/examples/*.yaml)" | node "$schema/check.mjs" 2>&1)
	check_match "every rendered object and the example match the API schema" "^0:.*4 objects, 0 problems" \
		"$?:$(tail -1 <<<"$out")"
	[ "${out##*0 problems}" = "" ] || printf '# %s\n' "$out"
	out=$(node "$schema/check.mjs" <<<"$cni" 2>&1)
	check_match "... and every object of deploy/cni" "^0:.*5 objects, 0 problems" "$?:$(tail -1 <<<"$out")"
	un=$(kubectl kustomize "$top/deploy/uninstall" 2>&1)
	out=$(node "$schema/check.mjs" <<<"$un" 2>&1)
	check_match "... and the uninstall DaemonSet of deploy/uninstall" "^0:.*1 objects, 0 problems" "$?:$(tail -1 <<<"$out")"
	bad=$(sed 's/hostNetwork: true/hostNetwrk: true/' <<<"$rendered" | node "$schema/check.mjs" 2>&1)
	check_match "an unknown field is named with its path" '^DaemonSet/shunt: /spec/template/spec/hostNetwrk: .*known properties' "$bad"
	bad=$(sed '0,/periodSeconds: [0-9]*/s//periodSeconds: ten/' <<<"$rendered" | node "$schema/check.mjs" 2>&1)
	check_match "a wrong type is named with its path" 'DaemonSet/shunt: /spec/template/spec/containers/0/livenessProbe/periodSeconds: must be integer' "$bad"
fi
tap_done
