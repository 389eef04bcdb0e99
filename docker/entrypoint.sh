#!/usr/bin/env bash
# The entrypoint of gslbd's container image.
#   run [ARGS...]   (the default) check what DPDK needs (hugepages, a mounted
#                   hugetlbfs, capabilities, /dev/net/tun), prepare the data
#                   port's interface, then exec gslbd run --config $GSLBD_CONFIG
#                   ARGS: gslbd is PID 1 and handles SIGTERM itself (docker
#                   stop: final counters, EAL cleaned up, exit 0).
#   healthcheck     the image's HEALTHCHECK: gslbd ctl --addr ADMIN status.
#   check-config FILE | ctl ... | demo | --help    passed to gslbd.
#   anything else   run as a command (e.g. bash).
# Environment:
#   GSLBD_CONFIG     the configuration file (default /etc/gslbd/gslbd.toml)
#   GSLBD_WIRE       a kernel interface gslbd opens as its data port
#                    (net_af_packet0,iface=...): its addresses are flushed,
#                    ARP goes off and promiscuous mode on, so that only gslbd
#                    answers on it. Give gslbd an interface of its own.
#   GSLBD_WIRE_FROM  the interface to rename to $GSLBD_WIRE first, by name or
#                    by its IPv4 address (Docker's address on that network):
#                    a container's interface names follow the order networks
#                    were attached in, its addresses do not.
#   GSLBD_ADMIN      the admin API address for healthcheck (default: the
#                    configuration's [management] listen; 0.0.0.0 -> 127.0.0.1)
set -euo pipefail

config="${GSLBD_CONFIG:-/etc/gslbd/gslbd.toml}"
run_line="docker run --cap-add NET_ADMIN --cap-add NET_RAW --cap-add SYS_NICE --device /dev/net/tun -v /dev/hugepages:/dev/hugepages -v \$PWD/site.toml:$config:ro ..."

say() { printf 'gslbd-entrypoint: %s\n' "$*" >&2; }
fail() {
    printf 'gslbd-entrypoint: error: %s\n' "$@" >&2
    printf 'gslbd-entrypoint: the container needs: %s (or --privileged instead of the --cap-add and --device flags); see docker/README.md\n' "$run_line" >&2
    exit 1
}

