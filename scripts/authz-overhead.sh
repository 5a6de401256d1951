#!/usr/bin/env bash
# Authorization overhead end to end (docs/benchmarks.md, "Authorization overhead"):
# `coffer bench` 4 KiB GETs against a fresh server whose org holds
#   allow-all   one policy allowing everything to everyone, or
#   policy-set  the 1,000-policy × 10-statement set of the decision benchmark
#               (crates/core/benches/common/mod.rs, written by the `gen-policies`
#               example), in which one statement in the middle grants the bench user
#               (the bootstrap admin) s3:* on *.
# Each mode gets its own server and data directory; the same key, bucket and workload.
#
# Usage: scripts/authz-overhead.sh [allow-all|policy-set|both]    (default: both)
# Env:   COUNT=1000 policies, RUNS=3, DURATION=10s, WORKERS=16,
#        COFFER_BIN=target/release/coffer (built if missing), KEEP=1 keeps the data dirs,
#        TASKSET="taskset -c 0" runs the server pinned (the bench client then gets the
#        other core: BENCH_TASKSET="taskset -c 1").
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-both}
case "$MODE" in allow-all|policy-set|both) ;; *) echo "usage: $0 [allow-all|policy-set|both]"; exit 2;; esac
COUNT=${COUNT:-1000}
RUNS=${RUNS:-3}
DURATION=${DURATION:-10s}
WORKERS=${WORKERS:-16}
TASKSET=${TASKSET:-}
BENCH_TASKSET=${BENCH_TASKSET:-}
for tool in curl jq python3; do
  command -v "$tool" >/dev/null || { echo "$tool is required"; exit 1; }
done

COFFER=${COFFER_BIN:-target/release/coffer}
[ -x "$COFFER" ] || cargo build --release -q -p coffer
COFFER=$(realpath "$COFFER")
cargo build --release -q -p coffer-core --example gen-policies
GEN=$(realpath target/release/examples/gen-policies)

work=""
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true; fi
  if [ -n "$work" ] && [ -z "${KEEP:-}" ]; then rm -rf "$work"; fi
  server_pid=""
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# api METHOD PATH [curl args…]: management API call with the admin token; fails on non-2xx.
api() {
  local method=$1 path=$2; shift 2
  curl -fsS -X "$method" "$API$path" -H "Authorization: Bearer $TOKEN" "$@"
}

run_mode() {
  local mode=$1
  work=$(mktemp -d /tmp/coffer-authz-XXXXXX)
  local s3_port api_port
  s3_port=$(free_port); api_port=$(free_port)
  API="http://127.0.0.1:$api_port"
  # shellcheck disable=SC2086 # TASKSET is a command prefix
  $TASKSET "$COFFER" server --data-dir "$work/data" --s3-listen "127.0.0.1:$s3_port" \
    --api-listen "127.0.0.1:$api_port" >"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    curl -fsS "$API/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS "$API/healthz" >/dev/null || { echo "server did not become healthy"; cat "$work/server.log"; exit 1; }
  TOKEN=$(cat "$work/data/bootstrap-token")
  local uid
  uid=$(api GET /v1/iam/whoami | jq -r .uid)

  local started=$SECONDS
  if [ "$mode" = allow-all ]; then
    api POST /v1/cwobject/access-policy -H 'Content-Type: application/json' -d '{"policy":
      {"version":"v1alpha1","name":"allow-all","statements":[{"name":"all","effect":"Allow",
       "actions":["*"],"resources":["*"],"principals":["*"]}]}}' >/dev/null
  else
    "$GEN" --count "$COUNT" --grant "coreweave/$uid" --out "$work/policies"
    for f in "$work"/policies/*.json; do
      api POST /v1/cwobject/access-policy -H 'Content-Type: application/json' \
        --data-binary "@$f" >/dev/null
    done
  fi
  local policies statements
  policies=$(api GET /v1/cwobject/access-policy | jq '.policies | length')
  statements=$(api GET /v1/cwobject/access-policy | jq '[.policies[].statements | length] | add')
  echo "== $mode: $policies policies, $statements statements applied in $((SECONDS - started)) s"

  # The decision the S3 gateway will make for every GET, as AuthCanI explains it.
  api POST /v1/cwobject/auth/can-i -H 'Content-Type: application/json' \
    -d '{"actions":["s3:GetObject"],"resources":["coffer-bench/x"]}' | jq -c '.decisions[0]'

  local key ak sk
  key=$(api POST /v1/cwobject/access-key -H 'Content-Type: application/json' -d '{"durationSeconds":0}')
  ak=$(jq -r .accessKeyId <<<"$key")
  sk=$(jq -r .secretKey <<<"$key")
  # shellcheck disable=SC2086 # BENCH_TASKSET is a command prefix
  $BENCH_TASKSET "$COFFER" bench --endpoint "http://127.0.0.1:$s3_port" \
    --access-key "$ak" --secret-key "$sk" --workloads get-small --small-size 4KiB \
    --workers "$WORKERS" --duration "$DURATION" --runs "$RUNS" --server-pid "$server_pid"
  [ -n "${KEEP:-}" ] && echo "kept $work"
  cleanup
}

if [ "$MODE" = both ]; then
  run_mode allow-all
  run_mode policy-set
else
  run_mode "$MODE"
fi
