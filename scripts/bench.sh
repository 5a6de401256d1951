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
if [ -n "${COFFER_BIN:-}" ]; then
  BIN=$(realpath "$COFFER_BIN")
else
  cargo build --release -q -p coffer
  BIN=$(realpath target/release/coffer)
fi
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
S3=$(port); API=$(port)
"$BIN" server --data-dir "$work/data" --s3-listen 127.0.0.1:$S3 --api-listen 127.0.0.1:$API >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$API/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
T=$(cat "$work/data/bootstrap-token")
curl -fsS -X POST "http://127.0.0.1:$API/v1/cwobject/access-policy" -H "Authorization: Bearer $T" \
  -d '{"policy":{"version":"v1alpha1","name":"bench","statements":[{"name":"all","effect":"Allow","actions":["*"],"resources":["*"],"principals":["*"]}]}}' >/dev/null
key=$(curl -fsS -X POST "http://127.0.0.1:$API/v1/cwobject/access-key" -H "Authorization: Bearer $T" -d '{"durationSeconds":0}')
export AWS_ACCESS_KEY_ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["accessKeyId"])' "$key")
export AWS_SECRET_ACCESS_KEY=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secretKey"])' "$key")
echo "machine: $(nproc) cores, load before run: $(cut -d' ' -f1-3 /proc/loadavg)"
if command -v openssl >/dev/null; then
  echo "single-core MD5 (openssl speed, 1 MiB blocks):"
  openssl speed -bytes 1048576 -seconds 3 md5 2>/dev/null | tail -1
fi
export COFFER_TOKEN_FILE="$work/data/bootstrap-token"
"$BIN" bench --endpoint "http://127.0.0.1:$S3" --api-endpoint "http://127.0.0.1:$API" \
  --server-pid "$pid" --ceiling "$@"
