#!/usr/bin/env bash
# Pktgen-DPDK as the generator, over net_memif, against dpdk-testpmd's MAC
# swap and then gslbd with one data core, in one run: the rate pktgen gets
# back from each and the ratio.
#   PKTGEN=/path/to/pktgen perf/pktgen-bench.sh [SCENARIO] [SECONDS]
#     SCENARIO  established (default), syn-flood or proxy-replies: the Lua
#               scripts in perf/pktgen/ (README.md there says what each sends)
#     SECONDS   measured, after PG_WARMUP (3) s; default 10
#   Environment: PG_SIZE frame bytes with FCS (default 64), PG_FLOWS (the
#   scenario's default otherwise), GSLBD=path to use a built gslbd instead of
#   building one.
# Needs root, Pktgen-DPDK 23.06.1 built with Lua (perf/pktgen/README.md), a C
# compiler for perf/pktgen/memif-mtu.c, and about 1.6 GB of free hugepages
# (scripts/hugepages.sh 2048): pktgen's own mbuf pools take 1.3 GB.
#
# Layout on a 2-core machine: pktgen's main lcore and its rx/tx lcore both on
# CPU 0 (beside gslbd's control thread or testpmd's idle main lcore), the
# forwarder's data core alone on CPU 1. Pktgen's timer thread (it refreshes
# the counters once a second) polls the clock without sleeping: at nice 19
# it takes about 1.5 % of CPU 0 instead of half. (SCHED_IDLE starved it for
# seconds at a time and, when it did run, stalled the rx/tx lcore: pktgen
# sent 2-4 Mpps against testpmd instead of 5-7.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scenario="${1:-established}"
secs="${2:-10}"
lua="$PWD/perf/pktgen/$scenario.lua"
if [ ! -f "$lua" ]; then
    echo "pktgen-bench: no scenario $scenario (perf/pktgen/*.lua: established, syn-flood, proxy-replies)" >&2
    exit 2
fi
if [ -z "${PKTGEN:-}" ] || [ ! -x "$PKTGEN" ]; then
    cat >&2 <<'EOF'
pktgen-bench: set PKTGEN to a Pktgen-DPDK 23.06.1 binary built with Lua, e.g.
  PKTGEN=/path/to/pktgen-build/app/pktgen perf/pktgen-bench.sh
Build it yourself against the installed DPDK 22.11: perf/pktgen/README.md says how.
EOF
    exit 2
fi
work="${GSLBD_BENCH_DIR:-/tmp/gslbd-pktgen-bench}"
mkdir -p "$work"

need_mb=1600
free_mb=$(($(awk '/^HugePages_Free/ { print $2 }' /proc/meminfo) * 2))
if [ "$free_mb" -lt "$need_mb" ]; then
    echo "pktgen-bench: $free_mb MB of hugepages free, about $need_mb needed: scripts/hugepages.sh 2048" >&2
    exit 1
fi

if [ -n "${GSLBD:-}" ]; then
    gslbd_bin="$GSLBD"
else
    cargo build --release -q -p gslbd
    gslbd_bin="${CARGO_TARGET_DIR:-target}/release/gslbd"
fi
shim="$work/memif-mtu.so"
cc -shared -fPIC -O2 -o "$shim" perf/pktgen/memif-mtu.c -ldl

sock="$work/memif.sock"
gen_mac=02:67:65:6e:00:01
fwd_mac=02:67:73:6d:00:01
fwd_vdev="net_memif0,role=server,socket=$sock,socket-abstract=no,mac=$fwd_mac"
gen_vdev="net_memif0,role=client,socket=$sock,socket-abstract=no,mac=$gen_mac"

# Pktgen needs a terminal: script(1) gives it one, running this wrapper,
# which leaves its pid (pktgen's, after exec) for nice_timer_thread.
{
    echo '#!/bin/sh'
    printf 'echo $$ >%q\n' "$work/pktgen.pid"
    printf 'exec env LD_PRELOAD=%q %q' "$shim" "$PKTGEN"
    printf ' %q' --lcores '0@0,1@0' --no-pci --in-memory --file-prefix gslbd-pktgen-gen \
        --vdev "$gen_vdev" -- -P -m 1.0 -f "$lua"
    echo
} >"$work/pktgen.sh"
chmod +x "$work/pktgen.sh"

# Once the script runs (it leaves RESULT.started), pktgen's threads are all
# up; the one named like the process, other than the main thread, is the
# timer thread.
nice_timer_thread() {
    local started="$1" pid t
    for _ in $(seq 1 600); do
        [ -e "$started" ] && break
        sleep 0.1
    done
    pid="$(cat "$work/pktgen.pid" 2>/dev/null || true)"
    for t in /proc/"$pid"/task/*; do
        if [ -n "$pid" ] && [ "${t##*/}" != "$pid" ] && [ "$(cat "$t/comm" 2>/dev/null)" = pktgen ]; then
            renice -n 19 -p "${t##*/}" >/dev/null && return 0
        fi
    done
    echo "pktgen-bench: pktgen's timer thread not found; it shares CPU 0 at full weight" >&2
}

