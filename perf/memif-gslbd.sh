# The gslbd configuration the memif benchmarks run (sourced by
# memif-bench.sh and pktgen-bench.sh, not run): one data core on a memif
# server port, a VIP 192.0.2.10:8080 whose two real servers are the
# generator (their MAC is its port's), so whatever gslbd forwards comes back.
# shellcheck shell=bash

# memif_gslbd_config OUT PREFIX VDEV GEN_MAC KIND FLOWS
#   KIND  udp: established UDP flows; syn or tcp: TCP, each connection a new
#         flow; proxy: UDP with the real servers down and a remote site
#         (VIP 198.51.100.10, next hop the generator) taken as up, so every
#         flow is proxied through PIPs 192.0.2.200 upward; tcp-proxy: the
#         same for whole TCP connections.
# MEMIF_SYN_TIMEOUT_S (default 1): how long a SYN's flow waits for the
# handshake; short, so a SYN flood's table holds about a second of it.
memif_gslbd_config() {
    local out="$1" prefix="$2" vdev="$3" gen_mac="$4" kind="$5" flows="$6"
    local proto=udp state=up pips="" remote="" remote_site=""
    local capacity=$((flows + flows / 2 + 65536))
    case "$kind" in
    syn | tcp | tcp-proxy)
        # Every SYN is a new flow that lives syn_timeout_s (1 s), every
        # closed connection closed_timeout_s (1 s): the table must hold a
        # second of the new-connection rate.
        proto=tcp
        capacity=8388608
        ;;
    esac
    case "$kind" in
    proxy | tcp-proxy)
        # 64,512 ports a PIP (1024 upward), so enough PIPs for every flow
        # to hold one; connections hold theirs until they age (1 s after
        # closing), so for tcp-proxy as many as there are addresses: 55
        # PIPs, 3.5M ports, a second and more of the rate one core reaches.
        state=down
        local list="" i last=$((flows / 64512))
        [ "$kind" = tcp-proxy ] && last=54
        for i in $(seq 0 "$last"); do list="${list:+$list, }\"192.0.2.$((200 + i))\""; done
        pips="pips = [$list]"
        remote='remotes = [{ site = "remote", vip = "198.51.100.10" }]'
        remote_site="[[remote_site]]
name = \"remote\"
assume_up = true
next_hop = \"10.1.0.254\"
next_hop_mac = \"$gen_mac\""
        ;;
    esac
    cat >"$out" <<TOML
[eal]
lcores = "0-1"
file_prefix = "$prefix"
in_memory = true
vdevs = ["$vdev"]
[port]
device = "net_memif0"
mbufs = 65535
[flows]
capacity = $capacity
idle_polls = 1000000
syn_timeout_s = ${MEMIF_SYN_TIMEOUT_S:-1}
closed_timeout_s = 1
[site]
name = "bench"
$pips
$remote_site
[[real_server]]
name = "rs1"
address = "10.1.0.11"
mac = "$gen_mac"
state = "$state"
[[real_server]]
name = "rs2"
address = "10.1.0.12"
mac = "$gen_mac"
state = "$state"
[[group]]
name = "g"
method = "round_robin"
members = ["rs1", "rs2"]
[[service]]
name = "bench"
vip = "192.0.2.10"
port = 8080
protocol = "$proto"
group = "g"
$remote
TOML
}
