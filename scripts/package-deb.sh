#!/usr/bin/env bash
# Builds the Debian package: the `dist` binary (stripped, thin LTO), its man pages and
# shell completions generated from the clap definitions, then cargo-deb
# (crates/coffer/Cargo.toml [package.metadata.deb], packaging/debian/). Prints the
# path of the .deb on its last line. Needs cargo-deb (scripts/test-env.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-deb >/dev/null || { echo "cargo-deb is not installed (scripts/test-env.sh)" >&2; exit 1; }
cargo build --locked --quiet --profile dist -p coffer
target_dir=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin="$target_dir/dist/coffer"
gen=packaging/debian/generated
rm -rf "$gen"
mkdir -p "$gen/man" "$gen/completions"
"$bin" man --out-dir "$gen/man"
"$bin" completions bash >"$gen/completions/coffer.bash"
"$bin" completions zsh >"$gen/completions/_coffer"
"$bin" completions fish >"$gen/completions/coffer.fish"
mkdir -p "$target_dir/debian"
# --no-strip: the dist profile already dropped the debug info and keeps the symbols
# that name functions in a backtrace (cargo-deb would strip those too).
cargo deb --locked --no-build --no-strip -p coffer --profile dist --output "$target_dir/debian/" >&2
ls -t "$target_dir"/debian/coffer_*.deb | head -1
