#!/usr/bin/env bash
# Fuzzes one target (or every target, one after the other) with cargo-fuzz/libFuzzer.
#   scripts/fuzz.sh [target|all] [seconds]     default: all, 600 s each
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`); without
# them it says so and exits 0, because fuzzing is a local activity: CI replays the
# committed corpora on stable instead (crates/fuzzing/tests/corpus_replay.rs).
# New corpus entries land in fuzz/corpus/<target>/; minimize before committing:
#   (cd fuzz && cargo +nightly fuzz cmin <target>)
# A failing input is written to fuzz/artifacts/<target>/; once fixed, copy it to
# fuzz/regressions/<target>/ so the replay test keeps it fixed.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

target="${1:-all}"
seconds="${2:-600}"

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz.sh: SKIPPED: no nightly toolchain (rustup toolchain install nightly)" >&2
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: SKIPPED: cargo-fuzz is not installed (cargo install cargo-fuzz --locked)" >&2
  exit 0
fi

if [ "$target" = all ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
else
  targets=("$target")
fi
for t in "${targets[@]}"; do
  echo "== $t: ${seconds}s"
  mkdir -p "corpus/$t"
  # -rss_limit_mb bounds memory; -timeout turns a hang (> 10 s per input) into a failure.
  nice -n 19 cargo +nightly fuzz run "$t" "corpus/$t" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
done
