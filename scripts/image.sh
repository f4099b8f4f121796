#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# make image: the DaemonSet's image, built offline from this tree's build/shunt. FROM scratch:
# the binary and exactly the shared libraries it loads (ldd), nothing else: no shell, no
# package manager. (The static binary cannot link libmicrohttpd, so it would have no
# --listen; this one has.)
#   scripts/image.sh [TAG]     default localhost/shunt:VERSION
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bin=$top/build/shunt
[ -x "$bin" ] || { echo "image: build/shunt is missing (run make first)" >&2; exit 1; }
version=$("$bin" --version | awk '{ print $2 }')
tag=${1:-localhost/shunt:$version}
for tool in podman ldd; do
	command -v "$tool" > /dev/null || { echo "image: $tool is not installed" >&2; exit 1; }
done
ctx=$(mktemp -d /tmp/shunt-image.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/rootfs/usr/local/bin" "$ctx/rootfs/etc/shunt" "$ctx/rootfs/var/run/shunt" \
	"$ctx/rootfs/tmp"
cp "$bin" "$ctx/rootfs/usr/local/bin/shunt"
# the CNI plugin (static) that `shunt run --cni-install` copies onto the host
[ -x "$top/build/shunt-cni" ] || { echo "image: build/shunt-cni is missing (run make first)" >&2; exit 1; }
cp "$top/build/shunt-cni" "$ctx/rootfs/usr/local/bin/shunt-cni"
for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
	mkdir -p "$ctx/rootfs$(dirname "$lib")"
	cp -L "$lib" "$ctx/rootfs$lib"
done
cat > "$ctx/Containerfile" <<CF
FROM scratch
COPY rootfs/ /
LABEL org.opencontainers.image.title=shunt org.opencontainers.image.version=$version
ENTRYPOINT ["/usr/local/bin/shunt"]
CMD ["run", "--config", "/etc/shunt/shunt.yaml", "--listen", "0.0.0.0:15014", "--log-format", "json"]
CF
podman build --quiet --tag "$tag" "$ctx" > /dev/null
echo "$tag ($(podman image inspect --format '{{.Size}}' "$tag") bytes)"
