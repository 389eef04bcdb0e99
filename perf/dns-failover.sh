#!/usr/bin/env bash
# perf/dns-failover.sh [ROUNDS]: failover through DNS, gslbd beside gdnsd, on
# the same event. Both sites' labs and appliances come up (as in
# tests/e2e-dns.sh); gdnsd (Debian's package) runs in gs1-gdnsd on site 1's
# segment (198.51.100.53, and 10.1.0.53 to reach the servers) with
# perf/dns/gdnsd-failover/: pop over both sites' VIPs, site 1's VIP up while
# site 1's POP3 server answers. Each round kills site 1's POP3 server and
# measures, for each name server, the seconds until dig's answer for
# pop.gslb.example.org no longer holds site 1's VIP (192.0.2.10); then starts
# the server again and measures until it holds it again. Both are polled at
# once, every 50 ms, from site 1's client namespace.
#
# The figures are mostly the health checks' timing: gslbd checks every
# 250 ms (3 failures down, 2 successes up, examples/site1.toml); gdnsd's
# fastest setting is a check every 2 s (its minimum interval) with one
# failure down and one success up. Needs root and hugepages; installs gdnsd and dnsutils when missing.
set -uo pipefail
export LC_ALL=C
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ROUNDS="${1:-3}"
NAME=dns-failover
PAGES=256
GDNSD_NS=gs1-gdnsd
GDNSD_ADDR=198.51.100.53
GDNSD_MAC=02:67:73:01:00:35   # scripts/lab.sh's plan: 02:67:73:site:00:last-octet
SITE1_VIP=192.0.2.10
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [ROUNDS]" >&2; exit 1; }

if [ "$(id -u)" -eq 0 ]; then
    for tool in gdnsd dig; do
        command -v "$tool" >/dev/null && continue
        # policy-rc.d: keep the package's service from starting (perf/dns-bench.sh).
        [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; added_policy=1; }
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gdnsd dnsutils >/dev/null
        [ -n "${added_policy:-}" ] && rm -f /usr/sbin/policy-rc.d
        break
    done
fi
# shellcheck source=tests/e2e-common.sh
. tests/e2e-common.sh

two_sites
trap 'ip netns del "$GDNSD_NS" 2>/dev/null; two_sites_down' EXIT

ip netns del "$GDNSD_NS" 2>/dev/null
ip netns add "$GDNSD_NS"
ip netns exec "$GDNSD_NS" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n "$GDNSD_NS" link set lo up
ip -n gs1-sw link add gdnsd mtu 1500 type veth peer name eth0 netns "$GDNSD_NS"
ip netns exec "$GDNSD_NS" ethtool -K eth0 tx off >/dev/null
ip netns exec gs1-sw ethtool -K gdnsd tx off >/dev/null
ip -n "$GDNSD_NS" link set eth0 address "$GDNSD_MAC" up
ip -n "$GDNSD_NS" addr add "$GDNSD_ADDR/24" dev eth0
ip -n "$GDNSD_NS" addr add 10.1.0.53/24 dev eth0
ip -n gs1-sw link set gdnsd master gs1-br up

cp -r perf/dns/gdnsd-failover "$work/gdnsd"
cp -r perf/dns/gdnsd/zones "$work/gdnsd/zones"
sed -i "s|@CHECK@|$work/gdnsd/check-pop.sh|" "$work/gdnsd/config"
sed -i "/^options => {/a\\  run_dir => $work/gdnsd-run\\n  state_dir => $work/gdnsd-state" "$work/gdnsd/config"
gdnsd -c "$work/gdnsd" checkconf >"$work/gdnsd-check.log" 2>&1 || { cat "$work/gdnsd-check.log"; exit 1; }
ip netns exec "$GDNSD_NS" gdnsd -c "$work/gdnsd" start >"$work/gdnsd.log" 2>&1 &
pids+=($!)

# answer SERVER: pop's A records, sorted, on one line ("" on no answer).
answer() {
    ip netns exec gs1-client dig +time=1 +tries=1 +norec +short "@$1" pop.gslb.example.org A 2>/dev/null |
        sort | tr '\n' ' ' | sed 's/ $//'
}
has_site1() { [[ " $1 " == *" $SITE1_VIP "* ]]; }

# until SERVER WANT T0: polls until the answer holds site 1's VIP (WANT=in)
# or is a non-empty answer without it (WANT=out); prints the seconds since T0.
until_answer() {
    local server="$1" want="$2" t0="$3" a _
    for _ in $(seq 1 400); do
        a="$(answer "$server")"
        if [ "$want" = in ] && has_site1 "$a"; then since "$t0"; return; fi
        if [ "$want" = out ] && [ -n "$a" ] && ! has_site1 "$a"; then since "$t0"; return; fi
        sleep 0.05
    done
    echo "never"
}

for _ in $(seq 1 100); do
    has_site1 "$(answer 198.51.100.1)" && has_site1 "$(answer $GDNSD_ADDR)" && break
    sleep 0.1
done
echo "$NAME: before: gslbd '$(answer 198.51.100.1)', gdnsd '$(answer $GDNSD_ADDR)'"

rows=()
for r in $(seq 1 "$ROUNDS"); do
    sleep 2
    t0="$(now)"
    GSLBD_LAB_SITE=1 scripts/lab.sh kill-server pop1 >/dev/null
    until_answer 198.51.100.1 out "$t0" >"$work/g-out" &
    until_answer "$GDNSD_ADDR" out "$t0" >"$work/d-out" &
    while [ ! -s "$work/g-out" ] || [ ! -s "$work/d-out" ]; do sleep 0.05; done
    gone_g="$(cat "$work/g-out")"
    gone_d="$(cat "$work/d-out")"
    after_g="$(answer 198.51.100.1)"
    after_d="$(answer $GDNSD_ADDR)"
    GSLBD_LAB_SITE=1 scripts/lab.sh start-server pop1 >/dev/null
    t0="$(now)"
    until_answer 198.51.100.1 in "$t0" >"$work/g-in" &
    until_answer "$GDNSD_ADDR" in "$t0" >"$work/d-in" &
    while [ ! -s "$work/g-in" ] || [ ! -s "$work/d-in" ]; do sleep 0.05; done
    wait "${!}" 2>/dev/null
    rows+=("$r $gone_g $gone_d $(cat "$work/g-in") $(cat "$work/d-in")")
    echo "$NAME: round $r: killed -> gslbd '$after_g' after $gone_g s, gdnsd '$after_d' after $gone_d s; restarted -> back after $(cat "$work/g-in") s and $(cat "$work/d-in") s"
    rm -f "$work"/g-* "$work"/d-*
done

echo
printf '%-6s %14s %14s %14s %14s\n' round "gslbd away s" "gdnsd away s" "gslbd back s" "gdnsd back s"
for row in "${rows[@]}"; do
    # shellcheck disable=SC2086
    printf '%-6s %14s %14s %14s %14s\n' $row
done
echo "(away: from the kill to the first answer without $SITE1_VIP; back: from the"
echo "server's start, once scripts/lab.sh start-server returned, to the first answer with it)"
