#!/usr/bin/env bash
# The same generator (perf/src/bin/loadgen.rs) against gslbd with one data
# core and against dpdk-testpmd's MAC swap, over net_memif, in one run:
# received Mpps, loss and round-trip latency for each, and the ratio.
#   perf/memif-bench.sh [MODE] [FLOWS] [SIZE] [SECONDS]
#     MODE   udp (established flows, default), syn (new connections) or proxy
#            (established flows proxied to a remote site the generator plays)
#            or tcp (whole connections: handshake, data both ways, FINs), or
#            tcp-proxy (the same connections, proxied to the remote site)
#     FLOWS  default 1000000; SIZE frame bytes without FCS, default 60
#   LOADGEN_ARGS adds options to every loadgen run (e.g. "--window 4096").
#   GSLBD_BIN runs that gslbd binary instead of target/release/gslbd (A/B runs).
#   WARMUP seconds sent before measuring, default 3. Established modes need
#   one pass over every flow in it: at 8M flows, 10 or more (the generator
#   opens about 2M flows a second here).
# (testpmd runs with --stats-period: without it, it waits on stdin and a
# background testpmd exits at once.)
# Layout on a 2-core machine: the generator on lcore 0 (beside gslbd's
# control thread, or testpmd's idle main lcore), the forwarder's data core on
# lcore 1. Needs root and hugepages (scripts/hugepages.sh 1024).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode="${1:-udp}"
flows="${2:-1000000}"
size="${3:-60}"
secs="${4:-10}"
work="${GSLBD_BENCH_DIR:-/tmp/gslbd-memif-bench}"
mkdir -p "$work"
cargo build --release -q -p gslbd -p gslbd-perf

sock="$work/memif.sock"
gen_mac=02:67:65:6e:00:01
fwd_mac=02:67:73:6d:00:01
fwd_vdev="net_memif0,role=server,socket=$sock,socket-abstract=no,mac=$fwd_mac"
gen_vdev="net_memif0,role=client,socket=$sock,socket-abstract=no,mac=$gen_mac"
read -ra extra <<<"${LOADGEN_ARGS:-}"
gen() {
    target/release/loadgen --vdev "$gen_vdev" --lcores 0 --mode "${mode%-proxy}" --flows "$flows" --size "$size" \
        --seconds "$secs" --warmup "${WARMUP:-3}" "${extra[@]}" --dst-mac "$fwd_mac" --vip 192.0.2.10 --port 8080 2>"$work/loadgen-$1.log" | tee "$work/result-$1.txt" |
        grep '^result' || echo "result (no output: see $work/loadgen-$1.log)"
}
# One forwarder at a time: start it, let the memif server listen, run the
# generator, stop the forwarder.
run() {
    local name="$1"
    shift
    rm -f "$sock"
    "$@" >"$work/$name.log" 2>&1 &
    local pid=$!
    for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.1; done
    sleep 0.5
    gen "$name"
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# shellcheck source=perf/memif-gslbd.sh
. perf/memif-gslbd.sh
memif_gslbd_config "$work/gslbd.toml" gslbd-memif-bench "$fwd_vdev" "$gen_mac" "$mode" "$flows"

# MEMIF_FORWARDERS picks which run (tests/e2e-memif.sh runs gslbd alone).
testpmd=""
gslbd=""
case " ${MEMIF_FORWARDERS:-testpmd gslbd} " in *" testpmd "*)
    testpmd="$(run testpmd dpdk-testpmd -l 0-1 --no-pci --in-memory --file-prefix gslbd-memif-testpmd \
        --vdev "$fwd_vdev" -- --forward-mode=macswap --port-topology=loop --total-num-mbufs=65535 --stats-period 1)"
    ;;
esac
case " ${MEMIF_FORWARDERS:-testpmd gslbd} " in *" gslbd "*)
    gslbd="$(run gslbd "${GSLBD_BIN:-target/release/gslbd}" run --config "$work/gslbd.toml")"
    ;;
esac

field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }
# What each forwarder forwarded: in proxy mode a frame crosses it twice
# (out to the reflector, and its reply back), so both halves count.
rate=received_mpps
[ "$mode" = proxy ] && rate=forwarded_mpps
case "$mode" in tcp | tcp-proxy) rate=connections_mps ;; esac
echo "net_memif, $mode, $flows flows, $size-byte frames (+FCS), ${secs} s after ${WARMUP:-3} s warm-up"
# The maximum beside the p99: a stop of the whole VM by its host (README,
# troubleshooting) shows there as about 100 ms.
printf '%-28s %12s %12s %15s %13s %8s %9s %9s %9s\n' forwarder "offered Mpps" "back Mpps" "forwarded Mpps" \
    "M conn/s" "loss %" "p50 us" "p99 us" "max us"
for r in "dpdk-testpmd macswap|$testpmd" "gslbd, 1 data core|$gslbd"; do
    name="${r%%|*}"
    res="${r#*|}"
    printf '%-28s %12s %12s %15s %13s %8s %9s %9s %9s\n' "$name" "$(field "$res" sent_mpps)" \
        "$(field "$res" received_mpps)" "$(field "$res" forwarded_mpps)" "$(field "$res" connections_mps)" \
        "$(field "$res" loss_pct)" "$(field "$res" p50_us)" "$(field "$res" p99_us)" "$(field "$res" max_us)"
done
awk -v a="$(field "$gslbd" "$rate")" -v b="$(field "$testpmd" "$rate")" \
    'BEGIN { if (b > 0) printf "%-28s %12s %12.2f (%s)\n", "ratio gslbd / testpmd", "", a / b, "'"$rate"'" }'
echo "logs in $work"
