#!/usr/bin/env bash
# Short fuzzing run of every decoder target, seeded with the fixture accounts.
# Usage: engine/fuzz/run.sh [seconds per target, default 30]
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP lets the stable toolchain pass them.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-30}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
for target in $(cargo fuzz list --fuzz-dir fuzz); do
  mkdir -p "fuzz/corpus/$target"
  cp -n fuzz/seeds/"$target"/* "fuzz/corpus/$target/" 2>/dev/null || true
  RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$secs" -print_final_stats=1 2>&1 |
    grep -E 'stat::number_of_executed_units|stat::new_units_added|INITED|DONE|ERROR|panicked' |
    sed "s/^/$target: /"
done
