#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# prev-release.sh: prints the newest commit of main whose include/shunt/abi.h has a lower
# SHUNT_ABI_VERSION than the working tree's: the last build of the previous ABI, the shunt a
# node runs before an in-place upgrade to this one (faults.t rolls from it and back). Prints
# nothing (exit 1) without git history (a tarball) or without an older ABI.
set -u
cd "$(dirname "$0")/.."
abi_of() { sed -n 's/^#define SHUNT_ABI_VERSION \([0-9]*\)$/\1/p'; }
now=$(abi_of < include/shunt/abi.h)
[ -n "$now" ] && git rev-parse --git-dir > /dev/null 2>&1 || exit 1
for c in $(git log --format=%H -- include/shunt/abi.h); do
	# a commit that changed abi.h: the build before it may speak another ABI
	for p in "$c" "$c^"; do
		v=$(git show "$p:include/shunt/abi.h" 2> /dev/null | abi_of)
		if [ -n "$v" ] && [ "$v" -lt "$now" ]; then
			git rev-parse "$p"
			exit 0
		fi
	done
done
exit 1
