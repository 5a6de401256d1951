#!/usr/bin/env bash
# HTTP/2 over TLS end to end. With --tls-cert/--tls-key Coffer offers ALPN h2, and an
# HTTP/2 request names its host in `:authority` instead of a `Host` header. Everything
# that reads the host (the SigV4 signed `host`, the region, virtual-hosted buckets, CORS,
# form uploads) must see it all the same. This script starts a real
# `coffer server --domain s3.coffer.test` with a throwaway CA and server certificate
# (made with openssl in the work directory), creates an allow-all key, and checks over
# `curl --http2` (each response must really be HTTP/2):
#   a. SigV4 with region US-EAST-04A: CreateBucket (path style), PUT and GET an object
#      (bytes compared), and a virtual-hosted GET;
#   b. a CORS preflight (OPTIONS) to the virtual-hosted bucket answers 200 with
#      access-control-allow-origin (the CORS rule is put with aws-cli over HTTPS);
#   c. a boto3 generate_presigned_post form (virtual-hosted bucket) POSTed with
#      curl -F answers 204 and the object exists afterwards.
# Every check runs; each is reported PASS or FAIL, and the script exits 1 if any failed.
# Names under s3.coffer.test reach 127.0.0.1 through curl --connect-to and a resolver
# wrapper inside Python (no DNS or /etc/hosts change). Keys are never printed.
#   scripts/http2-tls.sh                               # target/debug/coffer if built
#   COFFER_BIN=/path/to/coffer scripts/http2-tls.sh
# Needs openssl, curl with HTTP/2 and --aws-sigv4 (7.75+), aws-cli and python3 with boto3
# (scripts/test-env.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${COFFER_BIN:-}" ] && [ -x target/debug/coffer ]; then
  COFFER_BIN=target/debug/coffer
fi
for tool in openssl curl aws python3; do
  command -v "$tool" >/dev/null || { echo "http2-tls: $tool is not installed" >&2; exit 2; }
done
curl --version | grep -qw HTTP2 || { echo "http2-tls: this curl has no HTTP/2 support" >&2; exit 2; }
python3 -c 'import boto3' 2>/dev/null || { echo "http2-tls: boto3 is not installed (scripts/test-env.sh)" >&2; exit 2; }
# Sets BIN, work (removed on exit together with the server whose id is in $pid), S3, API.
# shellcheck source=scripts/lib/server.sh
source scripts/lib/server.sh # no COFFER_BIN: builds release

DOMAIN=s3.coffer.test
REGION=US-EAST-04A
BUCKET=h2-bucket        # made over HTTP/1.1 (aws-cli) for checks b and c
SIGV4_BUCKET=h2-sigv4   # made over HTTP/2 by check a
ORIGIN=https://app.example.test
EMPTY_SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

# --- A throwaway CA and a server certificate for s3.coffer.test, *.s3.coffer.test and
# 127.0.0.1; keys readable by their owner only.
tls=$work/tls
mkdir -p "$tls"
(
  umask 077
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=coffer http2-tls test CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$DOMAIN" \
    -keyout "$tls/tls.key" -out "$tls/tls.csr" 2>/dev/null
  cat >"$tls/ext.cnf" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:$DOMAIN,DNS:*.$DOMAIN,IP:127.0.0.1
authorityKeyIdentifier=keyid
subjectKeyIdentifier=hash
EOF
  openssl x509 -req -in "$tls/tls.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" \
    -CAcreateserial -days 2 -extfile "$tls/ext.cnf" -out "$tls/tls.crt" 2>/dev/null
)
chmod 600 "$tls/ca.key" "$tls/tls.key"
CA=$tls/ca.crt

# --- The server, over HTTPS on both listeners; its id in $pid for the lib's exit trap.
"$BIN" server --data-dir "$work/data" --s3-listen "127.0.0.1:$S3" --api-listen "127.0.0.1:$API" \
  --domain "$DOMAIN" --tls-cert "$tls/tls.crt" --tls-key "$tls/tls.key" >>"$work/log" 2>&1 &
pid=$!
healthy=""
for _ in $(seq 1200); do
  if curl -fs --cacert "$CA" "https://127.0.0.1:$API/healthz" >/dev/null 2>&1; then healthy=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$healthy" ]; then
  echo "http2-tls: the server did not answer https://127.0.0.1:$API/healthz within 120 s" >&2
  tail -n 40 "$work/log" >&2
  exit 1
fi

