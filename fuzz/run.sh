#!/usr/bin/env bash
# Runs libFuzzer on every fuzz target (or those named), each for FUZZ_SECONDS (60 by default),
# from its seeds (fuzz/seeds/<target>/, read only) and its growing corpus (fuzz/corpus/<target>/),
# and prints one line per target: executions, corpus size, findings. Needs cargo-fuzz and the
# nightly toolchain (`cargo install cargo-fuzz`, `rustup toolchain install nightly`).
#
#   fuzz/run.sh                                # every target, 60 s each
#   FUZZ_SECONDS=3600 fuzz/run.sh fhir_bundle   # one target for an hour
#   FUZZ_SANITIZER=address fuzz/run.sh         # with AddressSanitizer (default: none)
#
# A crash or hang is kept in fuzz/artifacts/<target>/; replay it with
# `cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>`, and it runs under
# `cargo test` once copied into fuzz/seeds/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${FUZZ_SECONDS:-60}
sanitizer=${FUZZ_SANITIZER:-none}
# The same versions as the workspace: start from its lock file.
[ -f Cargo.lock ] || cp ../Cargo.lock Cargo.lock
if [ $# -gt 0 ]; then
    targets=("$@")
else
    targets=()
    for file in fuzz_targets/*.rs; do
        targets+=("$(basename "$file" .rs)")
    done
fi
if [ $# -gt 0 ]; then
    for target in "${targets[@]}"; do
        cargo +nightly fuzz build --sanitizer "$sanitizer" --debug-assertions "$target"
    done
else
    cargo +nightly fuzz build --sanitizer "$sanitizer" --debug-assertions
fi
status=0
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "artifacts/$target" logs
    log=logs/$target.log
    if cargo +nightly fuzz run --sanitizer "$sanitizer" --debug-assertions "$target" \
        "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 >"$log" 2>&1; then
        outcome="no findings"
    else
        outcome="FINDING (see $log and artifacts/$target/)"
        status=1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    corpus=$(find "corpus/$target" -type f | wc -l)
    echo "$target: ${runs:-?} executions in ${seconds} s, corpus $corpus, $outcome"
done
exit $status
