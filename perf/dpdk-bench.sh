#!/usr/bin/env bash
# One data core on DPDK against dpdk-testpmd's MAC swap, on the same device
# in the same run: net_pcap replaying (infinite_rx) a capture of 64-byte
# frames of N established UDP flows, transmit dropped by the driver.
#   perf/dpdk-bench.sh [FLOWS] [SECONDS]       defaults: 1000000 flows, 12 s each
# Needs root and hugepages (scripts/hugepages.sh 1024: the capture is held in mbufs).
#   GSLBD_BIN runs that gslbd binary instead of target/release/gslbd (A/B runs);
#   SKIP_TESTPMD=1 leaves testpmd out (the ratio is then not printed);
#   ROUNDS=N runs the pair N times, alternating, and prints each round's
#   ratio and their median (this VM's speed moves from minute to minute, so
#   a ratio counts only between runs next to each other).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

flows="${1:-1000000}"
secs="${2:-12}"
work="${GSLBD_BENCH_DIR:-/tmp/gslbd-bench}"
mkdir -p "$work"
cargo build --release -q -p gslbd -p gslbd-perf

# net_pcap's port MAC is 02:70:63:61:70:<port> ("pcap").
pcap="$work/udp-$flows.pcap"
[ -s "$pcap" ] || target/release/gen-pcap --flows "$flows" --dst-mac 02:70:63:61:70:00 --vip 192.0.2.10 --port 8080 --out "$pcap"
vdev="net_pcap0,rx_pcap=$pcap,infinite_rx=1"
mbufs=$((flows + 65536))

# The steady rate: the median of the one-second samples after the first
# three (start-up, and the first pass that opens the flows).
steady() { tail -n +4 | sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "%.2f", v[int((NR + 1) / 2)]; else print "0" }'; }

run_testpmd() {
    [ -n "${SKIP_TESTPMD:-}" ] && { echo 0; return; }
    timeout -s INT "$secs" dpdk-testpmd -l 0-1 --no-pci --in-memory --file-prefix gslbd-bench-testpmd \
        --vdev "$vdev" -- --forward-mode=macswap --port-topology=loop --stats-period 1 \
        --total-num-mbufs="$mbufs" --mbuf-size=384 >"$work/testpmd.log" 2>&1 || true
    grep -o 'Rx-pps: *[0-9]*' "$work/testpmd.log" | awk '{ printf "%.2f\n", $2 / 1e6 }' | steady
}

cat >"$work/gslbd.toml" <<TOML
[eal]
lcores = "0-1"
file_prefix = "gslbd-bench"
in_memory = true
vdevs = ["$vdev"]
[port]
device = "net_pcap0"
mbufs = $mbufs
mbuf_size = 384
[flows]
capacity = $((flows + flows / 4))
idle_polls = 1000000
[site]
name = "bench"
[[real_server]]
name = "rs1"
address = "10.1.0.11"
mac = "02:00:00:01:00:0b"
[[real_server]]
name = "rs2"
address = "10.1.0.12"
mac = "02:00:00:01:00:0c"
[[group]]
name = "g"
method = "round_robin"
members = ["rs1", "rs2"]
[[service]]
name = "udp"
vip = "192.0.2.10"
port = 8080
protocol = "udp"
group = "g"
TOML
run_gslbd() {
    timeout -s INT "$secs" "${GSLBD_BIN:-target/release/gslbd}" run --config "$work/gslbd.toml" \
        --stats-interval 1 >"$work/gslbd.log" 2>&1 || true
    grep -o 'stats: rx [0-9.]*' "$work/gslbd.log" | awk '{ print $3 }' | steady
}

rounds="${ROUNDS:-1}"
ratios=()
printf '%-44s %10s\n' "net_pcap, 64-byte frames, $flows UDP flows" "Mpps"
for round in $(seq 1 "$rounds"); do
    [ "$rounds" -gt 1 ] && echo "round $round of $rounds"
    testpmd_mpps="$(run_testpmd)"
    gslbd_mpps="$(run_gslbd)"
    drops="$(grep -o 'data-path drops [0-9]*' "$work/gslbd.log" | tail -n 1 | awk '{ print $3 }')"
    printf '%-44s %10s\n' "dpdk-testpmd --forward-mode=macswap" "$testpmd_mpps"
    printf '%-44s %10s\n' "gslbd, 1 data core (established flows)" "$gslbd_mpps"
    ratio="$(awk -v a="$gslbd_mpps" -v b="$testpmd_mpps" 'BEGIN { if (b > 0) printf "%.2f", a / b }')"
    [ -n "$ratio" ] && { printf '%-44s %10s\n' "ratio" "$ratio"; ratios+=("$ratio"); }
    echo "data-path drops: ${drops:-?} (logs in $work)"
done
if [ "${#ratios[@]}" -gt 1 ]; then
    median="$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')"
    printf '%-44s %10s\n' "median ratio of ${#ratios[@]} rounds" "$median"
fi
