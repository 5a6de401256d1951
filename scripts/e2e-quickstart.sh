#!/usr/bin/env bash
# Black-box run of the README quickstart: starts a real `coffer server`, sends the
# reference's curl examples verbatim (host and token changed), then drives aws-cli:
# mb / cp / ls / rm, a 100 MiB multipart upload and download compared by sha256, and a
# restart that must keep everything.
set -euo pipefail
cd "$(dirname "$0")/.."

COFFER=${COFFER_BIN:-target/debug/coffer}
[ -x "$COFFER" ] || cargo build -q -p coffer
COFFER=$(realpath "$COFFER")
command -v aws >/dev/null || { echo "aws-cli is not installed (pip install awscli)"; exit 1; }

work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
S3_PORT=$(free_port); API_PORT=$(free_port)
API="http://127.0.0.1:$API_PORT"
S3="http://127.0.0.1:$S3_PORT"

start_server() {
  "$COFFER" server --data-dir "$work/data" --s3-listen "127.0.0.1:$S3_PORT" \
    --api-listen "127.0.0.1:$API_PORT" >"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    curl -fsS "$API/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server did not become healthy"; cat "$work/server.log"; exit 1
}
stop_server() { kill "$server_pid"; wait "$server_pid" || true; server_pid=""; }

pass=0; fail=0
check() { # check NAME CMD...
  local name=$1; shift
  if "$@"; then pass=$((pass+1)); echo "ok   $name"; else fail=$((fail+1)); echo "FAIL $name"; fi
}

start_server
grep -q "bootstrap-token" "$work/server.log" || { echo "server did not say where the token is"; cat "$work/server.log"; exit 1; }
API_ACCESS_TOKEN=$(cat "$work/data/bootstrap-token")
cd "$work"

# --- The reference's CreateAccessKeyFromJWT example, verbatim (host and token changed).
cat > data.json <<'JSON'
{
"durationSeconds": 0
}
JSON
curl -X POST $API/v1/cwobject/access-key \
-H "Content-Type: application/json" \
-H "Authorization: Bearer $API_ACCESS_TOKEN" \
-d @data.json > key.json 2>/dev/null
check "access key created" python3 -c '
import json,sys; k=json.load(open("key.json"))
assert k["accessKeyID"].startswith("CW") and len(k["accessKeyID"])==16, k
assert k["accessKeyId"]==k["accessKeyID"]
assert k["secretKey"].startswith("cwo") and len(k["secretKey"])==43
assert k["expiry"]=="1970-01-01T00:00:00Z"
assert k["principalName"].startswith("coreweave/")'

# --- The reference's EnsureAccessPolicy example, verbatim.
cat > data.json <<'JSON'
{
"policy": {
"version": "v1alpha1",
"name": "test-policy",
"statements": [
{
"name": "allow-everything",
"effect": "Allow",
"actions": ["*"],
"resources": ["*"],
"principals": ["*"]
}
]
}
}
JSON
curl -X POST $API/v1/cwobject/access-policy \
-H "Content-Type: application/json" \
-H "Authorization: Bearer $API_ACCESS_TOKEN" \
-d @data.json > ensure.json 2>/dev/null
check "policy applied" python3 -c 'import json; assert json.load(open("ensure.json"))=={}'

curl -X GET $API/v1/cwobject/access-policy \
-H "Content-Type: application/json" \
-H "Authorization: Bearer $API_ACCESS_TOKEN" > policies.json 2>/dev/null
check "policy listed" python3 -c '
import json; p=json.load(open("policies.json"))["policies"]
assert [x["name"] for x in p]==["test-policy"], p'

export AWS_ACCESS_KEY_ID=$(python3 -c 'import json; print(json.load(open("key.json"))["accessKeyId"])')
export AWS_SECRET_ACCESS_KEY=$(python3 -c 'import json; print(json.load(open("key.json"))["secretKey"])')
export AWS_DEFAULT_REGION=US-EAST-04A
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN || true
aws_s3() { aws --endpoint-url "$S3" "$@"; }

check "mb" aws_s3 s3 mb s3://quickstart-bucket
echo "hello coffer" > hello.txt
check "cp small" aws_s3 s3 cp --only-show-errors hello.txt s3://quickstart-bucket/docs/hello.txt
check "ls" bash -c "aws --endpoint-url $S3 s3 ls s3://quickstart-bucket/docs/ | grep -q hello.txt"
check "ls buckets" bash -c "aws --endpoint-url $S3 s3 ls | grep -q quickstart-bucket"
head -c $((100*1024*1024)) /dev/urandom > big.bin
check "cp 100 MiB (multipart)" aws_s3 s3 cp --only-show-errors big.bin s3://quickstart-bucket/big.bin
check "multipart ETag" bash -c "aws --endpoint-url $S3 s3api head-object --bucket quickstart-bucket --key big.bin | grep -q 'ETag.*-[0-9]'"
check "download 100 MiB" aws_s3 s3 cp --only-show-errors s3://quickstart-bucket/big.bin big.out
check "sha256 equal" test "$(sha256sum < big.bin)" = "$(sha256sum < big.out)"
check "copy" aws_s3 s3 cp --only-show-errors s3://quickstart-bucket/docs/hello.txt s3://quickstart-bucket/docs/copy.txt
check "rb non-empty refused" bash -c "! aws --endpoint-url $S3 s3 rb s3://quickstart-bucket 2>/dev/null"

# --- Restart keeps everything.
stop_server
start_server
check "object survives restart" bash -c "aws --endpoint-url $S3 s3 cp s3://quickstart-bucket/docs/hello.txt - | grep -q 'hello coffer'"
check "big object survives restart" bash -c "aws --endpoint-url $S3 s3 cp s3://quickstart-bucket/big.bin - | sha256sum | grep -q \"$(sha256sum < big.bin | cut -d' ' -f1)\""

check "rm" aws_s3 s3 rm --only-show-errors --recursive s3://quickstart-bucket
check "rb" aws_s3 s3 rb s3://quickstart-bucket
check "bad secret refused" bash -c "! AWS_SECRET_ACCESS_KEY=cwo0000000000000000000000000000000000000000 aws --endpoint-url $S3 s3 ls 2>/dev/null"

echo "e2e-quickstart: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
