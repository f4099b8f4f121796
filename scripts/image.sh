#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# make image: the DaemonSet's image, built offline from this tree's builds. FROM scratch: the
# binary, the CNI plugin and exactly the shared libraries the binary loads (scripts/rootfs.sh),
# nothing else: no shell, no package manager. (The static binary cannot
# link libmicrohttpd, so it would have no --listen; this one has.)
#   scripts/image.sh [TAG]     default localhost/shunt:VERSION
# Without SHUNT_IMAGE_ARCHS: this machine's architecture only, as TAG. With
# SHUNT_IMAGE_ARCHS="amd64 arm64" (make image does): one image per architecture, TAG-amd64
# and TAG-arm64 (arm64 from `make ARCH=arm64`, Debian's cross toolchain and :arm64 libraries;
# nothing runs under emulation: FROM scratch needs no RUN), and TAG a manifest list of them,
# which a node of either architecture pulls its own from.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
for tool in podman readelf; do
	command -v "$tool" > /dev/null || { echo "image: $tool is not installed" >&2; exit 1; }
done
version=$(cat "$top/VERSION")
tag=${1:-localhost/shunt:$version}
native=$(dpkg --print-architecture)

# build ARCH OUTDIR TAG
build() {
	local arch=$1 out=$2 t=$3 ctx
	ctx=$(mktemp -d /tmp/shunt-image.XXXXXX)
	"$top/scripts/rootfs.sh" "$arch" "$out" "$ctx/rootfs" || { rm -rf "$ctx"; return 1; }
	cat > "$ctx/Containerfile" <<CF
FROM scratch
COPY rootfs/ /
LABEL org.opencontainers.image.title=shunt org.opencontainers.image.version=$version
ENTRYPOINT ["/usr/local/bin/shunt"]
CMD ["run", "--config", "/etc/shunt/shunt.yaml", "--listen", "0.0.0.0:15014", "--log-format", "json"]
CF
	podman build --quiet --arch "$arch" --tag "$t" "$ctx" > /dev/null
	rm -rf "$ctx"
	echo "$t ($arch, $(podman image inspect --format '{{.Size}}' "$t") bytes)"
}

archs=${SHUNT_IMAGE_ARCHS:-}
if [ -z "$archs" ]; then
	build "$native" "$top/build" "$tag"
	exit
fi
podman manifest rm "$tag" > /dev/null 2>&1 || true
podman rmi "$tag" > /dev/null 2>&1 || true
podman manifest create "$tag" > /dev/null
for arch in $archs; do
	if [ "$arch" = "$native" ]; then
		out=$top/build
	else
		out=$top/build/$arch
		make -s -C "$top" ARCH="$arch" CC="$([ "$arch" = arm64 ] && echo aarch64-linux-gnu-gcc)" \
			OUT="$out" "$out/shunt" "$out/shunt-cni" > /dev/null
	fi
	build "$arch" "$out" "$tag-$arch"
	podman manifest add "$tag" "containers-storage:$tag-$arch" > /dev/null
done
echo "$tag: manifest list of $archs"