# --- An allow-all org policy and an access key (scripts/lib/server.sh's allow_all_key,
# over HTTPS). The key goes into the environment only.
token=$(cat "$work/data/bootstrap-token")
curl -fsS --cacert "$CA" -X POST "https://127.0.0.1:$API/v1/cwobject/access-policy" \
  -H "Authorization: Bearer $token" \
  -d '{"policy":{"version":"v1alpha1","name":"http2-tls","statements":[{"name":"all","effect":"Allow","actions":["*"],"resources":["*"],"principals":["*"]}]}}' >/dev/null
key=$(curl -fsS --cacert "$CA" -X POST "https://127.0.0.1:$API/v1/cwobject/access-key" \
  -H "Authorization: Bearer $token" -d '{"durationSeconds":0}')
AWS_ACCESS_KEY_ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["accessKeyId"])' "$key")
AWS_SECRET_ACCESS_KEY=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secretKey"])' "$key")
unset key token
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
export AWS_DEFAULT_REGION=$REGION AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

# aws-cli (HTTP/1.1) for the setup and the after-the-fact checks; path style on 127.0.0.1.
awss3() { aws --endpoint-url "https://127.0.0.1:$S3" --ca-bundle "$CA" "$@"; }

# The curl user:password for --aws-sigv4 goes through a config file, so that the secret
# is in no command line.
(
  umask 077
  creds="$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"
  creds=${creds//\\/\\\\}
  printf 'user = "%s"\n' "${creds//\"/\\\"}" >"$work/curl-creds"
)

# h2 NAME URL CURL-ARGS... — one HTTP/2 request through curl. Headers go to
# $work/NAME.head, the body to $work/NAME.body; sets `status` (the status line) and
# `code`. Returns 1 (with a message) when the response is not HTTP/2.
h2() {
  local name=$1 url=$2 out
  shift 2
  out=$(curl -sS --http2 --cacert "$CA" --connect-to "::127.0.0.1:$S3" \
    -D "$work/$name.head" -o "$work/$name.body" -w '%{http_version} %{http_code}' "$@" "$url" 2>"$work/$name.err") || {
    local rc=$? hint=""
    status=$(head -n 1 "$work/$name.head" 2>/dev/null | sed 's/[[:space:]]*$//')
    # The server answered before reading the whole body (a refusal) and reset the
    # stream while curl was still sending it; curl before 8.x then drops the answer.
    [ "$rc" = 92 ] && hint="; the server reset the stream before the upload was sent, i.e. it refused the request without reading its body"
    echo "    $name: curl could not complete the request to $url ($(tail -n 1 "$work/$name.err"))${status:+; the response began: $status}$hint" >&2
    status="curl failed"; code=000
    return 1
  }
  code=${out#* }
  status=$(head -n 1 "$work/$name.head" | sed 's/[[:space:]]*$//')
  if [ "${out%% *}" != 2 ]; then
    echo "    $name: the response was HTTP/${out%% *}, not HTTP/2 ($status)" >&2
    return 1
  fi
}
# signed NAME METHOD URL CURL-ARGS... — h2 with SigV4 (region US-EAST-04A).
signed() {
  local name=$1 method=$2 url=$3
  shift 3
  h2 "$name" "$url" -K "$work/curl-creds" --aws-sigv4 "aws:amz:$REGION:s3" -X "$method" "$@"
}
# expect NAME WANT — the last response's code is WANT, else a message naming the step
# with the status line and the S3 error code and message, if any.
expect() {
  local name=$1 want=$2 detail
  [ "$code" = "$want" ] && return 0
  detail=$(python3 - "$work/$name.body" <<'PY' 2>/dev/null || true
import re, sys
b = open(sys.argv[1], encoding="utf-8", errors="replace").read()
c = re.search(r"<Code>(.*?)</Code>", b); m = re.search(r"<Message>(.*?)</Message>", b)
print(" ".join(x for x in [c and c.group(1), m and repr(m.group(1))] if x) or b[:200].strip())
PY
)
  echo "    $name: expected $want, got '$status'${detail:+ — $detail}" >&2
  return 1
}

# --- Setup over HTTP/1.1 (not under test): the bucket of checks b and c and its CORS rule.
awss3 s3api create-bucket --bucket "$BUCKET" >/dev/null
cat >"$work/cors.json" <<EOF
{"CORSRules":[{"AllowedOrigins":["$ORIGIN"],"AllowedMethods":["GET","PUT","POST"],"AllowedHeaders":["*"],"MaxAgeSeconds":600}]}
EOF
awss3 s3api put-bucket-cors --bucket "$BUCKET" --cors-configuration "file://$work/cors.json"

head -c 100000 /dev/urandom >"$work/payload.bin"
payload_sha=$(sha256sum "$work/payload.bin" | cut -d' ' -f1)

# --- Check a: SigV4 (region US-EAST-04A) over HTTP/2, path style and virtual-hosted.
check_sigv4() {
  signed a-create PUT "https://127.0.0.1:$S3/$SIGV4_BUCKET" -H "x-amz-content-sha256: $EMPTY_SHA256" &&
    expect a-create 200 || return 1
  signed a-put PUT "https://127.0.0.1:$S3/$SIGV4_BUCKET/k.bin" -T "$work/payload.bin" \
    -H "x-amz-content-sha256: $payload_sha" && expect a-put 200 || return 1
  signed a-get GET "https://127.0.0.1:$S3/$SIGV4_BUCKET/k.bin" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" && expect a-get 200 || return 1
  cmp -s "$work/payload.bin" "$work/a-get.body" || {
    echo "    a-get: the object read back differs from the one written" >&2; return 1; }
  signed a-vget GET "https://$SIGV4_BUCKET.$DOMAIN:$S3/k.bin" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" && expect a-vget 200 || return 1
  cmp -s "$work/payload.bin" "$work/a-vget.body" || {
    echo "    a-vget: the virtual-hosted GET returned other bytes than were written" >&2; return 1; }
}

# --- Check b: the CORS preflight to the virtual-hosted bucket, over HTTP/2.
check_cors() {
  h2 b-preflight "https://$BUCKET.$DOMAIN:$S3/k.txt" -X OPTIONS \
    -H "Origin: $ORIGIN" -H "Access-Control-Request-Method: PUT" && expect b-preflight 200 || return 1
  local allow
  allow=$(grep -i '^access-control-allow-origin:' "$work/b-preflight.head" | cut -d: -f2- | tr -d ' \r' || true)
  [ "$allow" = "$ORIGIN" ] || [ "$allow" = "*" ] || {
    echo "    b-preflight: access-control-allow-origin is '${allow:-missing}', expected $ORIGIN" >&2; return 1; }
}

# --- Check c: a boto3 presigned POST form for the virtual-hosted bucket, sent with
# curl -F over HTTP/2 (boto3 only signs; it makes no connection).
check_post() {
  python3 - "$DOMAIN" "$S3" "$REGION" "$BUCKET" >"$work/c-form" <<'PY' || {
import sys
import boto3
from botocore.config import Config
domain, port, region, bucket = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=f"https://{domain}:{port}", region_name=region,
                  config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"}))
p = s3.generate_presigned_post(bucket, "posted.bin", ExpiresIn=600)
print(p["url"])
for k, v in p["fields"].items():
    print(f"{k}={v}")
PY
    echo "    c-form: boto3 generate_presigned_post failed" >&2; return 1; }
  local url form=() line
  url=$(head -n 1 "$work/c-form")
  [ "$url" = "https://$BUCKET.$DOMAIN:$S3/" ] || {
    echo "    c-form: boto3 gave the form URL '$url', expected https://$BUCKET.$DOMAIN:$S3/" >&2; return 1; }
  while IFS= read -r line; do form+=(--form-string "$line"); done < <(tail -n +2 "$work/c-form")
  h2 c-post "$url" "${form[@]}" -F "file=@$work/payload.bin" && expect c-post 204 || return 1
  awss3 s3api get-object --bucket "$BUCKET" --key posted.bin "$work/c-posted.bin" >/dev/null 2>&1 || {
    echo "    c-post: the object posted.bin does not exist after the form upload" >&2; return 1; }
  cmp -s "$work/payload.bin" "$work/c-posted.bin" || {
    echo "    c-post: the object posted.bin differs from the uploaded file" >&2; return 1; }
}

failed=()
run() { # run NAME FUNCTION
  if "$2"; then echo "PASS $1"; else echo "FAIL $1"; failed+=("$1"); fi
}
run "a: SigV4 region $REGION over HTTP/2 (path style and virtual-hosted)" check_sigv4
run "b: CORS preflight over HTTP/2 to the virtual-hosted bucket" check_cors
run "c: presigned POST form over HTTP/2 to the virtual-hosted bucket" check_post

if [ "${#failed[@]}" -gt 0 ]; then
  echo "http2-tls: ${#failed[@]} of 3 checks failed:" >&2
  printf '  %s\n' "${failed[@]}" >&2
  echo "--- server log ($work/log, last 20 lines)" >&2
  tail -n 20 "$work/log" >&2
  exit 1
fi
echo "http2-tls: ok"
