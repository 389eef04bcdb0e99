#!/usr/bin/env bash
# Reserves 2 MiB hugepages and mounts hugetlbfs, then reports what is there.
#   scripts/hugepages.sh [PAGES]     reserve PAGES (default 512 = 1 GiB) and mount
#   scripts/hugepages.sh --report    only report
# EAL fails with "no mounted hugetlbfs found" without the mount, and with
# "Cannot get hugepage information" without pages; `--in-memory` still needs both.
set -euo pipefail

pages="${1:-512}"
sys=/sys/kernel/mm/hugepages/hugepages-2048kB
mnt=/dev/hugepages

report() {
    echo "hugepages (2 MiB): total $(cat $sys/nr_hugepages), free $(cat $sys/free_hugepages)"
    if mountpoint -q "$mnt"; then
        echo "hugetlbfs mounted at $mnt; files there: $(find "$mnt" -maxdepth 1 -type f | wc -l)"
    else
        echo "hugetlbfs is NOT mounted at $mnt"
    fi
}

if [ "$pages" = "--report" ]; then
    report
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "hugepages.sh: must run as root" >&2
    exit 1
fi
current="$(cat $sys/nr_hugepages)"
if [ "$current" -lt "$pages" ]; then
    echo "$pages" > $sys/nr_hugepages
fi
got="$(cat $sys/nr_hugepages)"
if [ "$got" -lt "$pages" ]; then
    echo "hugepages.sh: asked for $pages hugepages, the kernel gave $got (memory too fragmented?)" >&2
fi
mkdir -p "$mnt"
mountpoint -q "$mnt" || mount -t hugetlbfs nodev "$mnt"
report
