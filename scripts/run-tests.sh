#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Runs shunt's test suite and ends with one line: "N passed, N failed" (skipped files are
# counted on the line before).
#   unit tests   build/tests/test_*   cmocka, no root, ASan+UBSan
#   kernel/e2e   tests/kernel/*.t tests/e2e/*.t   TAP, root (skipped without it)
# Usage: scripts/run-tests.sh [--unit] [FILE.t ...]
# A TAP file killed at its time limit (600 s, 1200 s in the emulated guest; SHUNT_TEST_TIMEOUT
# sets it) fails with a line saying so.
set -u
cd "$(dirname "$0")/.."
passed=0 failed=0 skipped=0 bad_files=()
logdir=$(mktemp -d /tmp/shunt-tests.XXXXXX)
trap 'rm -rf "$logdir"' EXIT

run_unit() {
	local bin=$1 name log p f
	name=$(basename "$bin")
	log="$logdir/$name.log"
	"$bin" > "$log" 2>&1
	local rc=$?
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
	timeout "$file_limit" bash "$t" > "$log" 2>&1
	local rc=$?
	[ "$rc" -eq 124 ] && printf 'not ok - %s: killed after its %d s limit\n' "$t" "$file_limit" >> "$log"
	secs=$(($(date +%s) - start))
	p=$(grep -c '^ok ' "$log")
	f=$(grep -c '^not ok ' "$log")
	s=0
	if grep -q '^1\.\.0 # SKIP' "$log"; then
		s=1
		printf '%-34s skipped: %s\n' "$t" "$(sed -n 's/^1\.\.0 # SKIP //p' "$log")"
		skipped=$((skipped + 1))
		return
	fi
	local plan
	plan=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$log" | tail -1)
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi             # died or bailed out
	if [ -z "$plan" ] || [ "$plan" -ne $((p + f)) ] && [ "$f" -eq 0 ]; then f=1; fi
	passed=$((passed + p)) failed=$((failed + f))
	printf '%-34s %3d passed, %d failed (%ds)\n' "$t" "$p" "$f" "$secs"
	if [ "$f" -ne 0 ]; then
		bad_files+=("$t")
		grep -v '^ok ' "$log" | sed 's/^/    /' | head -200
	fi
}

# a test file's time limit: the emulated guest (SHUNT_VM, scripts/vmtest.sh) runs ~50x slower
file_limit=${SHUNT_TEST_TIMEOUT:-600}
[ -n "${SHUNT_VM:-}" ] && [ -z "${SHUNT_TEST_TIMEOUT:-}" ] && file_limit=1200
unit_only=0
files=()
for a in "$@"; do
	case $a in
	--unit) unit_only=1 ;;
	*) files+=("$a") ;;
	esac
done

if [ ${#files[@]} -eq 0 ]; then
	for bin in build/tests/test_*; do
		[ -x "$bin" ] && run_unit "$bin"
	done
	if [ "$unit_only" -eq 0 ]; then
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
# the last line is exactly "N passed, N failed", what CI reads; skipped files come before it
[ "$skipped" -gt 0 ] && echo "$skipped test files skipped (see above)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
