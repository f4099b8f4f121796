#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Runs a command (default: the test suite) as root inside a throwaway QEMU guest booted with
# another kernel: Debian's 6.1 (bookworm) or 6.12 (bookworm-backports), or a vmlinuz file.
# The guest sees this machine's / read-only through virtio-9p under a tmpfs overlay (every
# write is thrown away), a fresh /run, cgroup2, bpffs and the kernel package's own modules.
# Output streams as the command runs; the exit status is the command's.
#
#   scripts/vmtest.sh 6.1|6.12|/path/to/vmlinuz [COMMAND...]
#
# Needs root, qemu-system-x86, busybox-static, kmod (scripts/install-deps.sh --vm). Kernel
# packages are downloaded once with apt (private lists) into $VMTEST_CACHE.
# VMTEST_ACCEL=kvm|tcg overrides the choice (KVM on bare metal, TCG inside a VM, where nested
# KVM is slower than emulation); VMTEST_MEM (default 4G), VMTEST_TIMEOUT seconds (default 3000).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
CACHE=${VMTEST_CACHE:-/var/cache/shunt-vmtest}
MEM=${VMTEST_MEM:-4G}
TIMEOUT=${VMTEST_TIMEOUT:-3000}
die() { echo "vmtest: $*" >&2; exit 125; }

[ $# -ge 1 ] || die "usage: scripts/vmtest.sh 6.1|6.12|VMLINUZ [COMMAND...]"
kernel=$1
shift
[ $# -gt 0 ] || set -- scripts/run-tests.sh
[ "$(id -u)" = 0 ] || die "needs root"
for t in qemu-system-x86_64 busybox depmod modprobe; do
	command -v "$t" >/dev/null || die "$t missing (scripts/install-deps.sh --vm)"
done
mkdir -p "$CACHE"
exec 8> "$CACHE/.lock"
flock 8                                  # one preparer of the cache at a time

# --- the kernel: a Debian package, unpacked (never installed), modules indexed -------------
# apt with its own lists, so bookworm-backports can be read without touching the host's.
apt_private() {
	local d=$CACHE/apt uri sec
	mkdir -p "$d/lists/partial" "$d/archives/partial"
	# the archive this host already uses (deb822 or one-line sources)
	uri=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p; s/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) bookworm .*/\2/p' \
		/etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | grep -v security | head -1 || true)
	sec=$(sed -n 's/^URIs: *\([^ ]*security[^ ]*\).*/\1/p; s/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*security[^ ]*\) .*/\2/p' \
		/etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | head -1 || true)
	[ -n "$uri" ] || die "no Debian archive in the host's apt sources"
	{
		echo "deb $uri bookworm main"
		echo "deb $uri bookworm-backports main"
		[ -n "$sec" ] && echo "deb $sec bookworm-security main"
	} > "$d/sources.list"
	APT=(-o "Dir::Etc::sourcelist=$d/sources.list" -o "Dir::Etc::sourceparts=-"
	     -o "Dir::State::Lists=$d/lists" -o "Dir::Cache::archives=$d/archives"
	     -o "Dir::State::status=/dev/null" -o APT::Sandbox::User=root -o quiet=2)
	ls "$d"/lists/*Packages* >/dev/null 2>&1 || apt-get "${APT[@]}" update >&2 ||
		die "apt-get update failed"
}

case $kernel in
6.1 | 6.12)
	if [ ! -e "$CACHE/$kernel/.ok" ]; then
		apt_private
		# the newest linux-image-<kernel>.N-M-amd64 (6.12.N+debM-amd64 in backports) that a
		# linux-image-amd64 depends on
		pkg=$(apt-cache "${APT[@]}" show linux-image-amd64 | sed -n 's/^Depends: //p' |
			grep -oE "linux-image-${kernel//./\\.}\.[0-9]+[-+][0-9a-z]+-amd64" | sort -uV | tail -1 || true)
		[ -n "$pkg" ] || die "no Debian kernel package for $kernel"
		echo "vmtest: fetching $pkg" >&2
		rm -rf "$CACHE/$kernel"
		mkdir -p "$CACHE/$kernel"
		(cd "$CACHE/$kernel" && apt-get "${APT[@]}" download "$pkg" >&2) || die "cannot download $pkg"
		dpkg-deb -x "$CACHE/$kernel"/*.deb "$CACHE/$kernel/root"
		rm -f "$CACHE/$kernel"/*.deb
		kver=$(ls "$CACHE/$kernel/root/lib/modules")
		depmod -b "$CACHE/$kernel/root" "$kver"
		touch "$CACHE/$kernel/.ok"
	fi
	kroot=$CACHE/$kernel/root
	kver=$(ls "$kroot/lib/modules")
	vmlinuz=$kroot/boot/vmlinuz-$kver
	moddir=$kroot/lib/modules/$kver
	;;
*)
	vmlinuz=$(readlink -f "$kernel")
	[ -f "$vmlinuz" ] || die "no kernel '$kernel' (6.1, 6.12 or a vmlinuz file)"
	kver=$(basename "$vmlinuz")
	kver=${kver#vmlinuz-}
	moddir=/lib/modules/$kver
	[ -f "$moddir/modules.dep" ] || die "no modules for $kver in $moddir"
	kroot=/
	;;
esac

# --- the initramfs: busybox, the modules for 9p + overlay, a script that mounts the root ---
initrd=$CACHE/initrd-$kver-$(md5sum < "$0" | cut -c1-8).cpio.gz
if [ ! -s "$initrd" ]; then
	stage=$(mktemp -d)
	mkdir -p "$stage"/{bin,proc,sys,dev,mods,host,rw,root,vm}
	cp "$(command -v busybox)" "$stage/bin/busybox"
	for a in sh mount insmod mkdir switch_root sleep cat echo; do ln -s busybox "$stage/bin/$a"; done
	for m in virtio_pci 9pnet_virtio 9p overlay; do
		modprobe -d "$([ "$kroot" = / ] && echo / || echo "$kroot")" -S "$kver" --show-depends "$m" 2>/dev/null |
			sed -n 's/^insmod \([^ ]*\).*/\1/p'
	done | awk '!seen[$0]++' | while read -r ko; do
		b=$(basename "$ko")
		b=${b%.xz}
		b=${b%.zst}
		case $ko in
		*.xz) xz -dc "$ko" > "$stage/mods/$b" ;;
		*.zst) zstd -qdc "$ko" > "$stage/mods/$b" ;;
		*) cp "$ko" "$stage/mods/$b" ;;
		esac
		echo "$b" >> "$stage/mods/order"
	done
	cat > "$stage/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
