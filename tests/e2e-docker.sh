#!/usr/bin/env bash
# The container way, end to end: builds the images (docker/build.sh: a Debian
# 12 base from Debian's archive, reused when present; gslbd; the lab's hosts),
# runs the two-site lab of docker/compose.yaml (docker/lab.sh up) and checks,
# in order:
#   1. without a hugetlbfs mount the image refuses to start and names the
#      docker run flags;
#   2. both appliances come up healthy (the HEALTHCHECK asks the admin API);
#   3. the client gets HTTP (round robin over web1, web2), POP3 and a DNS
#      answer through site 1's VIP and own address;
#   4. the seed scenario: site 1's POP3 server container is killed; within the
#      health-check window the client still gets its mail through site 1's
#      VIP, served by site 2 through site 1's proxy IP (site 2's dovecot logs
#      only the PIP as the remote address); the DNS answer moves to site 2;
#      the server started again, service is local again;
#   5. Prometheus scrapes both appliances (up == 1 for both targets);
#   6. docker stop of each appliance: exit code 0 after its final counters,
#      nothing left in the hugepage mount, the hugepages free again.
# Prints the time each phase took. Needs root, hugepages, a Docker engine and
# docker-compose; without a usable Docker engine it is SKIPPED (exit 0).
# The lab runs under flock /tmp/gslbd-e2e.lock, as the other e2e runs.
#   GSLBD_KEEP_LAB=1       leave the lab up afterwards (docker/lab.sh down)
#   GSLBD_E2E_LOCK_HELD=1  the caller holds the lock already (e.g.
#                          flock /tmp/gslbd-e2e.lock env GSLBD_E2E_LOCK_HELD=1 scripts/test.sh)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

NAME=e2e-docker
PAGES=256

skip() {
    echo "$NAME: ======================================================================"
    echo "$NAME: SKIPPED — $*"
    echo "$NAME: ======================================================================"
    exit 0
}
command -v docker >/dev/null 2>&1 || skip "no docker command on this machine"
docker_err="$(timeout 30 docker info 2>&1 >/dev/null)" || skip "no usable Docker engine (docker info: $(tail -n 1 <<<"$docker_err"))"
if [ "$(id -u)" -ne 0 ]; then
    echo "$NAME: SKIPPED — needs root (hugepages, the image build's base)" >&2
    exit 0
fi
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
    echo "$NAME: FAILED — Docker works but compose does not: apt-get install docker-compose (scripts/install-deps.sh)"
    echo "$NAME: 0 passed, 1 failed"
    exit 1
fi

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
times=()

# --- images (no lock: they use no hugepages) --------------------------------
t0="$(now)"
base_log="$(docker/base-image.sh 2>&1)" || { echo "$base_log"; echo "$NAME: 0 passed, 1 failed"; exit 1; }
times+=("base image $(since "$t0") s ($(grep -q reusing <<<"$base_log" && echo reused || echo built))")
t0="$(now)"
build_log="$(docker/build.sh 2>&1)" || { echo "$build_log"; echo "$NAME: 0 passed, 1 failed"; exit 1; }
times+=("images $(since "$t0") s")
sed 's/^/  /' <<<"$build_log"

# --- the lab ------------------------------------------------------------------
t0="$(now)"
if [ -z "${GSLBD_E2E_LOCK_HELD:-}" ]; then
    exec 8>/tmp/gslbd-e2e.lock
    flock -w 1800 8 || { echo "$NAME: FAILED — /tmp/gslbd-e2e.lock still held after 30 minutes"; exit 1; }
fi
waited="$(since "$t0")"
export GSLBD_E2E_LOCK_HELD=1
# shellcheck source=tests/e2e-common.sh
. tests/e2e-common.sh # root, free hugepages; ok/bad

