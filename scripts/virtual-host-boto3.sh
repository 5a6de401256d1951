#!/usr/bin/env bash
# Virtual-hosted-style addressing end to end (docs/virtual-hosting.md): starts a real
# `coffer server` with the virtual-host domain s3.coffer.test, creates an allow-all key,
# and runs scripts/virtual-host-boto3.py: boto3 with addressing_style "virtual" against
# http://s3.coffer.test:<port> (names under s3.coffer.test resolve to 127.0.0.1 inside
# that Python process only; no DNS or /etc/hosts change), path style on the same server,
# and a host naming a missing bucket.
#   scripts/virtual-host-boto3.sh                               # target/debug/coffer if built
#   COFFER_BIN=/path/to/coffer scripts/virtual-host-boto3.sh
# Needs python3 with boto3 (scripts/test-env.sh installs it) and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${COFFER_BIN:-}" ] && [ -x target/debug/coffer ]; then
  COFFER_BIN=target/debug/coffer
fi
# shellcheck source=scripts/lib/server.sh
source scripts/lib/server.sh # no COFFER_BIN: builds release

# The same setting as `--domain s3.coffer.test` (start_server passes no extra flags).
export COFFER_DOMAIN=s3.coffer.test
start_server
allow_all_key
if ! python3 scripts/virtual-host-boto3.py "$S3" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"; then
  echo "--- server log ($work/log, last 40 lines)" >&2
  tail -n 40 "$work/log" >&2
  exit 1
fi
echo "virtual-host-boto3: ok"
