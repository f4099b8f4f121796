# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# TAP output for the shell tests: ok/not ok lines, diagnostics, the plan at the end.
TAP_N=0
TAP_FAILED=0

tap_ok() {   # tap_ok DESCRIPTION -- record a pass
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N - $1"
}

tap_fail() { # tap_fail DESCRIPTION WHY...
	TAP_N=$((TAP_N + 1))
	TAP_FAILED=$((TAP_FAILED + 1))
	echo "not ok $TAP_N - $1"
	shift
	local l
	for l in "$@"; do
		printf '%s\n' "$l" | sed 's/^/#   /'
	done
}

# check DESCRIPTION CMD...: pass when CMD succeeds.
check() {
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then
		tap_ok "$desc"
	else
		tap_fail "$desc" "command: $*" "$out"
	fi
}

# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
	if [ "$2" = "$3" ]; then
		tap_ok "$1"
	else
		tap_fail "$1" "expected: $2" "actual:   $3"
	fi
}

# check_match DESCRIPTION REGEX TEXT
check_match() {
	if printf '%s\n' "$3" | grep -Eq -- "$2"; then
		tap_ok "$1"
	else
		tap_fail "$1" "expected to match: $2" "actual: $3"
	fi
}

check_nomatch() {
	if printf '%s\n' "$3" | grep -Eq -- "$2"; then
		tap_fail "$1" "expected NOT to match: $2" "actual: $3"
	else
		tap_ok "$1"
	fi
}

tap_done() {
	echo "1..$TAP_N"
	[ "$TAP_FAILED" -eq 0 ]
}

# Skip one check (TAP "ok N # SKIP REASON")
tap_skip() {
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N # SKIP $1"
}

# Skip the whole file (TAP "1..0 # SKIP")
tap_skip_all() {
	echo "1..0 # SKIP $1"
	exit 0
}

# Stop the file: the sandbox could not be built, nothing after this would mean anything.
tap_bail() {
	echo "Bail out! $*"
	exit 1
}

# tap_require_root [COMMAND...]: skip the file without root or without a command it needs.
tap_require_root() {
	local cmd
	[ "$(id -u)" = 0 ] || tap_skip_all "needs root"
	for cmd in "$@"; do
		command -v "$cmd" >/dev/null || tap_skip_all "$cmd not installed"
	done
}
