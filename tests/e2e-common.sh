# Shared by the end-to-end tests (sourced, not run): the preconditions, the
# ok/FAIL bookkeeping, a clock and the two-site set-up. The caller sets NAME
# and PAGES (hugepages it needs free) first.
# shellcheck shell=bash
# shellcheck disable=SC2034  # bin, work: used by the scripts that source this

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

# two_sites: builds gslbd, brings up both sites' labs and the router between
# them, starts site 1's and site 2's appliances (examples/site*.toml, logs in
# $work/site1.log and site2.log) and takes it all down again on exit. Sets
# $bin, $work and $pids (add background processes to it to have them killed).
two_sites() {
    cargo build --release -q -p gslbd || exit 1
    bin=target/release/gslbd
    work="$(mktemp -d)"
    pids=()
    trap two_sites_down EXIT
    { GSLBD_LAB_SITE=1 scripts/lab.sh up && GSLBD_LAB_SITE=2 scripts/lab.sh up && scripts/lab.sh up-wan; } \
        >"$work/lab.log" 2>&1 || { cat "$work/lab.log"; exit 1; }
    # From copies, which a test may edit and reload (SIGHUP).
    cp examples/site1.toml examples/site2.toml "$work/"
    start_appliance "$work/site1.toml" "$work/site1.log" || exit 1
    pids+=("$appliance")
    start_appliance "$work/site2.toml" "$work/site2.log" || exit 1
    pids+=("$appliance")
}

two_sites_down() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    scripts/lab.sh down-wan >/dev/null 2>&1
    GSLBD_LAB_SITE=2 scripts/lab.sh down >/dev/null 2>&1
    GSLBD_LAB_SITE=1 scripts/lab.sh down >/dev/null 2>&1
    # The appliances' own namespaces (gs1-appl, gs2-appl) are left for the
    # next run to reuse: one deleted a moment ago may still be going away.
    rm -rf "$work"
}
