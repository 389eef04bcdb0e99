#!/usr/bin/env bash
# perf/dns-bench.sh [SECONDS] [CLIENTS]: dnsperf against gslbd's authoritative
# DNS and against gdnsd (Debian's package) serving the same zone, on this
# machine in one run.
#
# Site 1's lab (scripts/lab.sh) is brought up; gslbd runs with
# examples/site1.toml and answers on its own address 198.51.100.1 (queries
# cross the lab's bridge and gslbd's af_packet port; its data core answers
# them in the buffer they came in, itself or through the DNS thread's rings,
# and sends the answers back out). gdnsd runs in a namespace of its own, gs1-gdnsd (198.51.100.53/24), attached to
# the same bridge, with perf/dns/gdnsd/ (pop: multifo over both sites' VIPs;
# www: weighted, one answer). dnsperf runs in gs1-client, against each server
# in turn, with the same query file: 80 % A for pop/www, 10 % SOA/NS, 10 %
# NXDOMAIN.
#
# Two passes per server, SECONDS each (default 20), CLIENTS dnsperf clients
# (source ports, default 8; gdnsd's two UDP sockets share a port by
# SO_REUSEPORT and the kernel spreads clients over them by hash), one dnsperf
# thread, at most 100 queries outstanding. gslbd keeps running, idle,
# while gdnsd is measured, so both servers are measured on the same machine:
# the lab's health checks (every 250 ms a Python HTTP server starts a thread
# and dovecot a login process, on the same 2 CPUs) go on in both, and they
# are most of the 99th percentile at 20k/s (0.5-0.6 ms; 0.11-0.12 with the
# checks 10 s apart). GDNSD_ALONE=1 stops gslbd (SIGSTOP) for gdnsd's passes
# instead, as earlier figures in perf/README.md were taken:
#   max   as fast as the server answers: queries/s, loss, CPU per answer
#         (MAX=0 skips the pass);
#   rate  RATE queries/s offered (env RATE, default 20000; 0 skips the pass):
#         latency at equal load (at saturation a closed-loop tester's latency
#         is only outstanding/qps).
# Latency percentiles come from dnsperf -v (one line per answer; 2.10 has no
# histogram option), written to a file and read after the pass.
# Server CPU: utime+stime from /proc over the pass; for gslbd the whole
# appliance (its data core polls flat out while packets come, and its
# af_packet system calls are its system time) and the DNS thread (dns-ring)
# alone. Also printed: each server thread's CPU and context switches, and
# the whole machine's CPU per CPU and per answer.
#
# gslbd is measured once per [dns] answer_on setting in GSLBD_MODES
# (default "data_cores thread"; set by reload between passes): answered on
# the data core in the burst, or by the DNS thread over rings.
#
# Diagnostics: DNS_THREAD_CPUS=0-1 lets gslbd's DNS threads leave the control
# lcore's CPU; GSLBD_CONFIG=FILE runs gslbd with FILE instead of
# examples/site1.toml (e.g. a copy with another [flows] idle_sleep_us);
# GSLBD_BIN=FILE runs that gslbd binary instead of building one (A/B runs
# against an earlier build).
# ROUNDS=N repeats the whole set of passes N times, servers alternating, and
# adds the median of each figure over the rounds (this VM's speed moves by
# tens of percent from minute to minute).
# CLIENT_CPUS=LIST pins dnsperf (taskset) for every server, e.g. 0 to keep
# it off the data core's CPU.
# LAB_CPUS=LIST pins the lab's real servers (every process in their
# namespaces, and so the login processes and threads they start for health
# checks) for every server, e.g. 0: on an appliance the data core's CPU is
# its own, and the servers are other machines.
#
# Needs root, hugepages (scripts/hugepages.sh) and the lab's tools. Installs
# dnsperf and gdnsd with apt-get when missing (the package's service is kept
# from starting). The lab's namespaces are shared with the end-to-end tests:
# run one at a time (they all bring the lab up and down).
set -uo pipefail
export LC_ALL=C
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DURATION="${1:-20}"
CLIENTS="${2:-8}"
RATE="${RATE:-20000}"
GSLBD_CONFIG="${GSLBD_CONFIG:-examples/site1.toml}"
GSLBD_MODES="${GSLBD_MODES:-data_cores thread}"
ROUNDS="${ROUNDS:-1}"
MAX="${MAX:-1}"
CLIENT_CPUS="${CLIENT_CPUS:-}"
pin=()
[ -n "$CLIENT_CPUS" ] && pin=(taskset -c "$CLIENT_CPUS")
OUTSTANDING=100
GSLBD_ADDR=198.51.100.1
GDNSD_NS=gs1-gdnsd
GDNSD_ADDR=198.51.100.53
GDNSD_MAC=02:67:73:01:00:35   # scripts/lab.sh's plan: 02:67:73:site:00:last-octet
PAGES=256
NAME=dns-bench

