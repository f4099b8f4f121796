#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The image's root filesystem for one architecture, into DEST: shunt, shunt-cni and exactly
# the shared libraries shunt loads (its ELF NEEDED entries, followed through the libraries,
# and the interpreter), from Debian's multiarch directories. Used by make image (image.sh)
# and by the arm64 guest (arm64-smoke.sh), which runs that very content.
#   scripts/rootfs.sh amd64|arm64 BUILD_DIR DEST
set -eu
arch=$1 out=$2 dest=$3
case $arch in
amd64) multi=x86_64-linux-gnu ;;
arm64) multi=aarch64-linux-gnu ;;
*) echo "rootfs: no such architecture '$arch' (amd64, arm64)" >&2; exit 2 ;;
esac
[ -x "$out/shunt" ] && [ -x "$out/shunt-cni" ] ||
	{ echo "rootfs: $out/shunt or $out/shunt-cni is missing (make first)" >&2; exit 1; }
dirs=("/lib/$multi" "/usr/lib/$multi")
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | paste -sd' ' -; }
mkdir -p "$dest/usr/local/bin" "$dest/etc/shunt" "$dest/var/run/shunt" "$dest/tmp"
cp "$out/shunt" "$dest/usr/local/bin/shunt"
# the CNI plugin (static) that `shunt run --cni-install` copies onto the host
cp "$out/shunt-cni" "$dest/usr/local/bin/shunt-cni"
interp=$(readelf -l "$out/shunt" | sed -n 's/.*\[Requesting program interpreter: \(.*\)\]/\1/p')
mkdir -p "$dest$(dirname "$interp")"
cp -L "$interp" "$dest$interp"
todo=$(needed "$out/shunt") seen=" "
while [ -n "$todo" ]; do
	l=${todo%% *}
	[ "$l" = "$todo" ] && todo= || todo=${todo#* }
	case $seen in *" $l "*) continue ;; esac
	seen="$seen$l "
	found=
	for d in "${dirs[@]}"; do
		[ -e "$d/$l" ] && { found=$d/$l; break; }
	done
	[ -n "$found" ] || { echo "rootfs: $l (needed by shunt) is not in ${dirs[*]}" >&2; exit 1; }
	mkdir -p "$dest$(dirname "$found")"
	cp -L "$found" "$dest$found"
	todo=$(echo $todo $(needed "$found"))
done
