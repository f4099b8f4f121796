#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Installs what shunt needs to build and to run its tests and demo (Debian 12, as root).
#   scripts/install-deps.sh          build + tests + demo
#   scripts/install-deps.sh --bench  also the benchmark tools
#   scripts/install-deps.sh --vm     also what make vmtest needs (QEMU, busybox, kmod)
# The suite's arm64.t cross-builds for arm64 and boots an arm64 guest: Debian's cross
# toolchain, the :arm64 libraries (multiarch: dpkg learns the arm64 architecture) and
# qemu-system-aarch64 are part of every install.
set -eu
pkgs=(make gcc clang llvm pkg-config libbpf-dev libelf-dev zlib1g-dev libyaml-dev bpftool
      libcmocka-dev libmicrohttpd-dev haproxy iproute2 util-linux procps iptables liburing-dev
      dnsmasq-base bind9-dnsutils prometheus curl podman runc catatonit python3-yaml
      libcurl4-openssl-dev libjson-c-dev containernetworking-plugins openssl man-db
      gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-system-arm busybox-static file
      libbpf-dev:arm64 libelf-dev:arm64 zlib1g-dev:arm64 libyaml-dev:arm64
      libcurl4-openssl-dev:arm64 libjson-c-dev:arm64 libmicrohttpd-dev:arm64)
# The suite runs every file on a fresh machine (run-tests.sh fails on an unexpected skip):
# kubectl for `kubectl kustomize` (deploy.t, image.t): the "kubectl" package where an apt
# source has it, else Debian's kubernetes-client; npm for the manifest schema check, unless a
# node install already brings one.
command -v kubectl >/dev/null ||
	if apt-cache show kubectl >/dev/null 2>&1; then pkgs+=(kubectl); else pkgs+=(kubernetes-client); fi
command -v npm >/dev/null || pkgs+=(npm)
for a in "$@"; do
	case $a in
	--bench) pkgs+=(iperf3 sockperf wrk nginx-light gnuplot-nox time) ;;
	--vm) pkgs+=(qemu-system-x86 busybox-static kmod xz-utils) ;;
	*) echo "usage: $0 [--bench] [--vm]" >&2; exit 2 ;;
	esac
done
# :arm64 packages need the architecture in dpkg (multiarch), and its package lists
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	dpkg --add-architecture arm64
	apt-get update -qq
fi
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# policy-rc.d keeps the haproxy/nginx packages from starting system services.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The manifest schema check (tests/e2e/deploy.t): kubernetes-models, typescript and yaml from
# the npm registry, at the versions of tests/schema/package-lock.json.
top=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -d "$top/tests/schema/node_modules/kubernetes-models" ]; then
	if command -v npm >/dev/null; then
		npm ci --prefix "$top/tests/schema" --no-audit --no-fund --loglevel=error ||
			echo "warning: npm ci failed: deploy.t will skip the manifest schema check" >&2
	else
		echo "warning: no npm: deploy.t will skip the manifest schema check" >&2
	fi
fi
echo "dependencies: ok"
