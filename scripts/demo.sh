#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# A self-contained sandbox node that shows what shunt does, with nothing outside it touched:
#   web     a meshed pod: an app and a HAProxy sidecar (uid 1337, Istio's ports)
#   api     a meshed pod: an app and a HAProxy sidecar
#   legacy  a pod that is not meshed
#   db      "the rest of the world": a backend on 198.18.0.100
# shunt is loaded on the sandbox's own cgroup with its own pin directory, and removed at the
# end, together with every namespace, cgroup and process the demo made.
set -u
cd "$(dirname "$0")/.."
. scripts/testbed.sh

[ "$(id -u)" = 0 ] || { echo "the demo needs root (BPF, namespaces, cgroups)" >&2; exit 1; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

tb_init demo
say "sandbox: pods web 198.18.0.10, api 198.18.0.20 (meshed), legacy 198.18.0.30, db 198.18.0.100"
tb_pod web 198.18.0.10
tb_pod api 198.18.0.20
tb_pod legacy 198.18.0.30
tb_pod db 198.18.0.100
tb_echo db 0.0.0.0:5432
tb_bg api "$TOOLS/streamcheck" server 0.0.0.0:8080 "$TB_TMP/api-app.log" --echo
tb_wait_listen api 8080
tb_sidecar web
tb_sidecar api
echo "sidecars: HAProxy as uid 1337, outbound 127.0.0.1:15001, inbound 0.0.0.0:15006"

say "load shunt (no iptables rule is involved at any point)"
run "$SHUNT" -v load --pin-dir "$TB_PIN" --cgroup "$TB_CG"
run "$SHUNT" status --pin-dir "$TB_PIN"

say "outbound: web's app connects to db 198.18.0.100:5432"
tb_run web "$TOOLS/tcpclient" 198.18.0.100:5432
sleep 0.3
echo "web's sidecar log (it read the original destination with SO_ORIGINAL_DST):"
tb_sidecar_log web | tail -1 | sed 's/^/  /'
echo "db saw the connection come from the sidecar's socket:"
tail -1 "$TB_TMP/echo-db-5432.log" | sed 's/^/  /'

say "not meshed: legacy connects to db the same way, untouched"
tb_run legacy "$TOOLS/tcpclient" 198.18.0.100:5432
tail -1 "$TB_TMP/echo-db-5432.log" | sed 's/^/  db saw: /'

say "the mesh path: web's app -> web's sidecar -> api's sidecar (sk_lookup, no NAT) -> api's app"
echo "64 MiB there and back, every byte checked; the map dump below is taken mid-transfer"
tb_run web "$TOOLS/streamcheck" client 198.18.0.20:8080 -n $((64 << 20)) -w 65536 -s 7 --echo --stall \
	> "$TB_TMP/stream.out" &
client=$!
sleep 0.3
say "bpftool map dump pinned $TB_PIN/maps/shunt_conn_v2  (connections the proxies asked about)"
bpftool map dump pinned "$TB_PIN/maps/shunt_conn_v2" | head -40
wait "$client"
sed 's/^/  client: /' "$TB_TMP/stream.out"
echo "web's sidecar:  $(tb_sidecar_log web | tail -1)"
echo "api's sidecar:  $(tb_sidecar_log api | tail -1)"

say "the fast path is off by default (its known hazards: README); opt in with acceleration: true"
printf 'acceleration: true\n' > "$TB_TMP/accel.yaml"
run "$SHUNT" apply --config "$TB_TMP/accel.yaml" --pin-dir "$TB_PIN"
echo "16 MiB more over the same path, on new connections, now moved by sk_msg:"
tb_run web "$TOOLS/streamcheck" client 198.18.0.20:8080 -n $((16 << 20)) -w 65536 -s 8 --echo \
	| sed 's/^/  client: /'

say "the short-circuit: bytes moved socket to socket by sk_msg instead of through TCP/IP"
"$SHUNT" status --pin-dir "$TB_PIN" | sed -n '/^counters:/,$p'

say "bpftool map dump pinned $TB_PIN/maps/shunt_netns_v1  (meshed pods)"
bpftool map dump pinned "$TB_PIN/maps/shunt_netns_v1"
say "shunt dump (every map, decoded)"
"$SHUNT" dump --pin-dir "$TB_PIN" | sed -n '1,/^redirected app sockets/p'

say "unload: detached, unpinned; then the sandbox is removed"
run "$SHUNT" unload --pin-dir "$TB_PIN"
