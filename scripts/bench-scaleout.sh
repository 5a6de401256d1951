#!/usr/bin/env bash
# Scale-out benchmark: the same `coffer bench` run against one node and against three
# nodes (one machine, one PostgreSQL database, one shared blob directory), the client
# spreading its requests round-robin over the nodes' endpoints. Builds the release
# binary and starts a private PostgreSQL cluster (scripts/pg-test-cluster.sh).
# Run it on a quiet machine; extra arguments go to `coffer bench`
# (e.g. --workloads put-small,get-small --runs 3).
set -euo pipefail
cd "$(dirname "$0")/.."
# COFFER_BIN: an already built binary (e.g. to smoke-test this script with a debug build).
if [ -z "${COFFER_BIN:-}" ]; then
  cargo build --release -q -p coffer
  COFFER_BIN=target/release/coffer
fi
BIN=$(realpath "$COFFER_BIN")
eval "$(scripts/pg-test-cluster.sh)"
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
python3 -c 'import secrets; print(secrets.token_hex(32))' >"$work/master.key"

# One cluster of $1 nodes on a fresh database; prints the comma-separated S3 endpoints.
cluster() {
  local n=$1 db="coffer_bench_$(date +%s%N)" endpoints=""
  psql -q "$COFFER_TEST_POSTGRES_URL" -c "CREATE DATABASE $db" >/dev/null
  local url=${COFFER_TEST_POSTGRES_URL%/*}/$db
  mkdir -p "$work/$db"
  for i in $(seq "$n"); do
    local s3 api
    s3=$(port); api=$(port)
    "$BIN" server --data-dir "$work/$db/node$i" --node-id "node$i" --metadata "$url" \
      --blob-dir "$work/$db/blobs" --master-key-file "$work/master.key" \
      --s3-listen 127.0.0.1:$s3 --api-listen 127.0.0.1:$api >"$work/$db/node$i.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$api/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
    if [ "$i" = 1 ]; then
      API1=$api
      T=$(cat "$work/$db/node1/bootstrap-token")
    fi
    endpoints+="${endpoints:+,}http://127.0.0.1:$s3"
  done
  curl -fsS -X POST "http://127.0.0.1:$API1/v1/cwobject/access-policy" -H "Authorization: Bearer $T" \
    -d '{"policy":{"version":"v1alpha1","name":"bench","statements":[{"name":"all","effect":"Allow","actions":["*"],"resources":["*"],"principals":["*"]}]}}' >/dev/null
  local key
  key=$(curl -fsS -X POST "http://127.0.0.1:$API1/v1/cwobject/access-key" -H "Authorization: Bearer $T" -d '{"durationSeconds":0}')
  export AWS_ACCESS_KEY_ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["accessKeyId"])' "$key")
  export AWS_SECRET_ACCESS_KEY=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secretKey"])' "$key")
  sleep 1 # the policy reaches every node's cache (change feed)
  ENDPOINTS=$endpoints
}

echo "machine: $(nproc) cores, load before run: $(cut -d' ' -f1-3 /proc/loadavg)"
for n in 1 3; do
  cluster "$n"
  echo "=== $n node(s): $ENDPOINTS"
  "$BIN" bench --endpoint "$ENDPOINTS" "$@"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null || true
  pids=()
done
