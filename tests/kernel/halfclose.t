#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The kernel fact behind the fast path's "half-close + blocking read" hazard (README, The fast
# path, known hazards), measured on the running kernel with the least sk_msg redirect there is
# (tests/tools/halfclose): an app writes 4 KiB, shutdown(SHUT_WR)s, and waits in a blocking
# recv() for the answer, which its peer sends 2 ms later. On a socket whose sends sk_msg
# redirects, recv() can fail at once with EAGAIN: tcp_bpf_recvmsg() returns EAGAIN when its
# wait is woken without data, and the acknowledgement of the app's own FIN wakes it. Plain TCP
# waits again. What must hold: nothing but that EAGAIN ever goes wrong (no lost or different
# bytes, no hang), and nothing goes wrong without the half-close or without the redirect.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tap.sh"
tap_require_root

ROUNDS=200
out=$("$here/../../build/tools/halfclose" "$here/../../build/tools/halfclose.bpf.o" "$ROUNDS" 2>&1)
check_eq "plain TCP: every half-closed blocking read gets its answer" \
	"plain ok=$ROUNDS eagain=0 other=0" "$(grep '^plain ' <<<"$out")"
check_eq "redirected without a half-close: every blocking read gets its answer" \
	"noshut ok=$ROUNDS eagain=0 other=0" "$(grep '^noshut ' <<<"$out")"
check_match "redirected with a half-close: nothing wrong but an early EAGAIN" \
	"^redirect ok=[0-9]+ eagain=[0-9]+ other=0\$" "$(grep '^redirect ' <<<"$out")"
eagain=$(sed -n 's/^redirect .*eagain=\([0-9]*\).*/\1/p' <<<"$out")
okr=$(sed -n 's/^redirect ok=\([0-9]*\).*/\1/p' <<<"$out")
check_eq "... and every round is counted (ok + eagain = $ROUNDS)" "$ROUNDS" "$(( ${okr:-0} + ${eagain:-0} ))"
echo "# $(uname -r): ${eagain:-?} of $ROUNDS half-closed blocking reads on a redirected socket failed with EAGAIN"
tap_done
