# Shared by the end-to-end tests (sourced, not run): the preconditions, the
# ok/FAIL bookkeeping and a clock. The caller sets NAME and PAGES (hugepages
# it needs free) first.
# shellcheck shell=bash

if [ "$(id -u)" -ne 0 ]; then
    echo "$NAME: SKIPPED — needs root (network namespaces, DPDK)" >&2
    exit 0
fi
if [ "$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)" -lt "$PAGES" ] || ! mountpoint -q /dev/hugepages; then
    echo "$NAME: FAILED — fewer than $PAGES free hugepages: run scripts/hugepages.sh first" >&2
    exit 1
fi

passed=0
failed=0
ok() { echo "$NAME: ok   $*"; passed=$((passed + 1)); }
bad() { echo "$NAME: FAIL $*"; failed=$((failed + 1)); }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# shellcheck source=scripts/appliance.sh
. scripts/appliance.sh
