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
# shellcheck source=scripts/lib/server.sh
source scripts/lib/server.sh
start_server
allow_all_key
for size in 4KiB 132KiB; do
  "$BIN" bench --endpoint "http://127.0.0.1:$S3" --workloads put-small --runs 1 \
    --ops "$OPS" --small-size "$size" 2>/dev/null | grep -E '^put-small  [0-9]+ KiB'
done
echo "blob files: $(find "$work/data/blobs" -type f | wc -l); data directory: $(du -sh "$work/data" | cut -f1)"
for sig in TERM KILL; do
  kill -$sig $pid; wait $pid 2>/dev/null || true
  t0=$(date +%s.%N)
  start_server
  t1=$(date +%s.%N)
  echo "restart after SIG$sig: $(python3 -c "print(round($t1 - $t0, 2))") s until /healthz answers"
done