work="$(mktemp -d)"
cleanup() {
    if [ -z "${GSLBD_KEEP_LAB:-}" ]; then docker/lab.sh down >"$work/down.log" 2>&1 || cat "$work/down.log"; fi
    rm -rf "$work"
}
trap cleanup EXIT
client() { docker exec gslbd-client "$@"; }
pop() { client curl -s --connect-timeout 1 --max-time 4 pop3://172.31.101.10/1 -u alice:secret 2>&1; }
dns() { client dig +time=1 +tries=1 +short @10.81.0.1 "$@" 2>&1 | tr '\n' ' ' | sed 's/ $//'; }
hugefiles() { find /dev/hugepages -maxdepth 1 -type f | wc -l; }
free_pages() { cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages; }

# 1. The entrypoint's preflight: no hugetlbfs, no capabilities.
refusal="$(docker run --rm -v "$PWD/docker/site1.toml:/etc/gslbd/gslbd.toml:ro" gslbd:latest 2>&1)"
rc=$?
if [ "$rc" -eq 1 ] && grep -q -- "-v /dev/hugepages:/dev/hugepages" <<<"$refusal"; then
    ok "without a hugetlbfs mount the image refuses to start (exit 1) and names the flags: $(grep -o 'no hugetlbfs[^:]*' <<<"$refusal" | head -n 1)"
else
    bad "preflight without hugepages: exit $rc, '$(tail -n 2 <<<"$refusal")'"
fi

# 2. Up and healthy.
docker/lab.sh down >/dev/null 2>&1 # leftovers of an interrupted run
files_before="$(hugefiles)"
free_before="$(free_pages)"
t0="$(now)"
if docker/lab.sh up >"$work/up.log" 2>&1; then
    took="$(since "$t0")"
    times+=("lab up $took s")
    ok "lab up in $took s: both appliances healthy (HEALTHCHECK: gslbd ctl status over the admin API)"
else
    cat "$work/up.log"
    bad "docker/lab.sh up"
    echo "$NAME: $passed passed, $failed failed"
    exit 1
fi
t_scenario="$(now)"
for _ in $(seq 1 100); do
    docker logs gslbd-site1 2>&1 | grep -q "^site-state: site2 is reachable" && pop | grep -q "Hello" && break
    sleep 0.2
done

# 3. Local service through site 1's VIP.
w1="$(client curl -s --max-time 4 http://172.31.101.10/)"
w2="$(client curl -s --max-time 4 http://172.31.101.10/)"
if [ "$(printf '%s\n%s\n' "$w1" "$w2" | sort | tr '\n' ' ')" = "web1 web2 " ]; then
    ok "HTTP through site 1's VIP, round robin: $w1, $w2"
else
    bad "HTTP through site 1's VIP: '$w1' '$w2'"
fi
if pop | grep -q "Hello from pop1"; then
    ok "site 1 serves POP3 from its own server"
else
    bad "local POP3 at site 1: '$(pop | tail -n 1)'"
fi
answer="$(dns pop.gslb.example.org)"
if [ "$answer" = 172.31.101.10 ]; then
    ok "dig @10.81.0.1 pop.gslb.example.org: $answer (site 1's VIP)"
else
    bad "DNS at site 1: '$answer'"
fi

# 4. The seed scenario: site 1's POP3 server dies.
t0="$(now)"
docker kill gslbd-site1-pop1 >/dev/null
served=""
for _ in $(seq 1 100); do
    served="$(pop)"
    grep -q "Hello from site 2 pop1" <<<"$served" && break
    sleep 0.1
done
took="$(since "$t0")"
# Site 2's own health checks log in from 10.82.0.1; anyone else must be
# site 1's proxy IP.
sources="$(docker logs gslbd-site2-pop1 2>&1 | grep -o 'rip=[0-9.]*' | cut -d= -f2 | grep -vx 10.82.0.1 | sort -u | tr '\n' ' ' | sed 's/ $//')"
if grep -q "Hello from site 2 pop1" <<<"$served" && [ "$sources" = 172.31.101.200 ]; then
    ok "site 1's POP3 container killed: the client got \"Hello from site 2 pop1\" through site 1's VIP ${took} s later; site 2's server saw only site 1's PIP ($sources)"
else
    bad "proxy to site 2 (${took} s): served '$(tail -n 1 <<<"$served")', remote addresses at site 2: '$sources'"
fi
for _ in $(seq 1 50); do
    answer="$(dns pop.gslb.example.org)"
    [ "$answer" = 172.31.102.10 ] && break
    sleep 0.1
done
if [ "$answer" = 172.31.102.10 ]; then
    ok "the DNS answer moved to site 2's VIP ($answer)"
else
    bad "DNS after site 1's POP3 server died: '$answer'"
fi
docker start gslbd-site1-pop1 >/dev/null
for _ in $(seq 1 50); do
    pop | grep -q "Hello from pop1" && break
    sleep 0.2
done
if pop | grep -q "Hello from pop1"; then
    ok "site 1's POP3 server started again: new sessions are local again"
else
    bad "return to local service: '$(pop | tail -n 1)'"
fi

# 5. Prometheus scrapes both appliances.
query() {
    curl -s --max-time 4 "http://172.31.250.9:9090/api/v1/query" --data-urlencode "query=$1" |
        python3 -c 'import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(" ".join(sorted(x["metric"].get("site", "?") + "=" + x["value"][1] for x in r)))' 2>/dev/null
}
for _ in $(seq 1 60); do
    up="$(query 'up{job="gslbd"}')"
    [ "$up" = "site1=1 site2=1" ] && break
    sleep 0.5
done
reach="$(query 'gslbd_remote_site_reachable')"
if [ "$up" = "site1=1 site2=1" ] && [ "$reach" = "site1=1 site2=1" ]; then
    ok "Prometheus scrapes both appliances: up{job=\"gslbd\"}: $up; gslbd_remote_site_reachable: $reach"
else
    bad "Prometheus: up '$up', gslbd_remote_site_reachable '$reach'"
fi
times+=("scenario $(since "$t_scenario") s")

# 6. docker stop: SIGTERM to gslbd (PID 1), which drains and exits 0.
for a in gslbd-site1 gslbd-site2; do
    t0="$(now)"
    docker stop -t 30 "$a" >/dev/null
    took="$(since "$t0")"
    code="$(docker inspect -f '{{.State.ExitCode}}' "$a")"
    logs="$(docker logs "$a" 2>&1)"
    if [ "$code" = 0 ] && grep -q "^stopping: waiting for the data cores" <<<"$logs" &&
        grep -q "^data core 0:" <<<"$logs" && grep -q "^port net_af_packet0: rx [1-9]" <<<"$logs"; then
        ok "docker stop $a: exit code 0 in $took s, final counters printed ($(grep -o '^port net_af_packet0: rx [0-9]* tx [0-9]*' <<<"$logs"))"
    else
        bad "docker stop $a: exit code $code after $took s; last lines: $(tail -n 3 <<<"$logs" | tr '\n' '|')"
    fi
done
files_after="$(hugefiles)"
free_after="$(free_pages)"
left="$(find /dev/hugepages -maxdepth 1 -name 'gslbd-docker-*' | wc -l)"
if [ "$left" -eq 0 ] && [ "$files_after" -le "$files_before" ] && [ "$free_after" -ge "$free_before" ]; then
    ok "nothing left in /dev/hugepages ($files_after files, as before), $free_after hugepages free (before the lab: $free_before)"
else
    bad "hugepages after the stop: $left gslbd-docker-* files, $files_after files (before $files_before), $free_after free (before $free_before)"
fi

if [ "$failed" -gt 0 ]; then
    for a in gslbd-site1 gslbd-site2; do
        echo "  --- $a log (tail)"
        docker logs "$a" 2>&1 | grep -vE "^(EAL|TELEMETRY|tap_|qdisc|eth_dev_tap)" | tail -n 15 | sed 's/^/  /'
    done
fi
[ "$waited" != "0.0" ] && times+=("waited $waited s for the e2e lock")
echo "  times: $(printf '%s; ' "${times[@]}" | sed 's/; $//')"
echo "$NAME: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
