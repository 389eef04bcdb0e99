#!/usr/bin/env bash
# Builds the `process` fuzz target with libFuzzer and SanitizerCoverage on the
# stable toolchain (no cargo-fuzz, no nightly) and runs it for FUZZ_SECONDS.
# Exits non-zero if the target crashes; the crashing input lands in
# fuzz/artifacts/process/.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
seconds="${FUZZ_SECONDS:-60}"
corpus="$here/corpus/process"
artifacts="$here/artifacts/process"

# An explicit --target keeps these flags off build scripts, which are linked
# without libFuzzer and would miss the coverage callbacks.
host="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="-Cpasses=sancov-module \
 -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
 -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares \
 --cfg fuzzing -Cdebug-assertions -Coverflow-checks"

cargo build --release --manifest-path "$here/Cargo.toml" --target "$host" --bin process
bin="$here/target/$host/release/process"

mkdir -p "$corpus" "$artifacts"
if [ -z "$(ls -A "$corpus")" ]; then
    GSLBD_FUZZ_WRITE_SEEDS="$corpus" "$bin"
fi

"$bin" "$corpus" \
    -max_total_time="$seconds" \
    -artifact_prefix="$artifacts/" \
    -print_final_stats=1 \
    "$@"
