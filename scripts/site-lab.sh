#!/usr/bin/env bash
# The appliance's main job on one machine: installs what is missing, reserves
# hugepages, builds the namespace lab of site 1 (a client, two web servers,
# a POP3 server), and runs gslbd on DPDK in front of them until Ctrl-C.
# Then it takes the lab down again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "site-lab: run as root (hugepages, network namespaces, DPDK): sudo $0" >&2
    exit 1
fi
scripts/install-deps.sh
scripts/hugepages.sh 512 >/dev/null
cargo build --release -q -p gslbd
trap 'scripts/lab.sh down >/dev/null 2>&1 || true' EXIT
scripts/lab.sh up >/dev/null

cat <<'MSG'
gslbd site lab: VIP 192.0.2.10 (HTTP :80 -> web1, web2; POP3 :110 -> pop1).
From another terminal:
  ip netns exec gs1-client curl -s http://192.0.2.10/                       # web1, web2, web1, ...
  ip netns exec gs1-client curl -s pop3://192.0.2.10/1 -u alice:secret     # a message from pop1
  ip netns exec gs1-client ping -c 3 192.0.2.10                            # answered by the data path
  ip netns exec gs1-client ping -c 3 198.51.100.1                          # the appliance's own address
  scripts/lab.sh stop-server web1    # then mark it down in the config and: pkill -HUP -f 'gslbd run'
Ctrl-C stops gslbd and takes the lab down.

MSG
target/release/gslbd run --config examples/site1.toml
