#!/usr/bin/env bash
# Installs the Debian 12 packages gslbd builds and tests with, if missing:
# DPDK 22.11 and libclang (for dpdk-sys), g++ (libFuzzer), and the real
# clients and servers of the namespace lab.
set -euo pipefail

packages=(
    dpdk dpdk-dev libdpdk-dev pkg-config libclang-dev clang g++
    iproute2 ethtool iptables iputils-ping curl tcpdump python3 dovecot-pop3d prometheus dnsutils
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing: ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
