# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# bash completion for shunt(8), installed by `make install` into
# $(PREFIX)/share/bash-completion/completions/shunt. Commands and each command's options are
# read from shunt's own --help (one table in the binary), so they never drift; --pod offers
# the meshed pods' /run/netns names (from `shunt dump`, as root).

_shunt_commands() {
	"$1" --help 2>/dev/null | sed -n '/^Commands:/,/^Options:/s/^  \([a-z][a-z-]*\).*/\1/p'
}

_shunt_options() { # BIN CMD
	"$1" "$2" --help 2>/dev/null | sed -n '/^Options:/,$p' |
		grep -oE -- '^ {2,6}(-[a-zA-Z], )?--[a-z][a-z-]*' | grep -oE -- '--[a-z-]+'
}

# the /run/netns names of the pods shunt meshes (their netns inode in its workload map)
_shunt_meshed_pods() { # BIN PIN_ARGS...
	local bin=$1 inos f
	shift
	inos=" $("$bin" dump "$@" 2>/dev/null | sed -n 's/^  netns [0-9]* *ino \([0-9]*\) .*/\1/p' | tr '\n' ' ')"
	for f in /run/netns/*; do
		[ -e "$f" ] || continue
		case $inos in *" $(stat -L -c %i "$f" 2>/dev/null) "*) echo "${f##*/}" ;; esac
	done
}

_shunt() {
	local cur prev bin cmd i pin=()
	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}
	bin=${COMP_WORDS[0]}
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-p | --pin-dir) pin=(--pin-dir "${COMP_WORDS[i + 1]}") ;;
		-*) ;;
		*) [ -z "${cmd:-}" ] && [[ " $(_shunt_commands "$bin" | tr '\n' ' ') " == *" ${COMP_WORDS[i]} "* ]] &&
			cmd=${COMP_WORDS[i]} ;;
		esac
	done
	[ "${cmd:-}" = pod-init ] && return 0   # istio-iptables' flags: 'shunt pod-init --help'
	case $prev in
	-c | --config | --kubeconfig)
		COMPREPLY=($(compgen -f -- "$cur"))
		return 0 ;;
	-p | --pin-dir | -g | --cgroup | --cni-bin-dir | --cni-conf-dir)
		COMPREPLY=($(compgen -d -- "$cur"))
		return 0 ;;
	-s | --socket)
		COMPREPLY=($(compgen -f -- "$cur"))
		return 0 ;;
	--pod)
		COMPREPLY=($(compgen -W "$(_shunt_meshed_pods "$bin" "${pin[@]}")" -- "$cur"))
		return 0 ;;
	--log-format)
		COMPREPLY=($(compgen -W "text json" -- "$cur"))
		return 0 ;;
	--verdict)
		COMPREPLY=($(compgen -W "$("$bin" status --json "${pin[@]}" 2>/dev/null |
			grep -o '"counters":{[^}]*}' | grep -o '"[a-z_]*":' | tr -d '":' | grep -vx counters)" \
			-- "$cur"))
		return 0 ;;
	-l | --listen | --max-connections | --kube-timeout | --node-name | --addr | --port | --uid | \
		--gid | --timeout)
		return 0 ;;
	esac
	if [ -z "${cmd:-}" ]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--help --version --verbose --log-format" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(_shunt_commands "$bin")" -- "$cur"))
		fi
	elif [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(_shunt_options "$bin" "$cmd")" -- "$cur"))
	else
		case $cmd in
		check | load | apply | run) COMPREPLY=($(compgen -f -- "$cur")) ;;
		esac
	fi
	return 0
}
complete -F _shunt shunt
