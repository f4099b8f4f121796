#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Runs shunt's test suite and ends with one line: "N passed, N failed"; the line before it
# says "N skipped" (checks and whole files that did not run, none counted as passed).
#   unit tests   build/tests/test_*   cmocka, no root, ASan+UBSan
#   kernel tier  build/ktests/*       TAP programs in C (tests/kernel/*.c), root, seconds
#   kernel/e2e   tests/kernel/*.t tests/e2e/*.t   TAP, root (skipped without it)
# Usage: scripts/run-tests.sh [--unit | --check] [FILE.t ...]   (--check: unit + kernel tier)
# A TAP file killed at its time limit (600 s, 1200 s in the emulated guest; SHUNT_TEST_TIMEOUT
# sets it) fails with a line saying so.
# A skip that is not on the allow-list below fails the run (a fresh CI machine must run every
# file): SHUNT_ALLOW_SKIPS=1 only reports them (a developer's machine without some tool).
# Without root every "needs root" skip is expected.
set -u
cd "$(dirname "$0")/.."
passed=0 failed=0 skipped=0 bad_files=()

# WHERE|FILE|REASON PREFIX: the skips that are expected, and why. WHERE: vm (the emulated
# guest, SHUNT_VM) or host.
ALLOWED_SKIPS='vm|tests/e2e/image.t|podman needs a writable container store
vm|tests/e2e/cni.t|podman needs a writable container store
vm|tests/e2e/deploy.t|schema check: not kernel-dependent
vm|tests/e2e/arm64.t|not in the emulated guest'
where=host
[ -n "${SHUNT_VM:-}" ] && where=vm

# skip_expected FILE REASON: on the allow-list (or "needs root" without root)?
skip_expected() {
	local w f r
	[ "$(id -u)" != 0 ] && [ "$2" = "needs root" ] && return 0
	while IFS='|' read -r w f r; do
		[ "$w" = "$where" ] && [ "$f" = "$1" ] && [ "${2#"$r"}" != "$2" ] && return 0
	done <<<"$ALLOWED_SKIPS"
	return 1
}
# skip_seen FILE REASON: count it; an unexpected one fails (prints why) unless allowed
skip_seen() {
	skipped=$((skipped + 1))
	skip_expected "$1" "$2" && return 0
	printf '    unexpected skip in %s: %s (not on run-tests.sh'"'"'s allow-list)\n' "$1" "$2"
	[ -n "${SHUNT_ALLOW_SKIPS:-}" ] && return 0
	return 1
}
logdir=$(mktemp -d /tmp/shunt-tests.XXXXXX)
trap 'rm -rf "$logdir"' EXIT

run_unit() {
	local bin=$1 name log p f
	name=$(basename "$bin")
	log="$logdir/$name.log"
	"$bin" > "$log" 2>&1
	local rc=$?
	if grep -q '^\[  SKIPPED \]' "$log"; then
		local why
		why=$(sed -n 's/^\[  SKIPPED \] [^:]*: //p' "$log" | head -1)
		printf '%-34s skipped: %s\n' "$name" "$why"
		if ! skip_seen "$name" "$why"; then
			failed=$((failed + 1))
			bad_files+=("$name")
		fi
		return
	fi
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	p=${p:-0} f=${f:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi   # crashed or a sanitizer fired
	passed=$((passed + p)) failed=$((failed + f))
	printf '%-34s %3d passed, %d failed\n' "$name" "$p" "$f"
	if [ "$f" -ne 0 ]; then
		bad_files+=("$name")
		sed 's/^/    /' "$log"
	fi
}

run_tap() {
	local t=$1 log p f s start secs
	log="$logdir/$(echo "$t" | tr / _).log"
	start=$(date +%s)
	# -k: a cleanup that hangs after the TERM cannot hang the run
	if [ "${t%.t}" != "$t" ]; then
		timeout -k 30 "$file_limit" bash "$t" > "$log" 2>&1
	else
		timeout -k 30 "$file_limit" "$t" > "$log" 2>&1     # a TAP program (kernel tier)
	fi
	local rc=$?
	[ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] &&
		printf 'not ok - %s: killed after its %d s limit\n' "$t" "$file_limit" >> "$log"
	secs=$(($(date +%s) - start))
	f=$(grep -c '^not ok ' "$log")
	if grep -q '^1\.\.0 # SKIP' "$log"; then
		local why
		why=$(sed -n 's/^1\.\.0 # SKIP //p' "$log")
		printf '%-34s skipped: %s\n' "$t" "$why"
		if ! skip_seen "$t" "$why"; then
			failed=$((failed + 1))
			bad_files+=("$t")
		fi
		return
	fi
	# a skipped check is not a passed one
	p=$(grep '^ok ' "$log" | grep -vc ' # SKIP')
	s=$(grep '^ok ' "$log" | grep -c ' # SKIP')
	local sk bad_skip=0
	while IFS= read -r sk; do
		[ -n "$sk" ] || continue
		skip_seen "$t" "$sk" || bad_skip=1
	done <<<"$(sed -n 's/^ok [0-9]* # SKIP //p' "$log")"   # (no /dev/fd in the guest)
	local plan
	plan=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$log" | tail -1)
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi             # died or bailed out
	if [ -z "$plan" ] || [ "$plan" -ne $((p + s + f)) ] && [ "$f" -eq 0 ]; then f=1; fi
	[ "$bad_skip" = 1 ] && f=$((f + 1))
	passed=$((passed + p)) failed=$((failed + f))
	local sks=
	[ "$s" -gt 0 ] && sks=", $s skipped"
	printf '%-34s %3d passed, %d failed%s (%ds)\n' "$t" "$p" "$f" "$sks" "$secs"
	if [ "$f" -ne 0 ]; then
		bad_files+=("$t")
		grep -v '^ok ' "$log" | sed 's/^/    /' | head -200
	fi
}

# a test file's time limit: the emulated guest (SHUNT_VM, scripts/vmtest.sh) runs ~50x slower
file_limit=${SHUNT_TEST_TIMEOUT:-600}
[ -n "${SHUNT_VM:-}" ] && [ -z "${SHUNT_TEST_TIMEOUT:-}" ] && file_limit=1200
unit_only=0 check_only=0
files=()
for a in "$@"; do
	case $a in
	--unit) unit_only=1 ;;
	--check) check_only=1 ;;
	*) files+=("$a") ;;
	esac
done

if [ ${#files[@]} -eq 0 ]; then
	for bin in build/tests/test_*; do
		[ -x "$bin" ] && run_unit "$bin"
	done
	if [ "$unit_only" -eq 0 ]; then
		for t in build/ktests/*; do
			[ -x "$t" ] && run_tap "$t"
		done
	fi
	if [ "$unit_only" -eq 0 ] && [ "$check_only" -eq 0 ]; then
		for t in tests/kernel/*.t tests/e2e/*.t; do
			[ -f "$t" ] && run_tap "$t"
		done
	fi
else
	for t in "${files[@]}"; do run_tap "$t"; done
fi

[ ${#bad_files[@]} -gt 0 ] && echo "failing: ${bad_files[*]}"
if [ $((passed + failed)) -eq 0 ]; then
	echo "no test ran"
	echo "0 passed, 1 failed"
	exit 1
fi
# the last line is exactly "N passed, N failed", what CI reads; the skips come before it
echo "$skipped skipped"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
