#!/usr/bin/env bash
# The appliance's main job on one machine: the GSLB chapter's two sites.
# Installs what is missing, reserves hugepages, builds the namespace lab
# (site 1: a client, two web servers, a POP3 server; site 2: a web server and
# a POP3 server; a router between them), runs one gslbd per site on DPDK in
# front of them, and follows their logs until Ctrl-C. Then it stops both
# appliances and takes the lab down.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "gslb-lab: run as root (hugepages, network namespaces, DPDK): sudo $0" >&2
    exit 1
fi
scripts/install-deps.sh
scripts/hugepages.sh 512 >/dev/null
cargo build --release -q -p gslbd
bin=target/release/gslbd
# shellcheck source=scripts/appliance.sh
. scripts/appliance.sh

logs=/run/gslbd-lab
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    scripts/lab.sh down-wan >/dev/null 2>&1 || true
    GSLBD_LAB_SITE=2 scripts/lab.sh down >/dev/null 2>&1 || true
    GSLBD_LAB_SITE=1 scripts/lab.sh down >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 0' INT TERM
GSLBD_LAB_SITE=1 scripts/lab.sh up >/dev/null
GSLBD_LAB_SITE=2 scripts/lab.sh up >/dev/null
scripts/lab.sh up-wan >/dev/null
start_appliance examples/site1.toml "$logs/site1.log"
pids+=("$appliance")
start_appliance examples/site2.toml "$logs/site2.log"
pids+=("$appliance")

cat <<'MSG'
gslbd two-site lab: site 1 VIP 192.0.2.10 (HTTP :80 -> web1, web2; POP3 :110 -> pop1),
site 2 VIP 203.0.113.10; each proxies to the other through its PIP when it has no server left
(but site 1's HTTP redirects the client to site 2 instead).
From another terminal:
  ip netns exec gs1-client curl -s http://192.0.2.10/                      # web1, web2, web1, ...
  ip netns exec gs1-client curl -s pop3://192.0.2.10/1 -u alice:secret    # "Hello from pop1"
  GSLBD_LAB_SITE=1 scripts/lab.sh kill-server pop1                        # site 1's POP3 dies...
  ip netns exec gs1-client curl -s pop3://192.0.2.10/1 -u alice:secret    # ...site 2 serves it via PIP 192.0.2.200
  scripts/lab.sh cut-wan                                                  # site 2 unreachable: refused
  scripts/lab.sh restore-wan; GSLBD_LAB_SITE=1 scripts/lab.sh start-server pop1
  for w in web1 web2; do GSLBD_LAB_SITE=1 scripts/lab.sh kill-server $w; done  # site 1's web dies...
  ip netns exec gs1-client curl -sL http://192.0.2.10/whoami               # ...302 to site 2: "site2-web1 198.51.100.7:..."
  target/release/gslbd ctl --addr 127.0.0.1:9181 status                   # site 1's view (site 2: :9182)
  curl -s http://127.0.0.1:9181/metrics | grep gslbd_remote_site
Ctrl-C stops both appliances and takes the lab down. Their logs follow.

MSG
tail -n +1 -f "$logs/site1.log" "$logs/site2.log" &
pids+=($!)
wait "${pids[0]}" "${pids[1]}"
