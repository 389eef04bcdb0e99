#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, a bounded fuzzing run
# of the data path, the end-to-end tests on DPDK in network namespaces and over
# net_memif (root and hugepages: see scripts/hugepages.sh), the same two sites
# in containers (Docker: tests/e2e-docker.sh), and every unit and integration
# test.
#   FUZZ_SECONDS  how long the fuzzer runs (default 60)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "== cargo fmt"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --manifest-path fuzz/Cargo.toml -- -D warnings
echo "== fuzz: the data path on arbitrary bytes for ${FUZZ_SECONDS:-60} s"
log="$(mktemp)"
if ! FUZZ_SECONDS="${FUZZ_SECONDS:-60}" fuzz/run.sh >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzzing found a crash: see fuzz/artifacts/process/" >&2
    exit 1
fi
grep -E "DONE|stat::number_of_executed_units|stat::average_exec_per_sec" "$log" || tail -n 5 "$log"
rm -f "$log"
log="$(mktemp)"
echo "== end to end on DPDK, in network namespaces: one site"
tests/e2e-site.sh 2>&1 | tee "$log"
echo "== end to end: the GSLB chapter's two sites"
tests/e2e-seed.sh 2>&1 | tee -a "$log"
echo "== end to end: the GSLB's authoritative DNS, two sites"
tests/e2e-dns.sh 2>&1 | tee -a "$log"
echo "== end to end over net_memif: gslbd against the project's generator (UDP, proxied both ways, whole TCP connections, local and proxied)"
tests/e2e-memif.sh 2>&1 | tee -a "$log"
echo "== end to end in containers: the images, the two sites in Docker (skipped without a Docker engine)"
tests/e2e-docker.sh 2>&1 | tee -a "$log"
echo "== cargo test"
cargo test --workspace 2>&1 | tee -a "$log"
# One closing line for the whole run: cargo prints a result line per test
# binary, the last of which (doc tests) is often empty.
awk '/^test result:/ { p += $4; f += $6 } /^e2e-[a-z]+: [0-9]+ passed/ { p += $2; f += $4 }
     END { printf "tests: %d passed, %d failed\n", p, f }' <(sed 's/[;,]//g' "$log")
rm -f "$log"
