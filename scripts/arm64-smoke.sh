#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The arm64 build, run on an arm64 kernel: cross-builds shunt's BPF objects and its loader for
# arm64 (make ARCH=arm64, Debian's cross toolchain and :arm64 libraries), links the kernel
# tier (tests/kernel/test_capture.c) statically, and boots Debian 12's arm64 kernel under
# qemu-system-aarch64 (TCG) with an initramfs holding only busybox, that test and the arm64
# image's content. The test loads the programs onto a cgroup, meshes itself by its proxy's
# bind and checks capture stage by stage (connect, SO_ORIGINAL_DST, getpeername, bytes, IPv6,
# bypasses, cleanup); then the image's own shunt loads, reports, passes doctor and unloads.
# Its TAP lines stream here; the exit status is the test's.
#
#   scripts/arm64-smoke.sh        (scripts/install-deps.sh installs what it needs)
#
# The kernel and busybox packages are downloaded once into $VMTEST_CACHE/arm64.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${VMTEST_CACHE:-/var/cache/shunt-vmtest}/arm64
TIMEOUT=${VMTEST_TIMEOUT:-900}
OUT=build/arm64
die() { echo "arm64-smoke: $*" >&2; exit 125; }

for t in aarch64-linux-gnu-gcc qemu-system-aarch64 dpkg-deb busybox file; do
	command -v "$t" >/dev/null || die "$t missing (scripts/install-deps.sh)"
done
make -s ARCH=arm64 CC=aarch64-linux-gnu-gcc OUT="$OUT" KTEST_STATIC=1 "$OUT/ktests/test_capture" \
	"$OUT/shunt" "$OUT/shunt-cni" || die "the arm64 build failed"
file -b "$OUT/ktests/test_capture" | grep -q 'ARM aarch64, .*statically linked' ||
	die "$OUT/ktests/test_capture is not a static arm64 executable"

mkdir -p "$CACHE"
exec 8> "$CACHE/.lock"
flock 8
if [ ! -e "$CACHE/.ok" ]; then
	# the kernel linux-image-arm64 depends on now, and busybox, never installed: unpacked
	pkg=$(apt-cache show linux-image-arm64:arm64 | sed -n 's/^Depends: //p' |
		grep -oE 'linux-image-6\.1\.[0-9]+-[0-9]+-arm64' | sort -uV | tail -1 || true)
	[ -n "$pkg" ] || die "no linux-image-arm64 in apt's lists (dpkg --add-architecture arm64; apt-get update)"
	rm -rf "$CACHE/root" "$CACHE"/*.deb
	(cd "$CACHE" && apt-get -o APT::Sandbox::User=root -q download "$pkg:arm64" busybox-static:arm64 >&2) ||
		die "cannot download $pkg"
	for d in "$CACHE"/*.deb; do dpkg-deb -x "$d" "$CACHE/root"; done
	rm -f "$CACHE"/*.deb
	touch "$CACHE/.ok"
fi
vmlinuz=$(ls "$CACHE"/root/boot/vmlinuz-* | head -1)
flock -u 8

run=$(mktemp -d /var/tmp/shunt-arm64.XXXXXX)
qpid=
trap '[ -n "$qpid" ] && kill "$qpid" 2>/dev/null; rm -rf "$run"' EXIT
stage=$run/initramfs
mkdir -p "$stage"/{bin,proc,sys,dev,tmp}
cp "$CACHE/root/bin/busybox" "$stage/bin/busybox"
for a in sh mount mkdir cat echo poweroff sleep uname grep sed; do ln -s busybox "$stage/bin/$a"; done
cp "$OUT/ktests/test_capture" "$stage/test_capture"
# the image's own content (scripts/rootfs.sh: shunt, shunt-cni, the libraries shunt loads)
scripts/rootfs.sh arm64 "$OUT" "$stage" || die "the arm64 root filesystem"
cat > "$stage/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /sys/fs/cgroup /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t bpf bpf /sys/fs/bpf
echo "arm64-smoke: $(uname -m) $(uname -r)"
/test_capture
fail=$?
# the image's shunt, as the DaemonSet runs it: load onto a cgroup, status, unload
t() { # DESCRIPTION CMD...: an ok/not ok line
	d=$1
	shift
	if out=$("$@" 2>&1); then echo "ok - $d"; else echo "not ok - $d"; echo "$out" | sed 's/^/# /'; fail=1; fi
}
S=/usr/local/bin/shunt
exec < /dev/null       # nothing reads the console (the CNI plugin reads its stdin)
mkdir /sys/fs/cgroup/img
t "the image's shunt runs: $($S --version)" $S --version
t "the image's shunt-cni answers VERSION" sh -c 'CNI_COMMAND=VERSION /usr/local/bin/shunt-cni | grep -q cniVersion'
t "shunt load (the image's binary and libraries) onto a cgroup" $S load --pin-dir /sys/fs/bpf/img --cgroup /sys/fs/cgroup/img
t "shunt status: the connect programs attached, a policy live" sh -c "$S status --pin-dir /sys/fs/bpf/img | grep -q 'generation 1'"
t "shunt doctor: this node can run it" $S doctor --pin-dir /sys/fs/bpf/img --cgroup /sys/fs/cgroup/img
t "shunt unload: nothing pinned" sh -c "$S unload --pin-dir /sys/fs/bpf/img && [ ! -e /sys/fs/bpf/img ]"
echo "arm64-smoke: exit $fail"
poweroff -f
INIT
chmod 755 "$stage/init"
(cd "$stage" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) > "$run/initrd"
: > "$run/console"
start=$(date +%s)
timeout "$TIMEOUT" qemu-system-aarch64 -M virt -cpu max -smp 2 -m 1G -accel tcg,thread=multi \
	-nographic -no-reboot -monitor none -serial "file:$run/console" \
	-kernel "$vmlinuz" -initrd "$run/initrd" \
	-append "console=ttyAMA0 quiet loglevel=3 panic=-1 rdinit=/init" &
qpid=$!
tail -n +1 --pid="$qpid" -f "$run/console" | tr -d '\r' | grep --line-buffered -E '^(ok|not ok|1\.\.|# |arm64-smoke:)' || true
wait "$qpid" || true
qpid=
rc=$(sed -n 's/^arm64-smoke: exit \([0-9]*\).*/\1/p' "$run/console" | tr -d '\r' | tail -1)
if [ -z "$rc" ]; then
	echo "arm64-smoke: the guest did not finish (timeout ${TIMEOUT}s or boot failure); its console:" >&2
	tail -30 "$run/console" >&2
	exit 125
fi
echo "arm64-smoke: $(basename "$vmlinuz") under TCG, $(( $(date +%s) - start )) s, exit $rc"
exit "$rc"