# section NAME: the lines of a TOML table ([NAME]), comments removed.
section() {
    awk -v want="$1" '
        { sub(/[[:space:]]*#.*$/, "") }
        /^[[:space:]]*\[/ { name = $0; gsub(/^[[:space:]]*\[+|\]+[[:space:]]*$/, "", name); next }
        name == want { print }' "$config"
}
# value NAME KEY: a plain value of [NAME] (quotes removed), empty if absent.
value() {
    section "$1" | awk -v key="$2" -F= '
        { k = $1; gsub(/[[:space:]]/, "", k) }
        k == key { v = substr($0, index($0, "=") + 1); gsub(/^[[:space:]"]+|[[:space:]"]+$/, "", v); print v; exit }'
}

has_cap() { # has_cap BIT: is capability BIT in the effective set?
    local eff
    eff="$(awk '/^CapEff:/ { print $2 }' /proc/self/status)"
    (((0x$eff >> $1) & 1))
}

preflight() {
    [[ -r "$config" ]] || fail "no configuration at $config: mount one with -v /path/to/site.toml:$config:ro (or set GSLBD_CONFIG)"
    local out
    out="$(gslbd check-config "$config" 2>&1)" || fail "$out"
    say "$out"

    local eal missing=()
    eal="$(section eal)"
    if [[ "$(value eal no_huge)" != true ]]; then
        local mnt free_mb=0 want_mb d kb
        mnt="$(awk '$3 == "hugetlbfs" { print $2; exit }' /proc/mounts)"
        [[ -n "$mnt" ]] || fail "no hugetlbfs is mounted in the container: add -v /dev/hugepages:/dev/hugepages (on the host: scripts/hugepages.sh reserves 2 MiB pages and mounts hugetlbfs at /dev/hugepages)"
        for d in /sys/kernel/mm/hugepages/hugepages-*kB; do
            [[ -r "$d/free_hugepages" ]] || continue
            kb="${d##*hugepages-}"
            free_mb=$((free_mb + $(cat "$d/free_hugepages") * ${kb%kB} / 1024))
        done
        want_mb="$(value eal memory_mb)"
        ((free_mb > 0)) || fail "the host has no free hugepages: reserve some on the host (scripts/hugepages.sh 512, or echo 512 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages)"
        if [[ -n "$want_mb" ]] && ((want_mb > free_mb)); then
            fail "[eal] memory_mb = $want_mb, but the host has only $free_mb MB of hugepages free: reserve more (scripts/hugepages.sh)"
        fi
        say "hugetlbfs at $mnt, $free_mb MB of hugepages free on the host${want_mb:+, $want_mb MB wanted}"
        # EAL sets the NUMA memory policy of its hugepage memory; Docker's
        # seccomp profile allows get_mempolicy/set_mempolicy/mbind only with
        # CAP_SYS_NICE, and EAL then fails with "Cannot init memory".
        has_cap 23 || missing+=("--cap-add SYS_NICE (EAL's NUMA memory policy calls; without it: set_mempolicy: Operation not permitted, Cannot init memory)")
    fi
    grep -q net_af_packet <<<"$eal" && ! has_cap 13 && missing+=("--cap-add NET_RAW (net_af_packet opens a raw socket)")
    if grep -q net_tap <<<"$eal"; then
        [[ -c /dev/net/tun ]] || missing+=("--device /dev/net/tun (net_tap creates the exception path's TAP)")
        has_cap 12 || missing+=("--cap-add NET_ADMIN (the TAP, its addresses and routes)")
    fi
    if [[ -n "$(value kernel netns)" ]] && ! has_cap 21; then
        missing+=("--cap-add SYS_ADMIN ([kernel] netns creates a namespace; in a container it is rarely needed: leave it out and the TAP stays in the container's own namespace)")
    fi
    [[ -n "${GSLBD_WIRE:-}" ]] && ! has_cap 12 && missing+=("--cap-add NET_ADMIN (GSLBD_WIRE: preparing $GSLBD_WIRE)")
    ((${#missing[@]} == 0)) || fail "${missing[@]}"
}

# The data port's interface is also seen by the container's kernel (af_packet
# only copies frames): without an address, with ARP off and a strict
# reverse-path filter, the kernel stays silent there and drops what arrives,
# and only gslbd answers. The appliance's own addresses are on its TAP.
prepare_wire() {
    local wire="$GSLBD_WIRE" from="${GSLBD_WIRE_FROM:-}" dev f
    if ! ip link show dev "$wire" >/dev/null 2>&1; then
        [[ -n "$from" ]] || fail "GSLBD_WIRE=$wire: no such interface in the container ($(ip -o link show | awk -F': ' '{ printf "%s ", $2 }')); set GSLBD_WIRE_FROM to rename one"
        if [[ "$from" =~ ^[0-9]+(\.[0-9]+){3}$ ]]; then
            dev="$(ip -o -4 addr show | awk -v a="$from" '{ split($4, p, "/") } p[1] == a { print $2; exit }')"
            [[ -n "$dev" ]] || fail "GSLBD_WIRE_FROM=$from: no interface of the container has that address ($(ip -o -4 addr show | awk '{ printf "%s %s  ", $2, $4 }'))"
        else
            dev="$from"
        fi
        ip link set dev "$dev" down
        ip link set dev "$dev" name "$wire"
        say "interface $dev ($from) renamed $wire"
    fi
    ip addr flush dev "$wire"
    ip route flush dev "$wire" 2>/dev/null || true
    ip link set dev "$wire" arp off promisc on up
    # Frames the kernel sends with unfinished checksums (offloaded to a NIC
    # that a veth does not have) must not reach gslbd: tx checksumming off.
    ethtool -K "$wire" tx off >/dev/null 2>&1 || true
    for f in "ipv4/conf/$wire/rp_filter=1" "ipv6/conf/$wire/disable_ipv6=1"; do
        echo "${f#*=}" 2>/dev/null >"/proc/sys/net/${f%=*}" || true
    done
    local rp all
    rp="$(cat "/proc/sys/net/ipv4/conf/$wire/rp_filter")"
    all="$(cat /proc/sys/net/ipv4/conf/all/rp_filter)"
    if ((rp == 0 && all == 0)); then
        say "warning: reverse-path filtering is off and /proc/sys is read-only: the kernel will also take packets for the own addresses from $wire; start the container with --sysctl net.ipv4.conf.all.rp_filter=1"
    fi
    # A network namespace starts with the host's IPv4 settings, and a Docker
    # host forwards.
    if [[ "$(cat /proc/sys/net/ipv4/ip_forward)" != 0 ]] && ! echo 0 2>/dev/null >/proc/sys/net/ipv4/ip_forward; then
        say "warning: the container's kernel forwards IPv4 (inherited from the host) and /proc/sys is read-only: start the container with --sysctl net.ipv4.ip_forward=0"
    fi
    say "data port interface $wire: $(ip -br link show dev "$wire" | awk '{ print $3, $2 }'), no address, ARP off, promiscuous"
}

admin_address() {
    local a="${GSLBD_ADMIN:-}"
    [[ -n "$a" ]] || a="$(value management listen)"
    [[ -n "$a" ]] || return 1
    echo "${a/#0.0.0.0:/127.0.0.1:}"
}

cmd="${1:-run}"
case "$cmd" in
run)
    (($#)) && shift
    preflight
    [[ -n "${GSLBD_WIRE:-}" ]] && prepare_wire
    say "exec gslbd run --config $config $*"
    exec gslbd run --config "$config" "$@"
    ;;
healthcheck)
    if addr="$(admin_address)"; then
        exec gslbd ctl --addr "$addr" status >/dev/null
    fi
    # No admin API configured: all there is to check is that gslbd runs.
    grep -q '^gslbd' /proc/1/comm
    ;;
check-config | ctl | demo | help | -h | --help | -V | --version)
    exec gslbd "$@"
    ;;
*)
    exec "$@"
    ;;
esac