die() { echo "$NAME: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, DPDK)"
[[ "$DURATION" =~ ^[0-9]+$ && "$CLIENTS" =~ ^[0-9]+$ && "$RATE" =~ ^[0-9]+$ ]] ||
    die "usage: $0 [SECONDS] [CLIENTS] (env RATE)"
if [ "$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)" -lt "$PAGES" ] || ! mountpoint -q /dev/hugepages; then
    die "fewer than $PAGES free hugepages: run scripts/hugepages.sh first"
fi

# --- tools ---------------------------------------------------------------------

install_tools() {
    local missing=() added_policy=
    command -v dnsperf >/dev/null || missing+=(dnsperf)
    command -v gdnsd >/dev/null || missing+=(gdnsd)
    ((${#missing[@]})) || return 0
    # The gdnsd package enables and starts a system service: policy-rc.d
    # exit 101 tells invoke-rc.d not to (Docker images ship one already).
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        added_policy=1
    fi
    echo "$NAME: installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    local rc=$?
    [ -n "$added_policy" ] && rm -f /usr/sbin/policy-rc.d
    [ "$rc" -eq 0 ] || die "apt-get install ${missing[*]} failed"
    # Where systemd runs, the unit is enabled anyway: stop and disable it
    # (it would hold port 53 on every address of the root namespace).
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
        systemctl disable --now gdnsd.service >/dev/null 2>&1 || true
    fi
}
install_tools

if [ -n "${GSLBD_BIN:-}" ]; then
    bin="$GSLBD_BIN"
else
    cargo build --release -q -p gslbd || die "cargo build failed"
    bin=target/release/gslbd
fi
# shellcheck source=scripts/appliance.sh
. scripts/appliance.sh

# --- the lab, gslbd and gdnsd -----------------------------------------------------

work="$(mktemp -d /tmp/dns-bench.XXXXXX)"
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    ip netns del "$GDNSD_NS" 2>/dev/null
    GSLBD_LAB_SITE=1 scripts/lab.sh down >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

GSLBD_LAB_SITE=1 scripts/lab.sh up >"$work/lab.log" 2>&1 || { cat "$work/lab.log"; die "lab up failed"; }
if [ -n "${LAB_CPUS:-}" ]; then
    for ns in $(ip netns list | awk '$1 ~ /^gs1-(web|pop)/ { print $1 }'); do
        for p in $(ip netns pids "$ns"); do taskset -apc "$LAB_CPUS" "$p" >/dev/null; done
    done
    echo "$NAME: the lab's servers run on CPUs $LAB_CPUS"
fi

# gdnsd's host on the segment, as scripts/lab.sh's attach() makes one.
ip netns del "$GDNSD_NS" 2>/dev/null
ip netns add "$GDNSD_NS"
ip netns exec "$GDNSD_NS" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 net.ipv4.ip_forward=0
ip -n "$GDNSD_NS" link set lo up
ip -n gs1-sw link add gdnsd mtu 1500 type veth peer name eth0 netns "$GDNSD_NS"
ip netns exec "$GDNSD_NS" ethtool -K eth0 tx off >/dev/null
ip netns exec gs1-sw ethtool -K gdnsd tx off >/dev/null
ip -n "$GDNSD_NS" link set eth0 address "$GDNSD_MAC" mtu 1500 up
ip -n "$GDNSD_NS" addr add "$GDNSD_ADDR/24" dev eth0
ip -n gs1-sw link set gdnsd master gs1-br up

# A copy of the configuration, so each gslbd mode is one edit and a SIGHUP away.
config="$work/gslbd.toml"
set_mode() { sed -i -e '/^answer_on = /d' -e "/^\[dns\]/a answer_on = \"$1\"" "$config"; }
cp "$GSLBD_CONFIG" "$config"
set_mode "${GSLBD_MODES%% *}"
start_appliance "$config" "$work/gslbd.log" || exit 1
gslbd_pid="$appliance"
pids+=("$gslbd_pid")

# gdnsd's configuration with run and state directories of its own.
cp -r perf/dns/gdnsd "$work/gdnsd"
sed -i "/^options => {/a\\  run_dir => $work/gdnsd-run\\n  state_dir => $work/gdnsd-state" "$work/gdnsd/config"
gdnsd -c "$work/gdnsd" checkconf >"$work/gdnsd-check.log" 2>&1 || { cat "$work/gdnsd-check.log"; die "gdnsd checkconf failed"; }
ip netns exec "$GDNSD_NS" gdnsd -c "$work/gdnsd" start >"$work/gdnsd.log" 2>&1 &
gdnsd_pid=$!
pids+=("$gdnsd_pid")

dig1() { ip netns exec gs1-client dig +time=1 +tries=1 +norec +short "@$1" "$2" "${3:-A}" 2>/dev/null | head -n 1; }
ready=
for _ in $(seq 1 100); do
    [ "$(dig1 $GSLBD_ADDR pop.gslb.example.org)" = 192.0.2.10 ] &&
        [ -n "$(dig1 $GDNSD_ADDR pop.gslb.example.org)" ] && { ready=1; break; }
    sleep 0.1
done
if [ -z "$ready" ]; then
    grep -vE "^(EAL|TELEMETRY|tap_|qdisc|eth_dev_tap)" "$work/gslbd.log" | tail -n 5
    tail -n 5 "$work/gdnsd.log"
    die "no answer for pop.gslb.example.org from gslbd ('$(dig1 $GSLBD_ADDR pop.gslb.example.org)') or gdnsd ('$(dig1 $GDNSD_ADDR pop.gslb.example.org)')"
fi
# What each answers, and the sizes of its answers (bytes).
size() { ip netns exec gs1-client dig +time=1 +tries=1 +norec "@$1" "$2" "$3" | awk '/MSG SIZE/ { print $NF }'; }
for s in "$GSLBD_ADDR" "$GDNSD_ADDR"; do
    echo "$NAME: $s: pop A $(ip netns exec gs1-client dig +time=1 +tries=1 +norec +short "@$s" pop.gslb.example.org | tr '\n' ' ')($(size "$s" pop.gslb.example.org A) B)," \
        "www A $(dig1 "$s" www.gslb.example.org) ($(size "$s" www.gslb.example.org A) B), SOA $(size "$s" gslb.example.org SOA) B," \
        "NS $(size "$s" gslb.example.org NS) B, nx$(ip netns exec gs1-client dig +time=1 +tries=1 +norec "@$s" nx1.gslb.example.org | grep -o ' status: [A-Z]*' | cut -d: -f2) $(size "$s" nx1.gslb.example.org A) B"
done

# --- the queries -----------------------------------------------------------------

# 1000 lines, looped over by dnsperf: in every 10, four pop A, four www A,
# one SOA or NS at the apex, one name that does not exist (each different).
awk 'BEGIN {
    for (i = 0; i < 100; i++) {
        for (j = 0; j < 4; j++) { print "pop.gslb.example.org A"; print "www.gslb.example.org A" }
        print (i % 2 ? "gslb.example.org NS" : "gslb.example.org SOA")
        printf "nx%d.gslb.example.org A\n", i
    }
}' >"$work/queries"

# --- measuring ---------------------------------------------------------------------

ticks="$(getconf CLK_TCK)"
# cpu_of PID [COMM-PREFIX]: utime+stime in ticks of the process, or of its
# threads whose name starts with COMM-PREFIX (stat's field 2 can hold
# spaces: fields are counted after the last ')').
cpu_of() {
    local pid="$1" prefix="${2:-}" t sum=0 comm rest
    if [ -z "$prefix" ]; then
        rest="$(sed 's/.*) //' "/proc/$pid/stat")"
        awk '{ print $12 + $13 }' <<<"$rest"
        return
    fi
    for t in /proc/"$pid"/task/*; do
        comm="$(cat "$t/comm" 2>/dev/null)" || continue
        [[ "$comm" == "$prefix"* ]] || continue
        rest="$(sed 's/.*) //' "$t/stat")"
        sum=$((sum + $(awk '{ print $12 + $13 }' <<<"$rest")))
    done
    echo "$sum"
}
# threads_of PID: "tid comm-with-underscores ticks cpus-allowed voluntary
# involuntary" per thread (the last two: context switches).
threads_of() {
    local t comm rest
    for t in /proc/"$1"/task/*; do
        comm="$(tr ' ' _ <"$t/comm" 2>/dev/null)" || continue
        rest="$(sed 's/.*) //' "$t/stat" 2>/dev/null)" || continue
        echo "${t##*/} $comm $(awk '{ print $12 + $13 }' <<<"$rest")" \
            "$(awk '/^Cpus_allowed_list/ { c = $2 } /^voluntary_ctxt/ { v = $2 } /^nonvoluntary_ctxt/ { n = $2 } END { print c, v, n }' "$t/status")"
    done
}
# The machine: per line of /proc/stat ("cpu", "cpu0", ...) its name and
# user nice system idle iowait irq softirq steal (ticks).
machine() { awk '/^cpu/ { print $1, $2, $3, $4, $5, $6, $7, $8, $9 }' /proc/stat; }
# machine_line LABEL BEFORE AFTER ANSWERS SERVER_TICKS CLIENT_S: what the
# whole machine did over a pass.
machine_line() {
    join <(sort "$2") <(sort "$3") | awk -v label="$1" -v ans="$4" -v srv="$5" -v cl="$6" -v tk="$ticks" -v dur="$DURATION" '
        { tot = 0; for (i = 0; i < 8; i++) { d[i] = $(10 + i) - $(2 + i); tot += d[i] }
          busy = tot - d[3] - d[4]
          if ($1 == "cpu") {
              all = sprintf("user %4.1f %%, system %4.1f %%, softirq %4.1f %%, idle %4.1f %%", 100 * (d[0] + d[1]) / tot,
                  100 * (d[2] + d[5]) / tot, 100 * d[6] / tot, 100 * (d[3] + d[4]) / tot)
              b = busy / tk
          } else per = per sprintf(" %s %3.0f %%", $1, 100 * busy / tot) }
        END {
            printf "  %-17s%s |%s | %.1f s/M answers\n", label, all, per, b / (ans / 1e6)
            # Busy time beyond the server and dnsperf: other work on the machine.
            if (b - srv / tk - cl > 0.25 * dur)
                printf "  %-17s(about %.0f CPU s went to other processes: the figures are unsure)\n", "", b - srv / tk - cl
        }'
}

# pass LABEL SERVER PID QPS: one dnsperf pass; appends a result line to
# $work/results and the per-thread CPU to $work/threads.
pass() {
    local label="$1" server="$2" pid="$3" qps="$4" out="$work/dnsperf.out" extra=()
    [ "$qps" -gt 0 ] && extra=(-Q "$qps")
    local p0 p1 d0 d1 t0 wall0 wall1
    machine >"$work/m0"; p0="$(cpu_of "$pid")"; d0=0
    [[ "$label" == gslbd* ]] && d0="$(cpu_of "$pid" "dns-ring")"
    t0="$(threads_of "$pid")"
    wall0="$(date +%s.%N)"
    # bash -c ... times: dnsperf's own CPU (the client), as its parent saw it.
    ip netns exec gs1-client "${pin[@]}" bash -c 'dnsperf "$@" >"'"$out"'" 2>&1; times' _ \
        -s "$server" -d "$work/queries" -l "$DURATION" -c "$CLIENTS" -T 1 -q "$OUTSTANDING" \
        -t 2 -v "${extra[@]}" >"$work/times" 2>&1
    wall1="$(date +%s.%N)"
    machine >"$work/m1"; p1="$(cpu_of "$pid")"; d1=0
    [[ "$label" == gslbd* ]] && d1="$(cpu_of "$pid" "dns-ring")"
    # The summary lines of dnsperf, and the latency percentiles from -v.
    local sum
    sum="$(grep -vE '^> ' "$out")"
    grep -qE '^ +Queries completed' <<<"$sum" || { echo "$sum" >&2; die "dnsperf against $label gave no summary"; }
    local completed lost qpsr avg
    completed="$(awk '/Queries completed:/ { print $3 }' <<<"$sum")"
    lost="$(awk '/Queries lost:/ { print $3 }' <<<"$sum")"
    qpsr="$(awk '/Queries per second:/ { print $4 }' <<<"$sum")"
    avg="$(awk '/Average Latency/ { print $4 }' <<<"$sum")"
    local pct
    pct="$(awk '/^> / && $2 != "T" && $2 != "I" { n++; c[int($NF * 1e6)]++; if (int($NF * 1e6) > mx) mx = int($NF * 1e6) }
        END {
            split("50 99 99.9", want, " "); k = 1
            for (b = 0; b <= mx && k <= 3; b++) { s += c[b]; while (k <= 3 && s >= n * want[k] / 100) { r[k] = b; k++ } }
            printf "%d %d %d", r[1], r[2], r[3]
        }' "$out")"
    local rcodes
    rcodes="$(awk '/^> / { c[$2]++ } END { for (k in c) printf "%s=%d ", k, c[k] }' "$out")"
    local client
    client="$(awk 'END { gsub(/[ms]/, " "); split($0, a, " "); print a[1] * 60 + a[2] + a[3] * 60 + a[4] }' "$work/times")"
    rm -f "$out"
    # One line: label mode qps completed lost avg_s p50 p99 p999 (us)
    # server_ticks dns_ticks wall client_s
    echo "$label $([ "$qps" -gt 0 ] && echo "rate$qps" || echo max) $qpsr $completed $lost $avg $pct" \
        "$((p1 - p0)) $((d1 - d0)) $(awk -v a="$wall0" -v b="$wall1" 'BEGIN { printf "%.2f", b - a }') $client" \
        >>"$work/results"
    machine_line "$label $([ "$qps" -gt 0 ] && echo "$qps/s" || echo max)" "$work/m0" "$work/m1" "$completed" "$((p1 - p0))" "$client" >>"$work/machine"
    echo "# $label $([ "$qps" -gt 0 ] && echo "at $qps q/s" || echo "max"): $rcodes" >>"$work/threads"
    join <(sort <<<"$t0") <(threads_of "$pid" | sort) | awk -v tk="$ticks" -v w="$(awk -v a="$wall0" -v b="$wall1" 'BEGIN { print b - a }')" '
        { d = ($8 - $3) / tk; if (d > 0.05) printf "  %-16s %7.2f s  %5.1f %%  cpus %-4s  switches/s: %6.0f voluntary %6.0f involuntary\n",
            $2, d, 100 * d / w, $9, ($10 - $5) / w, ($11 - $6) / w }' >>"$work/threads"
}

# DNS_THREAD_CPUS=0-1 (a diagnostic): let gslbd's DNS threads run on these
# CPUs (they inherit the control lcore's, CPU 0 with eal.lcores "0-1").
if [ -n "${DNS_THREAD_CPUS:-}" ]; then
    for t in /proc/"$gslbd_pid"/task/*; do
        [[ "$(cat "$t/comm")" == dns-* ]] && taskset -pc "$DNS_THREAD_CPUS" "${t##*/}" >/dev/null
    done
    echo "$NAME: gslbd's DNS threads may run on CPUs $DNS_THREAD_CPUS"
fi
# gslbd's data core wakes every flows.idle_sleep_us even with no traffic (a
# busy-polling one takes a whole CPU): it is stopped (SIGSTOP) while gdnsd is
# measured, and must answer again before its own passes.
answering() {
    local _
    for _ in $(seq 1 100); do
        [ "$(dig1 $GSLBD_ADDR pop.gslb.example.org)" = 192.0.2.10 ] && return 0
        sleep 0.1
    done
    die "gslbd does not answer pop.gslb.example.org with 192.0.2.10 after SIGCONT"
}
stopped=
trap '[ -n "$stopped" ] && kill -CONT "$gslbd_pid" 2>/dev/null; cleanup' EXIT

echo "$NAME: load before: $(cut -d' ' -f1-3 /proc/loadavg); $DURATION s a pass, $CLIENTS clients, $OUTSTANDING outstanding"
modes=()
[ "$MAX" != 0 ] && modes+=(0)
[ "$RATE" -gt 0 ] && modes+=("$RATE")
for round in $(seq 1 "$ROUNDS"); do
    for mode in "${modes[@]}"; do
        for where in $GSLBD_MODES; do
            set_mode "$where"
            kill -HUP "$gslbd_pid"
            sleep 1
            answering
            pass "gslbd-${where%%_*}" "$GSLBD_ADDR" "$gslbd_pid" "$mode"
            sleep 1
        done
        [ -n "${GDNSD_ALONE:-}" ] && kill -STOP "$gslbd_pid" && stopped=1
        pass gdnsd "$GDNSD_ADDR" "$gdnsd_pid" "$mode"
        [ -n "$stopped" ] && kill -CONT "$gslbd_pid" && stopped=
        sleep 1
    done
done

# --- the report ------------------------------------------------------------------

echo
printf '%-12s %-10s %9s %7s %9s %8s %8s %13s %13s %9s\n' server pass "q/s" "loss %" "avg ms" "p50 ms" "p99 ms" "CPU s/M ans" "(DNS thread)" "client s"
awk -v tk="$ticks" '{
    cpu = $10 / tk; dns = $11 / tk; ans = $4 / 1e6
    loss = ($4 + $5) > 0 ? 100 * $5 / ($4 + $5) : 0
    printf "%-12s %-10s %9.0f %7.3f %9.3f %8.3f %8.3f %13.2f %13s %9.2f\n", $1, $2, $3, loss, $6 * 1000, $7 / 1000, $8 / 1000,
        cpu / ans, ($1 ~ /^gslbd/ ? sprintf("%.2f", dns / ans) : "-"), $13
}' "$work/results"
if [ "$ROUNDS" -gt 1 ]; then
    echo
    echo "Median of each figure over the $ROUNDS rounds:"
    printf '%-12s %-10s %9s %8s %8s %13s\n' server pass "q/s" "p50 ms" "p99 ms" "CPU s/M ans"
    awk -v tk="$ticks" '
        function med(a, n,   i, j, t) {
            for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        { k = $1 " " $2; if (!(k in n)) order[++keys] = k; i = ++n[k]
          q[k, i] = $3; p50[k, i] = $7 / 1000; p99[k, i] = $8 / 1000; cpu[k, i] = $4 > 0 ? $10 / tk / ($4 / 1e6) : 0 }
        END {
            for (o = 1; o <= keys; o++) {
                k = order[o]; m = n[k]; split(k, name, " ")
                for (i = 1; i <= m; i++) { a1[i] = q[k, i]; a2[i] = p50[k, i]; a3[i] = p99[k, i]; a4[i] = cpu[k, i] }
                printf "%-12s %-10s %9.0f %8.3f %8.3f %13.2f\n", name[1], name[2], med(a1, m), med(a2, m), med(a3, m), med(a4, m)
            }
        }' "$work/results"
fi
echo
echo "CPU s/M ans: the server's utime+stime over the pass per million answers. For gslbd"
echo "it is the whole appliance: its data core (polling flat out while packets come; idle,"
echo "asleep on its queues' files or napping, see [flows] idle_*) carries"
echo "every query and answer through af_packet and, in gslbd-data, answers them itself;"
echo "in gslbd-thread, (DNS thread) is the dns-ring thread alone, which answers in the"
echo "query's own buffer and parks when idle until a query comes."
echo "gdnsd answers from its own namespace's kernel socket (no data path). Kernel work done"
echo "in softirq context (bridge, veth) is charged to whichever task it interrupts"
echo "(kernels without CONFIG_IRQ_TIME_ACCOUNTING) or to no task (with it)."
echo
echo "The machine over each pass, from /proc/stat (both CPUs; each CPU's busy share; all"
echo "CPU time per million answers, client and kernel included). /proc/stat counts ticks"
echo "and misses short bursts between them: below the threads' figures when CPUs idle."
cat "$work/machine"
echo
echo "Server threads over each pass (CPU seconds, % of one core, allowed CPUs, context"
echo "switches), and the answers' rcodes:"
cat "$work/threads"
