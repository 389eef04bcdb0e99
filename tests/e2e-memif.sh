#!/usr/bin/env bash
# gslbd on a real poll-mode driver (net_memif) against the project's own
# generator (loadgen), one data core, at a low fixed rate: this checks what
# happens to the traffic; perf/memif-bench.sh measures how much of it fits.
# (Rates are only checked to be a fair share of the one asked for: on a
# busy 2-core machine the generator itself may fall behind.)
# Checks, in order:
#   1. established UDP flows: the frames come back, each flow opened once;
#   2. proxy: the real servers down and a remote site `assume_up`: every
#      flow is proxied through a PIP, and the generator's replies as the
#      remote VIP are translated back to the clients;
#   3. tcp: whole connections (handshake, data both ways, FINs) through the
#      TCP state machine complete, each a new flow;
#   4. the same connections proxied through the PIPs to the remote site.
# Needs root and hugepages.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

NAME=e2e-memif
PAGES=200
# shellcheck source=tests/e2e-common.sh
. tests/e2e-common.sh

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cargo build --release -q -p gslbd -p gslbd-perf || exit 1

# run MODE FLOWS RATE: gslbd alone against loadgen for 2 s after warm-up;
# sets $res (loadgen's result line) and $cores (gslbd's final counters).
run() {
    local dir="$work/$1"
    # A handshake may wait: on a loaded machine the very first SYNs' answers
    # were seen to come back 1.3 s late, after a 1 s SYN timeout had aged
    # their flows (counted as not_our_address).
    MEMIF_SYN_TIMEOUT_S=5 MEMIF_FORWARDERS=gslbd GSLBD_BENCH_DIR="$dir" LOADGEN_ARGS="--rate $3" \
        perf/memif-bench.sh "$1" "$2" 60 2 >"$work/$1.out" 2>&1
    res="$(cat "$dir/result-gslbd.txt" 2>/dev/null)"
    cores="$(grep '^data core 0:' "$dir/gslbd.log" 2>/dev/null)"
}
field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }
at_least() { awk -v a="${1:-0}" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
# Loss under 1 %: a descheduled generator can make a ring overflow (counted
# as tx_full); a translation gone wrong loses everything.
little_loss() { awk -v l="$(field "$1" loss_pct)" 'BEGIN { exit !(l != "" && l < 1) }'; }
# The counters in gslbd's final line that are neither traffic nor flows
# opened and aged: every drop reason, exceptions, resets. (A full memif ring,
# tx_full, is the generator pushing back; the loss figure covers it.)
unexpected() {
    tr ' ' '\n' <<<"$1" | grep '=' | cut -d= -f1 |
        grep -vxE 'rx_packets|rx_bytes|tx_packets|tx_bytes|tx_full|flows_(created|expired)_(local|proxy)|snapshot_updates' |
        tr '\n' ' '
}

# 1. Established UDP flows.
run udp 10000 0.2
if little_loss "$res" && at_least "$(field "$res" received_mpps)" 0.05 &&
    grep -q "flows_created_local=10000 " <<<"$cores " && [ -z "$(unexpected "$cores")" ]; then
    ok "udp: 10000 flows, $(field "$res" received_mpps) Mpps back, loss $(field "$res" loss_pct) %"
else
    bad "udp: $res / $cores"
fi

# 2. Proxied both ways.
run proxy 10000 0.2
if little_loss "$res" && at_least "$(field "$res" received_mpps)" 0.05 &&
    at_least "$(field "$res" reflected_mpps)" 0.05 && grep -q "flows_created_proxy=10000 " <<<"$cores " &&
    ! grep -q flows_created_local <<<"$cores" && [ -z "$(unexpected "$cores")" ]; then
    ok "proxy: 10000 flows through the PIPs, $(field "$res" reflected_mpps) Mpps of replies translated back, loss $(field "$res" loss_pct) %"
else
    bad "proxy: $res / $cores"
fi

# 3. Whole TCP connections.
run tcp 1000000 0.05
done_mps="$(field "$res" connections_mps)"
if at_least "$done_mps" 0.0125 && little_loss "$res" &&
    [ -z "$(unexpected "$cores")" ]; then
    ok "tcp: $done_mps M connections/s completed (SYN to FIN p50 $(field "$res" p50_us) us), loss $(field "$res" loss_pct) %"
else
    bad "tcp: $res / $cores"
fi

# 4. Whole TCP connections proxied: the seed scenario's "every frame until
# FIN" through a PIP, each connection's port given back once it closed.
run tcp-proxy 1000000 0.05
done_mps="$(field "$res" connections_mps)"
expired="$(tr ' ' '\n' <<<"$cores" | awk -F= '$1 == "flows_expired_proxy" { print $2 }')"
if at_least "$done_mps" 0.0125 && little_loss "$res" && grep -q "flows_created_proxy=" <<<"$cores" &&
    ! grep -q flows_created_local <<<"$cores" && at_least "${expired:-0}" 1 && [ -z "$(unexpected "$cores")" ]; then
    ok "tcp through the PIPs: $done_mps M connections/s completed, $expired closed and aged (ports given back), loss $(field "$res" loss_pct) %"
else
    bad "tcp-proxy: $res / $cores"
fi

echo "$NAME: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
