#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Installing the CNI plugin onto a node, against a scratch host root (its own bin and net.d
# directories): `shunt cni-install` appends shunt-cni to the first network configuration as
# the runtime picks it, wraps a .conf into a .conflist, keeps file modes, is idempotent, and
# --uninstall takes it all back; `shunt run --cni-install` installs it, is not ready until it
# did, and appends it again when another agent rewrites the file. (cni.t's podman pods run on
# a conflist this installer wrote.)
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$here/../..
. "$top/scripts/testbed.sh"
. "$here/../tap.sh"

tap_require_root curl
tb_init k
HOST=$TB_TMP/host
BIN=$HOST/opt/cni/bin
NETD=$HOST/etc/cni/net.d
mkdir -p "$BIN" "$NETD"
inst() { "$SHUNT" cni-install --cni-bin-dir "$BIN" --cni-conf-dir "$NETD" --socket "$TB_TMP/shunt.sock" "$@" 2>&1; }
types() { /usr/bin/python3 -c 'import json,sys; print(" ".join(p["type"] for p in json.load(open(sys.argv[1]))["plugins"]))' "$1"; }

out=$(inst)
check_eq "no network configuration yet: exit 1" "1" "$?"
check_match "... saying the cluster's network plugin writes one first" 'no CNI network configuration in .*net.d yet' "$out"
check "... and nothing installed" test ! -e "$BIN/shunt-cni"

# a lone .conf (flannel and kindnet write one): wrapped into a .conflist
printf '{"cniVersion":"0.4.0","name":"podnet","type":"bridge","bridge":"cni0","ipam":{"type":"host-local","subnet":"198.18.80.0/24"}}\n' \
	> "$NETD/10-podnet.conf"
chmod 0640 "$NETD/10-podnet.conf"
printf '{"cniVersion":"1.0.0","name":"other","plugins":[{"type":"loopback"}]}\n' > "$NETD/99-other.conflist"
out=$(inst)
check_eq "cni-install: exit 0" "0" "$?"
check "... the plugin binary in the bin dir" test -x "$BIN/shunt-cni"
check "... the same bytes as build/shunt-cni" cmp -s "$BIN/shunt-cni" "$top/build/shunt-cni"
check "... the .conf is gone" test ! -e "$NETD/10-podnet.conf"
check_eq "... wrapped into a .conflist, shunt-cni last" "bridge shunt-cni" "$(types "$NETD/10-podnet.conflist")"
check_eq "... its file mode kept" "640" "$(stat -c %a "$NETD/10-podnet.conflist")"
check_eq "... the other configuration untouched" "loopback" "$(types "$NETD/99-other.conflist")"
check_match "... the entry names the daemon's socket" "\"socket\": *\"$TB_TMP/shunt.sock\"" "$(cat "$NETD/10-podnet.conflist")"
ino=$(stat -c %i "$BIN/shunt-cni")
sum=$(md5sum < "$NETD/10-podnet.conflist")
out=$(inst)
check_match "again: nothing to do" 'in place' "$out"
check_eq "... the binary not rewritten" "$ino" "$(stat -c %i "$BIN/shunt-cni")"
check_eq "... the configuration not rewritten" "$sum" "$(md5sum < "$NETD/10-podnet.conflist")"
# an entry that is not last (another plugin appended after it) moves to the end, once
/usr/bin/python3 - "$NETD/10-podnet.conflist" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["plugins"].append({"type": "portmap", "capabilities": {"portMappings": True}})
json.dump(c, open(sys.argv[1], "w"))
PY
inst > /dev/null
check_eq "an entry no longer last is moved to the end, once" "bridge portmap shunt-cni" "$(types "$NETD/10-podnet.conflist")"
printf 'not json' > "$NETD/05-broken.conflist"
out=$(inst)
check_eq "a first configuration that is not JSON: exit 1" "1" "$?"
check_match "... and left alone" 'not a JSON object: not touching it' "$out"
check_eq "... byte for byte" "not json" "$(cat "$NETD/05-broken.conflist")"
rm "$NETD/05-broken.conflist"
out=$(inst --uninstall)
check_eq "--uninstall: exit 0" "0" "$?"
check_eq "... the entry removed" "bridge portmap" "$(types "$NETD/10-podnet.conflist")"
check "... the binary removed" test ! -e "$BIN/shunt-cni"
out=$("$SHUNT" status --uninstall 2>&1)
check_eq "--uninstall with another command: bad usage (exit 2)" "2" "$?"

# shunt run --cni-install: not ready until installed; repairs an overwrite
rm -f "$NETD"/*
"$SHUNT" load --pin-dir "$TB_PIN" --cgroup "$TB_CG" > /dev/null 2>&1 || tap_bail "load"
PORT=$((20000 + RANDOM % 20000))
"$SHUNT" run --pin-dir "$TB_PIN" --socket "$TB_TMP/shunt.sock" --listen "127.0.0.1:$PORT" \
	--cni-install --cni-bin-dir "$BIN" --cni-conf-dir "$NETD" > "$TB_TMP/run.log" 2>&1 &
TB_PIDS+=($!)
for i in $(seq 50); do curl -s "http://127.0.0.1:$PORT/healthz" > /dev/null && break; sleep 0.1; done
out="$(curl -s "http://127.0.0.1:$PORT/readyz" | tr -d '\n') $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")"
check_match "run --cni-install with no network configuration: not ready (503)" 'CNI plugin is not installed yet 503$' "$out"
printf '{"cniVersion":"1.0.0","name":"podnet","plugins":[{"type":"ptp","ipam":{"type":"host-local","subnet":"198.18.81.0/24"}}]}\n' \
	> "$NETD/10-podnet.conflist"
for i in $(seq 60); do [ "$(types "$NETD/10-podnet.conflist")" = "ptp shunt-cni" ] && break; sleep 0.1; done
check_eq "the cluster's network plugin writes its configuration: shunt-cni appended" "ptp shunt-cni" \
	"$(types "$NETD/10-podnet.conflist")"
out="$(curl -s "http://127.0.0.1:$PORT/readyz" | tr -d '\n') $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")"
check_match "... now ready (200)" ' 200$' "$out"
# another agent rewrites the file without the entry (as a CNI daemon restart does)
printf '{"cniVersion":"1.0.0","name":"podnet","plugins":[{"type":"ptp","ipam":{"type":"host-local","subnet":"198.18.81.0/24"}}]}\n' \
	> "$NETD/10-podnet.conflist.new" && mv "$NETD/10-podnet.conflist.new" "$NETD/10-podnet.conflist"
for i in $(seq 60); do [ "$(types "$NETD/10-podnet.conflist")" = "ptp shunt-cni" ] && break; sleep 0.1; done
check_eq "another agent rewrote it: appended again within seconds" "ptp shunt-cni" "$(types "$NETD/10-podnet.conflist")"
check_match "... the daemon said so" 'CNI plugin: shunt-cni appended to .*10-podnet.conflist' "$(cat "$TB_TMP/run.log")"
# --log-format json: the plugin logs as the daemon does ("log_format" in its entry)
out=$(inst --uninstall)
out=$("$SHUNT" --log-format json cni-install --cni-bin-dir "$BIN" --cni-conf-dir "$NETD" --socket "$TB_TMP/shunt.sock" 2>&1)
check_eq "cni-install --log-format json: exit 0" "0" "$?"
check_match "... the plugin's entry has \"log_format\": \"json\"" '"log_format": *"json"' "$(cat "$NETD"/*.conflist)"
tap_done
