#!/usr/bin/env bash
# The gslbd network-namespace lab: per site an Ethernet segment with real
# servers (and, at site 1, a client) and a veth in the root namespace for the
# site's appliance; optionally a router joining the sites' segments (the
# "WAN"), for the Alteon GSLB "proxy IP" scenario: a client at site 1 asks
# site 1's VIP; site 1 relays the connection to site 2's VIP with one of its
# proxy IPs (PIPs, 192.0.2.0/24) as source, so site 2's answers come back
# through the router to site 1.
#
# Site 1 (GSLBD_LAB_SITE=1, the default; examples/site1.toml):
#   gs1-client  eth0 198.51.100.7/24, route 192.0.2.0/24 dev eth0 (on-link:
#               it ARPs for the VIP 192.0.2.10 itself; the appliance answers);
#               with the router (up-wan), 203.0.113.0/24 via 198.51.100.254:
#               site 2's VIP, where site 1's HTTP redirects send it
#   gs1-web1    eth0 10.1.0.11/24  HTTP :80 answers "web1"   } default route
#   gs1-web2    eth0 10.1.0.12/24  HTTP :80 answers "web2"   } via 10.1.0.1,
#   gs1-pop1    eth0 10.1.0.21/24  dovecot POP3 :110, alice  } the appliance
#   gs1-sw      the bridge gs1-br; one veth port per namespace above, and
#               port "wire" whose peer gs1-wire stays in the ROOT namespace:
#               gslbd opens it as net_af_packet0,iface=gs1-wire (no address,
#               promiscuous, no IPv6, ARP off: the kernel stays silent on it).
#   The appliance: 198.51.100.1 (segment), 10.1.0.1 (servers); VIP
#   192.0.2.10, PIP 192.0.2.200.
# Site 2 (GSLBD_LAB_SITE=2): no client of its own (the client is at site 1).
#   gs2-web1    eth0 10.2.0.11/24  HTTP :80 answers "site2-web1" } default
#   gs2-pop1    eth0 10.2.0.21/24  dovecot POP3 :110, alice;     } route via
#               the message reads "Hello from site 2 pop1"       } 10.2.0.1
#   gs2-sw      the bridge gs2-br, port "wire" <-> gs2-wire in the root
#               namespace (as gs1-wire; MAC 02:67:73:02:00:01).
#   The appliance: 203.0.113.1 (segment), 10.2.0.1 (servers); VIP
#   203.0.113.10, PIP 203.0.113.200.
# The router (`up-wan`, after both sites are up; `down-wan` removes it):
#   gs-rt       site1 198.51.100.254/24 (02:67:73:00:00:fe), port "rt" on
#               gs1-br, route 192.0.2.0/24 dev site1 (on-link: site 1's VIPs
#               and PIPs, whose ARP site 1's appliance answers);
#               site2 203.0.113.254/24 (02:67:73:00:01:fe), port "rt" on
#               gs2-br; 203.0.113.0/24 is on-link (the connected route):
#               site 2's own address, VIP and PIP, answered by its appliance.
#               IPv4 forwarding on, rp_filter off, IPv6 off, no redirects.
#   `cut-wan` / `restore-wan` set the router's site-2 side down / up (site 2
#   cut off). `down` of one site leaves the other site alone; it takes the
#   router's side on that segment with it, and `up` of that site puts it back
#   if gs-rt exists.
# The appliances' own addresses belong to gslbd (its TAP), not to the lab.
# GSLBD_LAB_SITE=N selects site N (gsN-*); sites 1 and 2 have an address
# plan. Runtime files (PIDs, logs): /run/gslbd-lab/gsN.
#
# usage: scripts/lab.sh up | down | status | check | stop-server NAME | kill-server NAME | start-server NAME
#   (stop-server asks the server to stop and waits for it; kill-server is a
#   crash: SIGKILL to every process in the server's namespace, at once)
# usage: scripts/lab.sh up-wan | down-wan | cut-wan | restore-wan   (GSLBD_LAB_SITE ignored)
set -Eeuo pipefail

SITE="${GSLBD_LAB_SITE:-1}"
[[ "$SITE" =~ ^[1-9]$ ]] || { echo "lab: GSLBD_LAB_SITE must be 1-9" >&2; exit 2; }
P="gs$SITE"
RUN_ROOT=/run/gslbd-lab
RUN="$RUN_ROOT/$P"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LABDIR="$HERE/lab"
NS_SW="$P-sw"
BR="$P-br"
WIRE="$P-wire"
NS_CLIENT="$P-client"
NS_RT=gs-rt                # the router between the sites (up-wan)
WAN_SITES=(1 2)            # the sites it joins (see wan_side)
MAIL_USER=gslbd-lab        # owner of the POP3 maildirs (uid must be >= 500)
POP_USER=alice
POP_PASS=secret