[ -f /mods/order ] && while read -r m; do insmod "/mods/$m" 2>/dev/null; done < /mods/order
o=trans=virtio,version=9p2000.L,msize=262144
mount -t 9p -o "$o,ro,cache=loose" host /host || echo "vmtest: cannot mount the host's /" > /dev/console
mount -t 9p -o "$o,cache=none" vm /vm || echo "vmtest: cannot mount the run directory" > /dev/console
mount -t tmpfs -o mode=755 tmpfs /rw
mkdir -p /rw/u /rw/w
mount -t overlay overlay -o lowerdir=/host,upperdir=/rw/u,workdir=/rw/w /root
for d in proc sys dev; do mount -o move /$d /root/$d; done
mkdir -p /root/run
mount -t tmpfs -o mode=755 tmpfs /root/run
mkdir -p /root/run/vm
mount -o move /vm /root/run/vm
exec switch_root /root /bin/bash /run/vm/stage2
INIT
	chmod 755 "$stage/init"
	(cd "$stage" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) > "$initrd.tmp"
	mv "$initrd.tmp" "$initrd"
	rm -rf "$stage"
fi
flock -u 8

# --- this run -------------------------------------------------------------------------------
run=$(mktemp -d /var/tmp/shunt-vmtest.XXXXXX)   # not /tmp: the guest's /tmp is the overlay's
qpid=
trap '[ -n "$qpid" ] && kill "$qpid" 2>/dev/null; rm -rf "$run"' EXIT
: > "$run/out"
{
	echo '#!/bin/bash'
	echo 'mount -t devpts devpts /dev/pts 2>/dev/null; mkdir -p /dev/shm; mount -t tmpfs tmpfs /dev/shm'
	echo 'mount -t cgroup2 cgroup2 /sys/fs/cgroup; mount -t bpf bpf /sys/fs/bpf'
	echo 'mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null'
	echo "mkdir -p /lib/modules/\$(uname -r) && mount -o bind,ro $(printf %q "$moddir") /lib/modules/\$(uname -r)"
	echo 'ip link set lo up; echo 1 > /proc/sys/kernel/sysrq; mkdir -p /run/netns'
	# the caller's limits: HAProxy wants more than the kernel's 1024 open files
	for o in n u s l; do printf 'ulimit -%s %s 2>/dev/null\n' "$o" "$(ulimit -"$o")"; done
	printf 'export PATH=%q HOME=/root CI=%q SHUNT_SLOW=%q SHUNT_VM=1\n' "$PATH" "${CI:-}" "${SHUNT_SLOW:-}"
	printf 'cd %q\n' "$top"
	printf 'echo "vmtest: $(uname -r), $(nproc) CPUs" >> /run/vm/out\n'
	printf '%q ' "$@"
	echo '>> /run/vm/out 2>&1 < /dev/null'
	echo 'echo $? > /run/vm/status; sync; echo o > /proc/sysrq-trigger; sleep 30'
} > "$run/stage2"

accel=${VMTEST_ACCEL:-}
if [ -z "$accel" ]; then
	# Inside a VM nested KVM is much slower than emulation (or fails): TCG there.
	if [ -w /dev/kvm ] && ! grep -qw hypervisor /proc/cpuinfo; then accel=kvm; else accel=tcg; fi
fi
if [ "$accel" = kvm ]; then qaccel=(-accel kvm -cpu host); else qaccel=(-accel tcg,thread=multi -cpu max); fi
start=$(date +%s)
timeout "$TIMEOUT" qemu-system-x86_64 "${qaccel[@]}" -smp "$(nproc)" -m "$MEM" \
	-nographic -no-reboot -monitor none -serial "file:$run/console" \
	-kernel "$vmlinuz" -initrd "$initrd" \
	-append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init" \
	-fsdev local,id=host,path=/,security_model=none,readonly=on,multidevs=remap \
	-device virtio-9p-pci,fsdev=host,mount_tag=host \
	-fsdev local,id=vm,path="$run",security_model=none \
	-device virtio-9p-pci,fsdev=vm,mount_tag=vm &
qpid=$!
tail -n +1 --pid="$qpid" -f "$run/out"
wait "$qpid" || true
qpid=
if [ ! -s "$run/status" ]; then
	echo "vmtest: the guest did not finish (timeout ${TIMEOUT}s or boot failure); its console:" >&2
	tail -30 "$run/console" >&2
	exit 125
fi
echo "vmtest: $kver under $accel, $(( $(date +%s) - start )) s, exit $(cat "$run/status")"
# the suite's own closing line last again, for whoever reads only the last line
grep -E '^[0-9]+ passed, [0-9]+ failed' "$run/out" | tail -1 || true
exit "$(cat "$run/status")"
