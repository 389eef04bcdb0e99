# Sourced, not run: starting a gslbd appliance in the background.
# shellcheck shell=bash

# start_appliance CONFIG LOG: runs gslbd in the background until its
# management line is printed; sets $appliance to its pid. DPDK's af_packet
# driver names its fanout group (getpid() ^ ifindex) & 0xffff, and fanout
# groups are shared by every process in a network namespace: a second
# appliance whose pid happens to collide fails with "could not set
# PACKET_FANOUT ... Invalid argument". A new pid cannot collide the same way,
# so that one failure is retried.
start_appliance() {
    local config="$1" log="$2" try
    for try in 1 2 3; do
        "${bin:-target/release/gslbd}" run --config "$config" >"$log" 2>&1 &
        appliance=$!
        for _ in $(seq 1 200); do
            grep -qs "^  management:\|^gslbd .*: data port" "$log" && return 0
            kill -0 "$appliance" 2>/dev/null || break
            sleep 0.05
        done
        kill "$appliance" 2>/dev/null
        wait "$appliance" 2>/dev/null
        grep -q "could not set PACKET_FANOUT" "$log" || break
        echo "${NAME:-gslbd}: af_packet fanout id collision (try $try), starting again" >&2
    done
    echo "${NAME:-gslbd}: gslbd did not start with $config:" >&2
    grep -vE "^(EAL|TELEMETRY|tap_|qdisc|eth_dev_tap)" "$log" | tail -n 5 >&2
    return 1
}
