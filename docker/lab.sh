#!/usr/bin/env bash
# The GSLB chapter's two sites in containers (docker/compose.yaml): per site
# gslbd on DPDK in front of an HTTP and a POP3 server, a router between the
# sites, a client with curl and dig, Prometheus scraping both appliances.
#   docker/lab.sh up       build the images if missing (docker/build.sh),
#                          reserve hugepages, start the lab, wait until both
#                          appliances are healthy, print what to try
#   docker/lab.sh down     stop it: the appliances drain on docker stop (their
#                          final counters are printed), then containers and
#                          networks are removed
#   docker/lab.sh status   containers, health, hugepages
#   docker/lab.sh build    build the images again (after a change)
# Needs a Docker engine and docker-compose (or the compose plugin); root for
# hugepages. Another e2e run on the machine (flock /tmp/gslbd-e2e.lock) is
# waited for before starting.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
project=gslbd-lab
appliances=(gslbd-site1 gslbd-site2)
PAGES=256 # two appliances, memory_mb = 256 each, in 2 MiB pages

say() { printf 'docker-lab: %s\n' "$*"; }
die() { printf 'docker-lab: error: %s\n' "$*" >&2; exit 1; }

compose() {
    if docker compose version >/dev/null 2>&1; then
        docker compose -p "$project" -f "$here/compose.yaml" "$@"
    elif command -v docker-compose >/dev/null 2>&1; then
        docker-compose -p "$project" -f "$here/compose.yaml" "$@"
    else
        die "neither 'docker compose' nor docker-compose is installed (apt-get install docker-compose)"
    fi
}

need_docker() {
    command -v docker >/dev/null 2>&1 || die "docker is not installed"
    docker info >/dev/null 2>&1 || die "no usable Docker engine (docker info fails: is dockerd running, may this user use it?)"
}

hugepages() {
    local sys=/sys/kernel/mm/hugepages/hugepages-2048kB free total
    free="$(cat $sys/free_hugepages)"
    total="$(cat $sys/nr_hugepages)"
    if ((free < PAGES)) || ! mountpoint -q /dev/hugepages; then
        [[ $EUID -eq 0 ]] || die "$free hugepages free, the lab needs $PAGES: run as root (or scripts/hugepages.sh $((total + PAGES - free)))"
        "$repo/scripts/hugepages.sh" "$((total + PAGES - free))" >/dev/null
        free="$(cat $sys/free_hugepages)"
        ((free >= PAGES)) || die "only $free hugepages free after reserving more; the lab needs $PAGES"
    fi
    say "hugepages: $free of $(cat $sys/nr_hugepages) free (the lab takes $PAGES)"
}

health() { docker inspect -f '{{.State.Status}}{{if .State.Health}}/{{.State.Health.Status}}{{end}}' "$1" 2>/dev/null || echo missing; }

wait_healthy() {
    local a n=0 all
    while :; do
        all=1
        for a in "${appliances[@]}"; do
            case "$(health "$a")" in
            running/healthy) ;;
            running/*) all=0 ;;
            *)
                docker logs --tail 30 "$a" 2>&1 | sed 's/^/  /' >&2
                die "$a is $(health "$a")"
                ;;
            esac
        done
        ((all)) && return 0
        ((n++ < 120)) || die "the appliances are not healthy after 60 s: $(for a in "${appliances[@]}"; do printf '%s %s  ' "$a" "$(health "$a")"; done)"
        sleep 0.5
    done
}

cmd_up() {
    need_docker
    local img
    for img in "${GSLBD_IMAGE:-gslbd:latest}" "${GSLBD_LAB_IMAGE:-gslbd-lab:latest}"; do
        if ! docker image inspect "$img" >/dev/null 2>&1; then
            say "image $img is missing: building (docker/build.sh)"
            "$here/build.sh"
            break
        fi
    done
    # Not while another end-to-end test runs (they share the hugepages);
    # the e2e test that calls this holds the lock already.
    if [[ -z "${GSLBD_E2E_LOCK_HELD:-}" ]]; then
        exec 9>/tmp/gslbd-e2e.lock
        flock -w 900 9 || die "another e2e run still holds /tmp/gslbd-e2e.lock after 15 minutes"
    fi
    hugepages
    compose up -d 2>&1 | sed 's/^/  /'
    say "waiting for both appliances to be healthy (their admin API answers)"
    wait_healthy
    exec 9>&-
    cat <<'EOF'
docker-lab: up. Site 1 VIP 172.31.101.10 (HTTP -> web1, web2; POP3 -> pop1), site 2 VIP 172.31.102.10;
each proxies to the other through its PIP when it has no server left. Try:
  docker exec gslbd-client curl -s http://172.31.101.10/                       # web1, web2, web1, ...
  docker exec gslbd-client curl -s pop3://172.31.101.10/1 -u alice:secret     # "Hello from pop1"
  docker kill gslbd-site1-pop1                                                 # site 1's POP3 server dies...
  docker exec gslbd-client curl -s pop3://172.31.101.10/1 -u alice:secret     # ...site 2 serves it via PIP 172.31.101.200
  docker start gslbd-site1-pop1                                                # back to local service
  docker exec gslbd-client dig +short @10.81.0.1 pop.gslb.example.org          # the GSLB's DNS answer
  docker exec gslbd-site1 gslbd ctl --addr 172.31.250.11:9181 status           # site 1's view (site 2: .12)
  docker logs -f gslbd-site1                                                   # health and site-state events
  curl -s 'http://172.31.250.9:9090/api/v1/query?query=up'                     # Prometheus, from the host
docker/lab.sh down stops it.
EOF
}

cmd_down() {
    need_docker
    local a
    if [[ -z "$(docker ps -aq --filter "label=com.docker.compose.project=$project")" ]] &&
        [[ -z "$(docker network ls -q --filter name=gslbd-)" ]]; then
        say "the lab is not up"
        return 0
    fi
    # The appliances first, by hand: docker stop sends SIGTERM, gslbd drains
    # and prints its final counters.
    for a in "${appliances[@]}"; do
        [[ "$(health "$a")" == running* ]] || continue
        docker stop -t 30 "$a" >/dev/null
        say "$a stopped, exit code $(docker inspect -f '{{.State.ExitCode}}' "$a"); its last lines:"
        docker logs --tail 4 "$a" 2>&1 | sed 's/^/  /'
    done
    compose down -t 10 2>&1 | sed 's/^/  /'
    say "down; hugepage files left in /dev/hugepages: $(find /dev/hugepages -maxdepth 1 -name 'gslbd-docker-*' | wc -l)"
}

cmd_status() {
    need_docker
    compose ps
    local a
    for a in "${appliances[@]}"; do
        printf '%-12s %s\n' "$a" "$(health "$a")"
    done
    "$repo/scripts/hugepages.sh" --report
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
build) need_docker; "$here/build.sh" ;;
*) echo "usage: $0 up|down|status|build" >&2; exit 2 ;;
esac
