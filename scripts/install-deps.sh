#!/usr/bin/env bash
# Installs the Debian 12 packages gslbd builds and tests with, if missing:
# DPDK 22.11 and libclang (for dpdk-sys), g++ (libFuzzer), the real
# clients and servers of the namespace lab, and for the container images
# debootstrap (docker/base-image.sh) and, where Docker is installed,
# docker-compose (docker/lab.sh).
set -euo pipefail

packages=(
    dpdk dpdk-dev libdpdk-dev pkg-config libclang-dev clang g++
    iproute2 ethtool iptables iputils-ping curl tcpdump python3 dovecot-pop3d prometheus dnsutils
    debootstrap
)
if command -v docker >/dev/null 2>&1 && ! docker compose version >/dev/null 2>&1; then
    packages+=(docker-compose)
fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing: ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
