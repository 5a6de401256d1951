#!/usr/bin/env bash
# Browser end-to-end test of the web console: starts a real `coffer server` (debug
# binary, temporary data directory, free ports, audit flushed every second), then runs
# tests/console/e2e.test.mjs (node --test) which drives Debian `chromium` headless
# through playwright-core. COFFER_SCREENSHOTS=1 also refreshes docs/console/*.png.
#
# chromium missing fails the run, unless COFFER_ALLOW_SKIP=1 (then it is skipped with a
# message). `bash .ci/run` installs chromium and runs `npm ci` in tests/console.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [ -z "$CHROMIUM" ]; then
  if [ "${COFFER_ALLOW_SKIP:-}" = 1 ]; then
    echo "SKIP console e2e: chromium is not installed (apt-get install chromium)"; exit 0
  fi
  echo "console e2e: chromium is not installed (apt-get install chromium, or set CHROMIUM)"; exit 1
fi
command -v node >/dev/null || { echo "console e2e: node is not installed"; exit 1; }
if [ ! -d tests/console/node_modules/playwright-core ]; then
  (cd tests/console && npm ci --no-audit --no-fund)
fi

COFFER=${COFFER_BIN:-target/debug/coffer}
[ -x "$COFFER" ] || cargo build -q -p coffer
COFFER=$(realpath "$COFFER")

work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
S3_PORT=$(free_port); API_PORT=$(free_port)
export COFFER_API="http://127.0.0.1:$API_PORT" COFFER_S3="http://127.0.0.1:$S3_PORT"

"$COFFER" server --data-dir "$work/data" --s3-listen "127.0.0.1:$S3_PORT" \
  --api-listen "127.0.0.1:$API_PORT" --audit-flush-secs 1 >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "$COFFER_API/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$COFFER_API/healthz" >/dev/null || { echo "server did not become healthy"; cat "$work/server.log"; exit 1; }
COFFER_TOKEN=$(cat "$work/data/bootstrap-token")
export COFFER_TOKEN CHROMIUM

if [ "${COFFER_SCREENSHOTS:-}" = 1 ]; then
  mkdir -p "$root/docs/console"
  export COFFER_SCREENSHOTS="$root/docs/console"
else
  unset COFFER_SCREENSHOTS
fi

status=0
(cd tests/console && node --test --test-reporter=spec e2e.test.mjs) || status=$?
if [ "$status" -ne 0 ]; then
  echo "---- server log (tail)"; tail -n 50 "$work/server.log"
fi
exit "$status"