# CPU ticks used by the whole machine, and by the given processes.
busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
ticks() {
    local p sum=0
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] && sum=$((sum + $(sed 's/.*) //' "/proc/$p/stat" | awk '{ print $12 + $13 }')))
    done
    echo "$sum"
}
uptime_s() { awk '{ print $1 }' /proc/uptime; }

# Runs pktgen against the forwarder (pid $2); prints pktgen's result line and
# the share of a CPU everything else on the machine took meanwhile.
gen() {
    local name="$1" fwd="$2" result="$work/result-$1.txt" pid b0 o0 t0 b1 o1 t1
    rm -f "$result" "$result.started" "$work/pktgen.pid"
    PG_DST_MAC="$fwd_mac" PG_SECONDS="$secs" PG_RESULT="$result" \
        timeout -s INT $((secs + ${PG_WARMUP:-3} + 120)) script -qfec "$work/pktgen.sh" /dev/null \
        >"$work/pktgen-$name.log" 2>&1 &
    local spid=$!
    nice_timer_thread "$result.started"
    pid="$(cat "$work/pktgen.pid" 2>/dev/null || echo 0)"
    b0=$(busy) o0=$(ticks "$pid" "$fwd") t0=$(uptime_s)
    while kill -0 "$spid" 2>/dev/null && [ ! -s "$result" ]; do sleep 0.1; done
    b1=$(busy) o1=$(ticks "$pid" "$fwd") t1=$(uptime_s)
    wait "$spid" || true
    local line
    line="$(grep -h '^result\|^error' "$result" 2>/dev/null || echo "error no result: see $work/pktgen-$name.log")"
    awk -v l="$line" -v o=$(((b1 - b0) - (o1 - o0))) -v hz="$(getconf CLK_TCK)" -v t0="$t0" -v t1="$t1" \
        'BEGIN { printf "%s others_cpu_pct=%.0f\n", l, (t1 > t0) ? 100 * o / hz / (t1 - t0) : 0 }'
}

# One forwarder at a time: start it, let the memif server listen, run pktgen,
# stop the forwarder.
run() {
    local name="$1"
    shift
    rm -f "$sock"
    "$@" >"$work/$name.log" 2>&1 &
    local pid=$!
    for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.1; done
    sleep 0.5
    gen "$name" "$pid"
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# pktgen-bench's proxy-replies sends to PIP 192.0.2.200 from port 1024
# upward: at most 64,512 flows, one PIP.
kind=udp
flows="${PG_FLOWS:-1000000}"
case "$scenario" in
syn-flood) kind=syn ;;
proxy-replies)
    kind=proxy
    flows="${PG_FLOWS:-24576}"
    ;;
esac
# shellcheck source=perf/memif-gslbd.sh
. perf/memif-gslbd.sh
memif_gslbd_config "$work/gslbd.toml" gslbd-pktgen-bench "$fwd_vdev" "$gen_mac" "$kind" "$flows"

testpmd="$(run testpmd dpdk-testpmd -l 0-1 --no-pci --in-memory --file-prefix gslbd-pktgen-testpmd \
    --vdev "$fwd_vdev" -- --forward-mode=macswap --port-topology=loop --total-num-mbufs=65535 --stats-period 1)"
gslbd="$(run gslbd "$gslbd_bin" run --config "$work/gslbd.toml")"

field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }
echo "Pktgen-DPDK over net_memif, $scenario, ${PG_SIZE:-64}-byte frames, ${secs} s after ${PG_WARMUP:-3} s warm-up"
printf '%-28s %10s %10s\n' forwarder "sent Mpps" "back Mpps"
for r in "dpdk-testpmd macswap|$testpmd" "gslbd, 1 data core|$gslbd"; do
    name="${r%%|*}"
    res="${r#*|}"
    case "$res" in
    result*) printf '%-28s %10s %10s\n' "$name" "$(field "$res" tx_mpps)" "$(field "$res" rx_mpps)" ;;
    *) printf '%-28s %s\n' "$name" "$res" ;;
    esac
done
awk -v a="$(field "$gslbd" rx_mpps)" -v b="$(field "$testpmd" rx_mpps)" \
    'BEGIN { if (a != "" && b > 0) printf "%-28s %10s %10.2f\n", "ratio gslbd / testpmd", "", a / b }'
awk -v a="$(field "$testpmd" others_cpu_pct)" -v b="$(field "$gslbd" others_cpu_pct)" 'BEGIN {
    if (a > 25 || b > 25) printf "other processes took %s %% and %s %% of a CPU during the two runs: the figures are unsure\n", a, b }'
echo "pktgen's result lines:"
printf '  testpmd: %s\n  gslbd:   %s\n' "$testpmd" "$gslbd"
echo "gslbd's counters at exit:"
grep -A1 '^data core' "$work/gslbd.log" | sed 's/^/  /' || echo "  (none: see $work/gslbd.log)"
echo "logs in $work"
