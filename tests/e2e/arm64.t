#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The arm64 build on an arm64 kernel: scripts/arm64-smoke.sh cross-builds shunt for arm64 and
# runs the kernel tier (tests/kernel/test_capture.c, statically linked) in a Debian 12 arm64
# guest under qemu-system-aarch64; its TAP lines are this file's. Not in the emulated x86
# guest (an emulator inside an emulator), where the host's run has already done it.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tap.sh"
top=$here/../..
[ -n "${SHUNT_VM:-}" ] && tap_skip_all "not in the emulated guest: the host's run boots the arm64 guest"
[ "$(id -u)" = 0 ] || tap_skip_all "needs root"
for t in aarch64-linux-gnu-gcc qemu-system-aarch64; do
	command -v "$t" > /dev/null || tap_skip_all "$t missing (scripts/install-deps.sh)"
done
out=$("$top/scripts/arm64-smoke.sh" 2>&1)
rc=$?
grep -E '^(ok|not ok) ' <<<"$out" | sed 's/^\(ok\|not ok\) \([0-9]* \)\{0,1\}- /\1 - arm64 guest: /' > "$top/build/.arm64.tap" || true
while IFS= read -r l; do
	case $l in
	"ok - "*) tap_ok "${l#ok - }" ;;
	"not ok - "*) tap_fail "${l#not ok - }" ;;
	esac
done < "$top/build/.arm64.tap"
rm -f "$top/build/.arm64.tap"
grep '^arm64-smoke: .*under TCG' <<<"$out" | sed 's/^/# /'
check_eq "arm64-smoke.sh: exit 0 (the guest booted, the test ran to its end)" "0" "$rc"
[ "$rc" = 0 ] || tail -30 <<<"$out" | sed 's/^/# /'
tap_done
