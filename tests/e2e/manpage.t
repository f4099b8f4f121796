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
check "... and the bash completion where bash-completion looks" \
	test -f "$dest/usr/share/bash-completion/completions/shunt"
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
for cmd in $(sed -n '/^Commands:/,/^Options:/p' <<<"$help" | sed -n 's/^  \([a-z-]*\).*/\1/p' | grep -vx pod-init); do
	out=$("$top/build/shunt" "$cmd" --help 2>&1) && grep -q "^Usage: shunt \[OPTIONS\] $cmd" <<<"$out" &&
		grep -q "^  $cmd\b" <<<"$out" || missing+=" $cmd"
done
check_eq "shunt COMMAND --help: that command's own part, for each" "" "$missing"
out=$("$top/build/shunt" trace --help)
check_match "... with the options that apply (trace: --verdict)" '--verdict' "$out"
check_nomatch "... and not those of other commands (trace: no --max-connections)" 'max-connections' "$out"
# Each command reads exactly the options its --help lists: every other option of --help is
# refused naming the commands that read it. The extra arguments make each accepted line stop at
# "unexpected argument" before doing anything.
declare -A val=([config]=x [pin-dir]=/nonexistent [cgroup]=/x [socket]=/x [cni-bin-dir]=/x
	[cni-conf-dir]=/x [max-connections]=1000 [kubeconfig]=x [kube-timeout]=5 [node-name]=n
	[listen]=127.0.0.1:1 [pod]=x [addr]=198.18.0.1 [port]=80 [verdict]=redirect [uid]=1 [gid]=1
	[log-format]=json [timeout]=5)
bad=""
n=0
for cmd in $(sed -n '/^Commands:/,/^Options:/p' <<<"$help" | sed -n 's/^  \([a-z-]*\).*/\1/p' | grep -vx pod-init); do
	mine=$("$top/build/shunt" "$cmd" --help | sed -n '/^Options:/,$p')
	for opt in $(sed -n '/^Options:/,$p' <<<"$help" | grep -oE -- '^ {2,6}(-[a-zA-Z], )?--[a-z][a-z-]*' |
		grep -oE -- '--[a-z-]+'); do
		case $opt in --help|--version|--verbose) continue ;; esac
		o=${opt#--}
		args=("$opt")
		[ -n "${val[$o]:-}" ] && args+=("${val[$o]}")
		out=$("$top/build/shunt" "$cmd" "${args[@]}" a b c 2>&1)
		rc=$?
		n=$((n + 1))
		if grep -q -- "^ *\(-[a-zA-Z], \)\{0,1\}$opt\b" <<<"$mine"; then
			[ $rc = 2 ] && ! grep -q "goes with" <<<"$out" || bad+=" $cmd$opt(refused:$out)"
		else
			[ $rc = 2 ] && grep -q -- "^shunt: $opt goes with '.*', not '$cmd'" <<<"$out" ||
				bad+=" $cmd$opt(accepted:$out)"
		fi
	done
done
check_eq "each command accepts exactly the options its --help lists ($n pairs)" "" "$bad"
out=$("$top/build/shunt" check --help)
check_nomatch "check --help: no --pin-dir (check reads no pins)" 'pin-dir' "$out"
out=$("$top/build/shunt" unload --help)
check_nomatch "unload --help: no --config" '--config' "$out"
out=$("$top/build/shunt" explain --help)
check_match "explain --help: its [SRC] DST arguments" '^Usage: shunt \[OPTIONS\] explain \[SRC\] DST' "$out"
# bash completion: what it offers is what --help lists (it reads it)
comp() { # WORDS...: what completing the last word offers, sorted, one line
	bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _shunt
		printf "%s\n" "${COMPREPLY[@]}"' _ "$dest/usr/share/bash-completion/completions/shunt" \
		"$top/build/shunt" "$@" | sort | paste -sd' ' -
}
cmds=$(sed -n '/^Commands:/,/^Options:/s/^  \([a-z][a-z-]*\).*/\1/p' <<<"$help" | sort | paste -sd' ' -)
check_eq "completion: 'shunt <TAB>' offers every command" "$cmds" "$(comp '')"
check_eq "... 'shunt un<TAB>'" "uninstall unload" "$(comp un)"
mine=$("$top/build/shunt" check --help | sed -n '/^Options:/,$p' | grep -oE -- '^ {2,6}(-[a-zA-Z], )?--[a-z][a-z-]*' |
	grep -oE -- '--[a-z-]+' | sort | paste -sd' ' -)
check_eq "... 'shunt check --<TAB>': exactly check's options" "$mine" "$(comp check --)"
check_eq "... 'shunt --log-format <TAB>'" "json text" "$(comp --log-format '')"
check_eq "... 'shunt -v trace --ver<TAB>' (after a general option)" "--verbose --verdict --version" "$(comp -v trace --ver)"
# --json: what a script reads is JSON, errors included (stderr, one object a line)
err=$("$top/build/shunt" status --json --pin-dir /nonexistent-shunt-pins 2>&1 >/dev/null)
check_eq "status --json, nothing loaded: exit 1, the error a JSON object on stderr" "1 error" \
	"$("$top/build/shunt" status --json --pin-dir /nonexistent-shunt-pins > /dev/null 2>&1; echo $?) $(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["level"])' "$err" 2>&1)"
tap_done
