#!/usr/bin/env bash
# Reproduces docs/benchmarks.md: builds the release binary, starts a server on a fresh
# temporary data directory (durable writes, fsync on), creates a key and an allow-all
# policy, runs `coffer bench --ceiling` (same client against the server and against an
# in-process null sink, same run), and prints the single-core MD5 rate of this machine
# (the ETag bound of a single-stream PUT) measured in the same run.
# Extra arguments go to `coffer bench` (e.g. --workloads put-large --runs 5).
# COFFER_BIN=/path/to/coffer skips the build and measures that binary (e.g. a build of
# the base commit, to compare before/after in one session).
# Audit-logging cost (docs/benchmarks.md, issue 6 target: audit on >= 85% of off):
#   scripts/bench.sh --workloads put-small --runs 5 --audit-compare
# adds the cases `put-small audit=off` and `put-small audit=on` (the bench bucket's
# logging is switched through the management API with the bootstrap admin token).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/server.sh
source scripts/lib/server.sh
start_server
allow_all_key
echo "machine: $(nproc) cores, load before run: $(cut -d' ' -f1-3 /proc/loadavg)"
if command -v openssl >/dev/null; then
  echo "single-core MD5 (openssl speed, 1 MiB blocks):"
  openssl speed -bytes 1048576 -seconds 3 md5 2>/dev/null | tail -1
fi
export COFFER_TOKEN_FILE="$work/data/bootstrap-token"
"$BIN" bench --endpoint "http://127.0.0.1:$S3" --api-endpoint "http://127.0.0.1:$API" \
  --server-pid "$pid" --ceiling "$@"