# The address plan of each site. SERVERS lists the real servers in order;
# ADDR/KIND are per server; LABEL is what a server calls itself (the HTTP
# answer and X-Served-By; dovecot's instance name and greeting), MESSAGE the
# body of a POP3 server's one message. CLIENT_ADDR empty: no client namespace.
# MACs are 02:67:73 ("gs"):site:00:last-octet, so captures read the same on
# every run.
declare -A ADDR KIND LABEL MESSAGE
plan() {
    case "$SITE" in
    1)
        CLIENT_ADDR=198.51.100.7/24
        CLIENT_ROUTES=(192.0.2.0/24)          # the VIPs and PIPs, on-link
        VIP=192.0.2.10                        # examples/site1.toml
        GATEWAY=10.1.0.1                      # the appliance, for the servers
        SERVERS=(web1 web2 pop1)
        ADDR=([web1]=10.1.0.11/24 [web2]=10.1.0.12/24 [pop1]=10.1.0.21/24)
        KIND=([web1]=http [web2]=http [pop1]=pop3)
        LABEL=([web1]=web1 [web2]=web2 [pop1]=pop1)
        MESSAGE=([pop1]="Hello from pop1")
        ;;
    2)
        # No client: the client lives at site 1 and reaches site 2 through
        # site 1's VIP (proxy IP) and the router gs-rt (up-wan).
        CLIENT_ADDR=
        CLIENT_ROUTES=()
        VIP=203.0.113.10                      # site 2's own address is .1, PIP .200
        GATEWAY=10.2.0.1                      # the appliance, for the servers
        SERVERS=(web1 pop1)
        ADDR=([web1]=10.2.0.11/24 [pop1]=10.2.0.21/24)
        KIND=([web1]=http [pop1]=pop3)
        # Labels unlike site 1's: an answer tells which site served it, and
        # the two dovecots do not share an instance name.
        LABEL=([web1]=site2-web1 [pop1]=site2-pop1)
        MESSAGE=([pop1]="Hello from site 2 pop1")
        ;;
    *) die "no address plan for site $SITE yet (see plan() in $0)" ;;
    esac
}

# wan_side N: the router's side on site N's segment. Sets RT_SW and RT_BR (the
# site's switch and bridge), RT_IF (the interface in gs-rt; its peer is port
# "rt" on the bridge), RT_MAC, RT_ADDR, RT_ROUTES (on-link routes beyond
# the connected one) and RT_FAR (what the site's client, if it has one,
# reaches through the router).
wan_side() {
    RT_SW="gs$1-sw"
    RT_BR="gs$1-br"
    RT_IF="site$1"
    case "$1" in
    1)
        RT_MAC=02:67:73:00:00:fe
        RT_ADDR=198.51.100.254/24
        RT_ROUTES=(192.0.2.0/24)              # site 1's VIPs and PIPs
        RT_FAR=(203.0.113.0/24)               # site 2's VIP (HTTP redirects)
        ;;
    2)
        RT_MAC=02:67:73:00:01:fe
        RT_ADDR=203.0.113.254/24
        RT_ROUTES=()                          # 203.0.113.0/24: the connected route
        RT_FAR=()
        ;;
    *) die "the router joins sites ${WAN_SITES[*]} only, not site $1" ;;
    esac
}

say() { printf 'lab: %s\n' "$*"; }
warn() { printf 'lab: warning: %s\n' "$*" >&2; }
die() { printf 'lab: error: %s\n' "$*" >&2; exit 1; }
nsx() { ip netns exec "$@"; }
ns_exists() { [[ -e "/run/netns/$1" ]]; }
mac_for() { # mac_for ADDR/LEN -> 02:67:73:SS:00:HH
    local host="${1%/*}"
    printf '02:67:73:%02x:00:%02x' "$SITE" "${host##*.}"
}
server_ns() { printf '%s-%s' "$P" "$1"; }
is_server() {
    local s
    for s in "${SERVERS[@]}"; do [[ "$s" == "$1" ]] && return 0; done
    return 1
}
all_ns() { # every namespace of this site, switch last
    local s
    if [[ -n "$CLIENT_ADDR" ]]; then printf '%s\n' "$NS_CLIENT"; fi
    for s in "${SERVERS[@]}"; do server_ns "$s"; echo; done
    printf '%s\n' "$NS_SW"
}

# Python from Debian first: on some machines `python3` on PATH is a pyenv
# shim that depends on the caller's environment.
python_bin() {
    if [[ -x /usr/bin/python3 ]]; then echo /usr/bin/python3; else command -v python3; fi
}

