#!/usr/bin/env bash
# Start-up time against store size (docs/reliability.md, soak section): fills a fresh
# data directory with OPS 4 KiB objects (inline) and OPS 132 KiB objects (one blob
# each) through `coffer bench`, then restarts the server after SIGTERM and after
# SIGKILL and prints the seconds until /healthz answers (orphan sweep and SQLite
# recovery included). Needs ~OPS x 140 KB of free disk under TMPDIR.
#   scripts/startup-time.sh            # OPS=100000
#   COFFER_BIN=/path/to/coffer OPS=20000 scripts/startup-time.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OPS=${OPS:-100000}
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
serve() {
  "$BIN" server --data-dir "$work/data" --s3-listen 127.0.0.1:$S3 --api-listen 127.0.0.1:$API \
    >>"$work/log" 2>&1 &
  pid=$!
  for _ in $(seq 12000); do
    curl -fs "http://127.0.0.1:$API/healthz" >/dev/null 2>&1 && return 0
    sleep 0.01
  done
  echo "the server did not become healthy" >&2; exit 1
}
serve
T=$(cat "$work/data/bootstrap-token")
curl -fsS -X POST "http://127.0.0.1:$API/v1/cwobject/access-policy" -H "Authorization: Bearer $T" \
  -d '{"policy":{"version":"v1alpha1","name":"bench","statements":[{"name":"all","effect":"Allow","actions":["*"],"resources":["*"],"principals":["*"]}]}}' >/dev/null
key=$(curl -fsS -X POST "http://127.0.0.1:$API/v1/cwobject/access-key" -H "Authorization: Bearer $T" -d '{"durationSeconds":0}')
export AWS_ACCESS_KEY_ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["accessKeyId"])' "$key")
export AWS_SECRET_ACCESS_KEY=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secretKey"])' "$key")
for size in 4KiB 132KiB; do
  "$BIN" bench --endpoint "http://127.0.0.1:$S3" --workloads put-small --runs 1 \
    --ops "$OPS" --small-size "$size" 2>/dev/null | grep -E '^put-small  [0-9]+ KiB'
done
echo "blob files: $(find "$work/data/blobs" -type f | wc -l); data directory: $(du -sh "$work/data" | cut -f1)"
for sig in TERM KILL; do
  kill -$sig $pid; wait $pid 2>/dev/null || true
  t0=$(date +%s.%N)
  serve
  t1=$(date +%s.%N)
  echo "restart after SIG$sig: $(python3 -c "print(round($t1 - $t0, 2))") s until /healthz answers"
done
