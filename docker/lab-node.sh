#!/usr/bin/env bash
# One host of the container lab (docker/compose.yaml), in the gslbd-lab image:
#   lab-node http LABEL             the lab's HTTP server (scripts/lab/httpd.py)
#                                   on :80, answering LABEL
#   lab-node pop3 LABEL MESSAGE     dovecot POP3 on :110, user alice, password
#                                   secret, one message reading MESSAGE (as
#                                   scripts/lab.sh builds it; fresh each start)
#   lab-node host                   the network set up, then nothing (the
#                                   client, the router)
#   lab-node prometheus [ARGS]      Prometheus, /etc/prometheus/prometheus.yml
# Before the role, the network, from the environment (needs NET_ADMIN):
#   LAB_IFACES  "NAME=ADDRESS ...": the interface holding Docker's ADDRESS is
#               renamed NAME (interface order follows network attachment
#               order, addresses do not), so routes can name it
#   LAB_ROUTES  "ROUTE; ROUTE; ...": each run as `ip route ROUTE`, e.g.
#               "replace default via 10.81.0.1"
# and tx checksumming off on every interface: gslbd reads the segments with
# af_packet and must see finished checksums (scripts/lab.sh does the same).
set -euo pipefail

share=/usr/local/share/gslbd-lab
say() { printf 'lab-node: %s\n' "$*" >&2; }
die() { printf 'lab-node: error: %s\n' "$*" >&2; exit 1; }

network() {
    local pair name addr dev r
    for pair in ${LAB_IFACES:-}; do
        name="${pair%%=*}"
        addr="${pair#*=}"
        ip link show dev "$name" >/dev/null 2>&1 && continue
        dev="$(ip -o -4 addr show | awk -v a="$addr" '{ split($4, p, "/") } p[1] == a { print $2; exit }')"
        [[ -n "$dev" ]] || die "LAB_IFACES: no interface has $addr ($(ip -o -4 addr show | awk '{ printf "%s %s  ", $2, $4 }'))"
        ip link set dev "$dev" down
        ip link set dev "$dev" name "$name"
        ip link set dev "$name" up
    done
    for dev in $(ip -o link show | awk -F': ' '$2 != "lo" { sub(/@.*/, "", $2); print $2 }'); do
        ethtool -K "$dev" tx off >/dev/null 2>&1 || say "warning: tx checksumming still on for $dev"
    done
    local IFS=';'
    for r in ${LAB_ROUTES:-}; do
        [[ -n "${r// /}" ]] || continue
        # shellcheck disable=SC2086 # a route is words
        (IFS=' '; ip route $r) || die "ip route $r failed"
    done
    say "$(hostname): $(ip -o -4 addr show | awk '$2 != "lo" { printf "%s %s  ", $2, $4 }')| $(ip route | tr '\n' ';')"
}

pop3() {
    local label="$1" message="$2" dir=/run/gslbd-lab/pop uid gid md
    uid="$(id -u gslbd-lab)"
    gid="$(id -g gslbd-lab)"
    rm -rf "$dir"
    mkdir -p "$dir"
    sed -e "s|@NAME@|$label|g" -e "s|@ADDR@|*|g" -e "s|@DIR@|$dir|g" \
        -e "s|@UID@|$uid|g" -e "s|@GID@|$gid|g" -e "s|^log_path = .*|log_path = /dev/stderr|" \
        "$share/dovecot.conf.in" >"$dir/dovecot.conf"
    printf 'alice:{PLAIN}secret\n' >"$dir/users"
    chown root:dovecot "$dir/users"
    chmod 0640 "$dir/users"
    md="$dir/home/alice/Maildir"
    mkdir -p "$md/new" "$md/cur" "$md/tmp"
    cat >"$md/new/1700000000.M1P1.$label" <<EOF
From: gslbd lab <lab@example.org>
To: alice@example.org
Subject: test message on $label
Date: Tue, 14 Nov 2023 22:13:20 +0000
Message-ID: <1.$label@gslbd-lab.example.org>

$message
EOF
    chown -R "$uid:$gid" "$dir/home"
    chmod -R go-rwx "$dir/home"
    doveconf -c "$dir/dovecot.conf" -n >/dev/null || die "dovecot rejects $dir/dovecot.conf"
    say "dovecot $label: alice/secret, message \"$message\""
    exec dovecot -F -c "$dir/dovecot.conf"
}

role="${1:-host}"
(($#)) && shift
network
case "$role" in
http)
    (($# == 1)) || die "usage: lab-node http LABEL"
    exec python3 -u "$share/httpd.py" --name "$1" --bind 0.0.0.0 --port 80
    ;;
pop3)
    (($# == 2)) || die "usage: lab-node pop3 LABEL MESSAGE"
    pop3 "$1" "$2"
    ;;
host)
    # PID 1 without a handler ignores SIGTERM: stop at once on docker stop.
    trap 'exit 0' TERM INT
    sleep infinity &
    wait
    ;;
prometheus)
    mkdir -p /prometheus
    exec prometheus --config.file=/etc/prometheus/prometheus.yml --storage.tsdb.path=/prometheus \
        --web.listen-address=0.0.0.0:9090 "$@"
    ;;
*)
    exec "$role" "$@"
    ;;
esac
