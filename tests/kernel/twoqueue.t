#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The kernel fact behind the fast path's stall with edge-triggered readers (README, The fast
# path, known hazards), measured on the running kernel with the least sk_msg redirect there is
# (tests/tools/twoqueue): a receiving socket with a psock has two queues, and when its peer's
# bytes switch from the redirect to TCP (shunt's queue-limit fallback) one recv() serves only
# the first. An edge-triggered reader that takes the short read for "drained" (HAProxy, nginx,
# tokio) then waits for an edge that never comes, with the rest of the bytes in its socket.
# Controls: plain TCP and an all-redirected stream each give everything in one recv().
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tap.sh"
tap_require_root

out=$("$here/../../build/tools/twoqueue" "$here/../../build/tools/twoqueue.bpf.o" 2>&1)
check_eq "plain TCP: one recv() returns both writes" "plain first=2000 edge=0 second=0 fionread=0" \
	"$(grep '^plain ' <<<"$out")"
check_eq "both writes redirected: one recv() returns both" "redirect first=2000 edge=0 second=0 fionread=0" \
	"$(grep '^redirect ' <<<"$out")"
split=$(grep '^split ' <<<"$out")
check_match "redirected then over TCP: nothing lost (the two reads add up to both writes)" \
	'^split first=1000 .*second=1000 ' "$split"
check_match "... but one recv() returns only the redirected 1000 bytes, and no new edge comes in 1 s" \
	'^split first=1000 edge=0 ' "$split"
echo "# $(uname -r): $split (FIONREAD after the short read: the TCP bytes waiting are not counted)"
tap_done