check_tools() {
    local missing=() pkgs=() t
    declare -A pkg_of=([ip]=iproute2 [ss]=iproute2 [ethtool]=ethtool [python3]=python3
        [dovecot]=dovecot-pop3d [curl]=curl [sysctl]=procps [setsid]=util-linux
        [flock]=util-linux)
    for t in ip ss ethtool python3 dovecot curl sysctl setsid flock; do
        if ! command -v "$t" >/dev/null 2>&1; then
            missing+=("$t")
            [[ " ${pkgs[*]} " == *" ${pkg_of[$t]} "* ]] || pkgs+=("${pkg_of[$t]}")
        fi
    done
    # Installing dovecot-pop3d on a host with systemd also starts the stock
    # dovecot service (root namespace, *:110, /etc/dovecot). The lab does not
    # use it and does not touch it; `pgrep -a dovecot` then shows it too.
    # dovecot-core alone has no POP3 server.
    if command -v dovecot >/dev/null 2>&1 && [[ ! -x /usr/lib/dovecot/pop3 ]]; then
        missing+=("/usr/lib/dovecot/pop3")
        [[ " ${pkgs[*]} " == *" dovecot-pop3d "* ]] || pkgs+=(dovecot-pop3d)
    fi
    if ((${#missing[@]})); then
        printf 'lab: error: missing %s\n' "${missing[*]}" >&2
        printf 'lab: install them with:\n  apt-get install -y %s\n' "${pkgs[*]}" >&2
        exit 1
    fi
}

need_root() { [[ $EUID -eq 0 ]] || die "run as root (namespaces, veths, sysctls)"; }

# One lab operation at a time (flock on this script: nothing left behind).
# Every long-lived child must close fd 9, or it holds the lock forever.
lock() { exec 9<"${BASH_SOURCE[0]}"; flock -w 120 9 || die "another lab.sh still runs after 120 s"; }

# --- processes -------------------------------------------------------------

# Is PID alive and inside namespace NS? (guards against reused PIDs)
pid_in_ns() {
    local pid="$1" ns="$2" want have
    [[ -n "$pid" && -e "/proc/$pid" && -e "/run/netns/$ns" ]] || return 1
    want="$(stat -L -c %i "/run/netns/$ns" 2>/dev/null)" || return 1
    have="$(readlink "/proc/$pid/ns/net" 2>/dev/null)" || return 1
    [[ "$have" == "net:[$want]" ]]
}

pidfile() { printf '%s/%s.pid' "$RUN" "$1"; }
server_pid() { local f; f="$(pidfile "$1")"; [[ -r "$f" ]] && cat "$f"; }
server_port() { [[ "${KIND[$1]}" == http ]] && echo 80 || echo 110; }

# wait_gone PID SECONDS: wait for a process to exit; 1 if it is still there.
# A zombie counts as gone: it holds no socket, and its reaping is up to a
# parent that may be slow about it.
alive() { [[ -e "/proc/$1" ]] && ! grep -qs '^[0-9]* ([^)]*) Z' "/proc/$1/stat"; }
wait_gone() {
    local pid="$1" n=$(($2 * 50))
    while ((n-- > 0)); do
        alive "$pid" || return 0
        sleep 0.02
    done
    ! alive "$pid"
}

wait_listen() { # wait_listen NS PORT PID: until something listens on PORT
    local ns="$1" port="$2" pid="$3" n=100
    while ((n-- > 0)); do
        [[ -n "$(nsx "$ns" ss -Hltn "sport = :$port")" ]] && return 0
        [[ -e "/proc/$pid" ]] || return 1
        sleep 0.1
    done
    return 1
}

# spawn PIDFILE LOG CMD...: start CMD detached (own session, no terminal);
# the PID file holds the PID of CMD itself (ip netns exec execs it).
spawn() {
    local pf="$1" log="$2"
    shift 2
    # shellcheck disable=SC2016 # $$ and $0 belong to the inner sh
    # 9<&- : the server must not inherit the lab's lock (see lock()).
    setsid sh -c 'echo $$ >"$0"; exec "$@"' "$pf" "$@" </dev/null >>"$log" 2>&1 9<&- &
    local n=50
    while ((n-- > 0)) && [[ ! -s "$pf" ]]; do sleep 0.1; done
    [[ -s "$pf" ]]
}

kill_server() {
    local name="$1" ns pids
    ns="$(server_ns "$name")"
    ns_exists "$ns" || die "namespace $ns does not exist: run '$0 up' first"
    # Every process, not just the one in the pidfile: dovecot's login
    # processes hold the listening socket too, so killing the master alone
    # would leave the port answering.
    mapfile -t pids < <(ip netns pids "$ns")
    ((${#pids[@]} > 0)) && kill -KILL "${pids[@]}" 2>/dev/null
    # Gone, not just signalled (a zombie counts as gone: see alive()).
    local p
    for p in "${pids[@]}"; do wait_gone "$p" 5 || warn "$name: pid $p survived SIGKILL"; done
    rm -f "$(pidfile "$name")"
    # The killed processes belong to PID 1 (spawn() detaches them), and a
    # PID 1 that reaps lazily leaves them zombies for a second or two. A
    # zombie still passes kill -0, and dovecot started again meanwhile reads
    # its master.pid, takes the zombie for a running instance and exits
    # ("Dovecot is already running with PID ..."). The server is dead: so is
    # its pid file.
    rm -f "$RUN/$name/run/master.pid"
    say "$name killed (${#pids[@]} processes)"
}

start_server() {
    local name="$1" ns pf port
    ns="$(server_ns "$name")"
    ns_exists "$ns" || die "namespace $ns does not exist: run '$0 up' first"
    pf="$(pidfile "$name")"
    if pid_in_ns "$(server_pid "$name" || true)" "$ns"; then
        say "$name already running (pid $(server_pid "$name"))"
        return 0
    fi
    rm -f "$pf"
    port="$(server_port "$name")"
    case "${KIND[$name]}" in
    http)
        spawn "$pf" "$RUN/$name.log" ip netns exec "$ns" "$(python_bin)" -u "$LABDIR/httpd.py" \
            --name "${LABEL[$name]}" --bind 0.0.0.0 --port "$port" || die "$name did not start"
        ;;
    pop3)
        spawn "$pf" "$RUN/$name.log" ip netns exec "$ns" dovecot -F -c "$RUN/$name/dovecot.conf" ||
            die "$name did not start"
        ;;
    esac
    if ! wait_listen "$ns" "$port" "$(server_pid "$name")"; then
        tail -n 20 "$RUN/$name.log" "$RUN/$name/dovecot.log" 2>/dev/null >&2 || true
        die "$name (pid $(server_pid "$name")) exited or is not listening on :$port after 10 s"
    fi
    say "$name up: ${ADDR[$name]%/*}:$port (pid $(server_pid "$name"), log $RUN/$name.log)"
}

stop_server() {
    local name="$1" ns pid
    ns="$(server_ns "$name")"
    pid="$(server_pid "$name" || true)"
    if ! pid_in_ns "$pid" "$ns"; then
        say "$name is not running"
        rm -f "$(pidfile "$name")"
        return 0
    fi
    kill -TERM "$pid"
    # dovecot takes about 2.5 s to stop (it waits for its children).
    if ! wait_gone "$pid" 10; then
        warn "$name (pid $pid) ignored SIGTERM for 10 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid" 5 || warn "$name (pid $pid) is still there"
    fi
    rm -f "$(pidfile "$name")"
    say "$name stopped (pid $pid)"
}

# --- building --------------------------------------------------------------

ns_add() { # a namespace that behaves like a quiet IPv4-only host
    ip netns add "$1"
    nsx "$1" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    # IPv4 settings are copied from the root namespace at creation (Docker
    # hosts have ip_forward=1): make the lab hosts plain hosts.
    nsx "$1" sysctl -q -w net.ipv4.ip_forward=0
    ip -n "$1" link set lo up
}

# attach NS PORTNAME ADDR: a veth from the switch (port PORTNAME) to NS (eth0).
attach() {
    local ns="$1" port="$2" addr="$3"
    ns_add "$ns"
    ip -n "$NS_SW" link add "$port" mtu 1500 type veth peer name eth0 netns "$ns"
    # Without this the kernel leaves TCP/UDP checksums unfinished (partial,
    # to be done by a NIC that does not exist) and an af_packet reader such as
    # gslbd's net_af_packet port sees wrong checksums in every frame. With tx
    # checksumming off, TSO is off too: frames on the wire are <= MTU.
    nsx "$ns" ethtool -K eth0 tx off >/dev/null
    nsx "$NS_SW" ethtool -K "$port" tx off >/dev/null
    ip -n "$ns" link set eth0 address "$(mac_for "$addr")" mtu 1500 up
    ip -n "$ns" addr add "$addr" dev eth0
    ip -n "$NS_SW" link set "$port" master "$BR" up
}

build_network() {
    ns_add "$NS_SW"
    # Bridged IPv4 would pass through iptables (br_netfilter is built into
    # some kernels, on by default): the switch is a plain switch.
    nsx "$NS_SW" sysctl -e -q -w net.bridge.bridge-nf-call-iptables=0 \
        net.bridge.bridge-nf-call-ip6tables=0 net.bridge.bridge-nf-call-arptables=0
    ip -n "$NS_SW" link add "$BR" type bridge stp_state 0 mcast_snooping 0
    ip -n "$NS_SW" link set "$BR" up

    # The appliance's port: gs1-wire in the root namespace, peer "wire" on the
    # bridge. The root kernel receives every frame on gs1-wire as well as
    # gslbd's af_packet socket (af_packet only copies). With Docker's
    # ip_forward=1 and rp_filter=0 it would route frames for the VIP out of the
    # host's default route, and it would answer ARP on the segment for any of
    # its own addresses. Hence: ARP off, strict reverse-path filter (nothing is
    # routed via gs1-wire, so every IPv4 packet arriving there is dropped),
    # no forwarding from it, IPv6 off. (tc matchall/gact would be cleaner but
    # are not in every kernel, e.g. not in the project's VMs.)
    ip link add "$WIRE" mtu 1500 type veth peer name wire netns "$NS_SW"
    sysctl -q -w "net.ipv6.conf.$WIRE.disable_ipv6=1" "net.ipv4.conf.$WIRE.rp_filter=1" \
        "net.ipv4.conf.$WIRE.forwarding=0" "net.ipv4.conf.$WIRE.accept_local=0"
    ethtool -K "$WIRE" tx off >/dev/null
    nsx "$NS_SW" ethtool -K wire tx off >/dev/null
    ip link set "$WIRE" address "$(mac_for "0.0.0.1")" mtu 1500 arp off promisc on
    # NetworkManager, where it runs, would otherwise try DHCP on it.
    if command -v nmcli >/dev/null 2>&1; then nmcli device set "$WIRE" managed no 2>/dev/null || true; fi
    ip -n "$NS_SW" link set wire master "$BR" up
    ip link set "$WIRE" up

    local r s
    if [[ -n "$CLIENT_ADDR" ]]; then
        attach "$NS_CLIENT" client "$CLIENT_ADDR"
        for r in "${CLIENT_ROUTES[@]}"; do ip -n "$NS_CLIENT" route add "$r" dev eth0; done
    fi
    for s in "${SERVERS[@]}"; do
        attach "$(server_ns "$s")" "$s" "${ADDR[$s]}"
        ip -n "$(server_ns "$s")" route add default via "$GATEWAY" dev eth0
    done
}

mail_ids() { # sets MAIL_UID MAIL_GID, creating the system user if needed
    if ! getent passwd "$MAIL_USER" >/dev/null; then
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin --comment "gslbd lab POP3 mail" "$MAIL_USER"
        say "created system user $MAIL_USER (kept by 'down')"
    fi
    MAIL_UID="$(id -u "$MAIL_USER")"
    MAIL_GID="$(id -g "$MAIL_USER")"
    ((MAIL_UID >= 500 && MAIL_GID >= 500)) ||
        die "user $MAIL_USER has uid/gid $MAIL_UID/$MAIL_GID; dovecot needs >= 500"
}

# The POP3 server's files: config, password file and a fresh maildir with one
# message (RETR moves it from new/ to cur/, so every `up` rebuilds it).
prepare_pop() {
    local name="$1" dir="$RUN/$1" md label="${LABEL[$1]}"
    mail_ids
    mkdir -p "$dir"
    sed -e "s|@NAME@|$label|g" -e "s|@ADDR@|${ADDR[$name]%/*}|g" -e "s|@DIR@|$dir|g" \
        -e "s|@UID@|$MAIL_UID|g" -e "s|@GID@|$MAIL_GID|g" \
        "$LABDIR/dovecot.conf.in" >"$dir/dovecot.conf"
    # The auth process runs as user dovecot and reads this file.
    printf '%s:{PLAIN}%s\n' "$POP_USER" "$POP_PASS" >"$dir/users"
    chown root:dovecot "$dir/users"
    chmod 0640 "$dir/users"
    md="$dir/home/$POP_USER/Maildir"
    rm -rf "${dir:?}/home"
    mkdir -p "$md/new" "$md/cur" "$md/tmp"
    cat >"$md/new/1700000000.M1P1.$label" <<EOF
From: gslbd lab <lab@example.org>
To: $POP_USER@example.org
Subject: test message on $label
Date: Tue, 14 Nov 2023 22:13:20 +0000
Message-ID: <1.$label@gslbd-lab.example.org>

${MESSAGE[$name]}
EOF
    chown -R "$MAIL_UID:$MAIL_GID" "$dir/home"
    chmod -R go-rwx "$dir/home"
    doveconf -c "$dir/dovecot.conf" -n >/dev/null || die "dovecot rejects $dir/dovecot.conf"
}

# --- commands --------------------------------------------------------------

cmd_down() {
    local ns pid pids=() left=()
    # Everything running inside the lab's namespaces (servers, and whatever a
    # test left there, e.g. tcpdump): a namespace with processes in it would
    # outlive `ip netns del`.
    for ns in $(all_ns); do
        ns_exists "$ns" || continue
        mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null || true)
        ((${#pids[@]})) || continue
        kill -TERM "${pids[@]}" 2>/dev/null || true
        left+=("${pids[@]}")
    done
    for pid in "${left[@]}"; do
        if ! wait_gone "$pid" 10; then
            warn "pid $pid ignored SIGTERM: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            wait_gone "$pid" 5 || warn "pid $pid is still there"
        fi
    done
    ((${#left[@]})) && say "stopped ${#left[@]} process(es) in the lab namespaces"
    # Deleting the switch namespace deletes its veths and so their peers
    # (eth0 of every host, and gs1-wire in the root namespace) -- but not at
    # once: `ip netns del` only drops a reference, the kernel dismantles the
    # namespace some 10-20 ms later, and until then the peers still exist
    # (hence the explicit deletes of $WIRE and of the router's port "rt": the
    # router gs-rt stays, with its other side, and can be joined again).
    if ns_exists "$NS_SW" && ip -n "$NS_SW" link show rt >/dev/null 2>&1; then
        ip -n "$NS_SW" link del rt
        if ns_exists "$NS_RT"; then say "router $NS_RT lost its side on $BR ('$0 up' of site $SITE puts it back)"; fi
    fi
    for ns in $(all_ns); do
        if ns_exists "$ns"; then ip netns del "$ns"; say "deleted namespace $ns"; fi
    done
    if ip link show "$WIRE" >/dev/null 2>&1; then ip link del "$WIRE"; fi
    rm -rf "$RUN"
    rmdir "$RUN_ROOT" 2>/dev/null || true
}

cmd_up() {
    check_tools
    trap 'echo "lab: up failed at line $LINENO; \"$0 down\" removes what was built" >&2' ERR
    cmd_down >/dev/null
    mkdir -p "$RUN"
    build_network
    say "network built: bridge $BR in $NS_SW, appliance port $WIRE (root namespace, $(mac_for 0.0.0.1))"
    local s
    for s in "${SERVERS[@]}"; do
        [[ "${KIND[$s]}" == pop3 ]] && prepare_pop "$s"
        start_server "$s"
    done
    # The router survived a `down` of this site without its side here.
    if ns_exists "$NS_RT" && [[ " ${WAN_SITES[*]} " == *" $SITE "* ]]; then
        wan_attach "$SITE"
        say "router $NS_RT: side $RT_IF ($RT_ADDR) back on $BR"
    fi
    trap - ERR
    if [[ -n "$CLIENT_ADDR" ]]; then
        cat <<EOF
lab: site $SITE is up. Next: start gslbd on $WIRE (examples/site$SITE.toml), then e.g.
  ip netns exec $NS_CLIENT curl -s http://$VIP/
  ip netns exec $NS_CLIENT curl -s pop3://$VIP/1 -u $POP_USER:$POP_PASS
lab: server-side checks (no appliance needed): $0 check
EOF
    else
        cat <<EOF
lab: site $SITE is up (no client of its own; VIP $VIP). Next: start gslbd on $WIRE
  (examples/site$SITE.toml); join the sites with '$0 up-wan' (both sites up);
  clients reach this site through site 1's VIP (proxy IP) and the router $NS_RT.
lab: server-side checks (no appliance needed): GSLBD_LAB_SITE=$SITE $0 check
EOF
    fi
}

cmd_status() {
    local ns s pid state port any=0
    for ns in $(all_ns); do ns_exists "$ns" && any=1; done
    if ((!any)); then say "site $SITE is down (no namespaces)"; return 0; fi
    echo "namespaces:"
    for ns in $(all_ns); do
        if ns_exists "$ns"; then
            if [[ "$ns" == "$NS_SW" ]]; then
                printf '  %-12s bridge %s, ports: %s\n' "$ns" "$BR" \
                    "$(ip -n "$ns" -br link show master "$BR" | awk '{print $1 "(" $2 ")"}' | tr '\n' ' ')"
            else
                printf '  %-12s %s\n' "$ns" "$(ip -n "$ns" -br addr show dev eth0 | awk '{print $2, $3}')"
            fi
        else
            printf '  %-12s MISSING\n' "$ns"
        fi
    done
    if ip link show "$WIRE" >/dev/null 2>&1; then
        printf 'appliance port: %s\n' "$(ip -br link show "$WIRE")"
    else
        echo "appliance port: $WIRE MISSING"
    fi
    if ns_exists "$NS_RT" && [[ " ${WAN_SITES[*]} " == *" $SITE "* ]]; then
        wan_side "$SITE"
        if ip -n "$NS_RT" link show "$RT_IF" >/dev/null 2>&1; then
            printf 'router: %s %s\n' "$NS_RT" "$(ip -n "$NS_RT" -br addr show dev "$RT_IF" | awk '{print $1, $2, $3}')"
        else
            printf 'router: %s has no side on %s (run %s up-wan)\n' "$NS_RT" "$BR" "$0"
        fi
    fi
    echo "servers:"
    for s in "${SERVERS[@]}"; do
        ns="$(server_ns "$s")"
        port="$(server_port "$s")"
        pid="$(server_pid "$s" || true)"
        if pid_in_ns "$pid" "$ns"; then
            state="running (pid $pid)"
            [[ -n "$(nsx "$ns" ss -Hltn "sport = :$port")" ]] || state+=", NOT listening"
        else
            state="stopped"
        fi
        printf '  %-5s %-15s %-5s :%-4s %s\n' "$s" "${ADDR[$s]%/*}" "${KIND[$s]}" "$port" "$state"
    done
}

# Server-side checks from inside the server subnet (the appliance is not
# involved): every HTTP server answers its name, every POP3 server the message.
cmd_check() {
    local s probe o fails=0 ip
    for s in "${SERVERS[@]}"; do
        for probe in "${SERVERS[@]}"; do [[ "$probe" != "$s" ]] && break; done
        ip="${ADDR[$s]%/*}"
        case "${KIND[$s]}" in
        http)
            o="$(nsx "$(server_ns "$probe")" curl -s --max-time 5 "http://$ip/" || true)"
            if [[ "$o" == "${LABEL[$s]}" ]]; then say "ok   $s: http://$ip/ -> \"$o\" (from $probe)"
            else say "FAIL $s: http://$ip/ -> \"$o\" (from $probe)"; fails=$((fails + 1)); fi
            ;;
        pop3)
            o="$(nsx "$(server_ns "$probe")" curl -s --max-time 10 "pop3://$ip/1" \
                -u "$POP_USER:$POP_PASS" | tr -d '\r' || true)"
            if grep -qxF "${MESSAGE[$s]}" <<<"$o"; then say "ok   $s: pop3://$ip/1 -> \"${MESSAGE[$s]}\" (from $probe)"
            else say "FAIL $s: pop3://$ip/1 -> \"$(tail -n1 <<<"$o")\" (from $probe)"; fails=$((fails + 1)); fi
            ;;
        esac
    done
    ((fails == 0)) || die "$fails check(s) failed"
}

# --- the router between the sites (WAN) ------------------------------------

# wan_attach N: a veth from site N's bridge (port "rt") to gs-rt (RT_IF).
wan_attach() {
    wan_side "$1"
    ns_exists "$RT_SW" || die "site $1 is down (no $RT_SW): run 'GSLBD_LAB_SITE=$1 $0 up' first"
    # Leftovers of a namespace that is still being dismantled (see cmd_down).
    if ip -n "$NS_RT" link show "$RT_IF" >/dev/null 2>&1; then ip -n "$NS_RT" link del "$RT_IF"; fi
    if ip -n "$RT_SW" link show rt >/dev/null 2>&1; then ip -n "$RT_SW" link del rt; fi
    ip -n "$RT_SW" link add rt mtu 1500 type veth peer name "$RT_IF" netns "$NS_RT"
    # tx checksumming off, as for every lab veth (see attach): the appliances
    # read this segment with af_packet and must see finished checksums.
    nsx "$NS_RT" ethtool -K "$RT_IF" tx off >/dev/null
    nsx "$RT_SW" ethtool -K rt tx off >/dev/null
    # Per interface as well: the effective rp_filter is max(all, interface),
    # forwarding is decided by the receiving interface's own setting.
    nsx "$NS_RT" sysctl -q -w "net.ipv4.conf.$RT_IF.forwarding=1" "net.ipv4.conf.$RT_IF.rp_filter=0" \
        "net.ipv4.conf.$RT_IF.send_redirects=0" "net.ipv4.conf.$RT_IF.arp_ignore=1"
    ip -n "$NS_RT" link set "$RT_IF" address "$RT_MAC" mtu 1500 up
    ip -n "$NS_RT" addr add "$RT_ADDR" dev "$RT_IF"
    wan_routes
    ip -n "$RT_SW" link set rt master "$RT_BR" up
    local r client="gs$1-client"
    if ns_exists "$client"; then
        for r in "${RT_FAR[@]}"; do ip -n "$client" route replace "$r" via "${RT_ADDR%/*}" dev eth0; done
    fi
}

# The on-link routes of side RT_IF (wan_side first). `replace`: restore-wan
# runs it again, because the kernel deletes a link's routes when it goes down
# and brings back only the connected one when it comes up.
wan_routes() {
    local r
    for r in "${RT_ROUTES[@]}"; do ip -n "$NS_RT" route replace "$r" dev "$RT_IF"; done
}

cmd_down_wan() {
    local pids=() pid
    ns_exists "$NS_RT" || { say "the router $NS_RT is not there"; return 0; }
    # Processes a test left in gs-rt (tcpdump, ping) would keep it alive.
    mapfile -t pids < <(ip netns pids "$NS_RT" 2>/dev/null || true)
    if ((${#pids[@]})); then
        kill -TERM "${pids[@]}" 2>/dev/null || true
        for pid in "${pids[@]}"; do
            wait_gone "$pid" 10 || { kill -KILL "$pid" 2>/dev/null || true; wait_gone "$pid" 5 || warn "pid $pid is still there"; }
        done
        say "stopped ${#pids[@]} process(es) in $NS_RT"
    fi
    # Its veths and their peers, the ports "rt" on the bridges, would go with
    # it, but only some 10-20 ms after `ip netns del` (see cmd_down): an
    # up-wan right after would find the ports still there. Delete them now.
    local n
    for n in "${WAN_SITES[@]}"; do
        wan_side "$n"
        if ip -n "$NS_RT" link show "$RT_IF" >/dev/null 2>&1; then ip -n "$NS_RT" link del "$RT_IF"; fi
    done
    ip netns del "$NS_RT"
    say "deleted namespace $NS_RT"
}

cmd_up_wan() {
    local n
    check_tools
    for n in "${WAN_SITES[@]}"; do
        ns_exists "gs$n-sw" || die "site $n is down (no gs$n-sw): run 'GSLBD_LAB_SITE=$n $0 up' first"
    done
    trap 'echo "lab: up-wan failed at line $LINENO; \"$0 down-wan\" removes what was built" >&2' ERR
    cmd_down_wan >/dev/null
    ns_add "$NS_RT"
    # A router (ns_add made it a host): forwarding on (this sets the default
    # for new interfaces too); no reverse-path filter (a transit router: a
    # source it has no route back to, e.g. a site's server subnet behind an
    # appliance that does not translate, still passes); no ICMP redirects
    # (the hosts on the segments should not learn routes from the router,
    # and the appliances' captures stay free of them). arp_ignore=1: a Linux host
    # answers ARP for any of its addresses on any interface; the router should
    # answer on each segment for that side's address only.
    nsx "$NS_RT" sysctl -q -w net.ipv4.ip_forward=1 \
        net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
        net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.default.send_redirects=0 \
        net.ipv4.conf.all.arp_ignore=1
    for n in "${WAN_SITES[@]}"; do
        wan_attach "$n"
        say "router $NS_RT: $RT_IF $RT_ADDR ($RT_MAC) on $RT_BR${RT_ROUTES[*]:+, on-link ${RT_ROUTES[*]}}"
    done
    trap - ERR
    say "the sites are joined (cut site 2 off with '$0 cut-wan', back with '$0 restore-wan')"
}

# cut-wan / restore-wan: the router's site-2 side down / up.
cmd_cut_wan() {
    local updown="$1"
    wan_side 2
    ns_exists "$NS_RT" || die "the router $NS_RT is not there: run '$0 up-wan' first"
    ip -n "$NS_RT" link show "$RT_IF" >/dev/null 2>&1 ||
        die "$NS_RT has no side $RT_IF: site 2 is down ('GSLBD_LAB_SITE=2 $0 up' puts the side back)"
    ip -n "$NS_RT" link set "$RT_IF" "$updown"
    if [[ "$updown" == up ]]; then
        wan_routes
        say "site 2 is joined again: $NS_RT $RT_IF is up"
    else
        say "site 2 is cut off: $NS_RT $RT_IF is down"
    fi
}

usage() {
    sed -n 's/^# usage: /usage: /p' "$0" >&2
    exit 2
}

main() {
    (($# >= 1)) || usage
    # The router does not belong to one site: no plan() needed.
    case "$1" in
    up-wan | down-wan | cut-wan | restore-wan)
        (($# == 1)) || usage
        need_root
        lock
        case "$1" in
        up-wan) cmd_up_wan ;;
        down-wan) cmd_down_wan ;;
        cut-wan) cmd_cut_wan down ;;
        restore-wan) cmd_cut_wan up ;;
        esac
        return 0
        ;;
    esac
    plan
    case "$1" in
    up) need_root; lock; cmd_up ;;
    down) need_root; lock; cmd_down; say "site $SITE is down" ;;
    status) need_root; cmd_status ;;
    check) need_root; cmd_check ;;
    stop-server | kill-server | start-server)
        (($# == 2)) || usage
        is_server "$2" || die "unknown server '$2' (site $SITE has: ${SERVERS[*]})"
        need_root
        lock
        case "$1" in
        stop-server) stop_server "$2" ;;
        kill-server) kill_server "$2" ;;
        *) start_server "$2" ;;
        esac
        ;;
    *) usage ;;
    esac
}

main "$@"
