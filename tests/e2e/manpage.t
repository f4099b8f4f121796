#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shunt(8) and --help tell the same story: `make install` puts the binary and the man page in
# place, the page renders without warnings, and every command and option --help lists is in
# the page (and the other way round for commands).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tap.sh"
top=$here/../..
command -v man >/dev/null || tap_skip_all "man not installed"
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
out=$(make -C "$top" -s install DESTDIR="$dest" PREFIX=/usr 2>&1)
check_eq "make install: exit 0" "0" "$?"
check "... installs /usr/sbin/shunt" test -x "$dest/usr/sbin/shunt"
check "... and shunt(8)" test -f "$dest/usr/share/man/man8/shunt.8"
warn=$(MANWIDTH=80 man --warnings -l "$dest/usr/share/man/man8/shunt.8" 2>&1 >/dev/null)
check_eq "the page renders without warnings" "" "$warn"
page=$(MANWIDTH=200 man -l "$dest/usr/share/man/man8/shunt.8" 2>/dev/null | sed 's/‐//g')
help=$("$top/build/shunt" --help)
missing=""
for cmd in $(sed -n '/^Commands:/,/^Options:/p' <<<"$help" | sed -n 's/^  \([a-z-]*\).*/\1/p'); do
	grep -q "^       $cmd\b" <<<"$page" || missing+=" $cmd"
done
check_eq "every command of --help has its entry in the page" "" "$missing"
missing=""
for opt in $(grep -o -- '--[a-z][a-z-]*' <<<"$help" | sort -u); do
	grep -q -- "$opt" <<<"$page" || missing+=" $opt"
done
check_eq "every option of --help is in the page" "" "$missing"
missing=""
for cmd in $(sed -n '/^COMMANDS/,/^OPTIONS/p' <<<"$page" | sed -n 's/^       \([a-z-]*\)\( .*\)\{0,1\}$/\1/p' | sort -u); do
	grep -q "^  $cmd\b" <<<"$help" || missing+=" $cmd"
done
check_eq "every command of the page is in --help" "" "$missing"
missing=""
for cmd in check load apply run status dump trace explain doctor unload cni-install; do
	out=$("$top/build/shunt" "$cmd" --help 2>&1) && grep -q "^Usage: shunt \[OPTIONS\] $cmd" <<<"$out" &&
		grep -q "^  $cmd\b" <<<"$out" || missing+=" $cmd"
done
check_eq "shunt COMMAND --help: that command's own part, for each" "" "$missing"
out=$("$top/build/shunt" trace --help)
check_match "... with the options that apply (trace: --verdict)" '--verdict' "$out"
check_nomatch "... and not those of other commands (trace: no --max-connections)" 'max-connections' "$out"
tap_done
