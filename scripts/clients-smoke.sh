#!/usr/bin/env bash
# Black-box smoke test of real third-party S3 clients against a real `coffer server`:
# aws-cli, s3cmd, rclone and the MinIO Python SDK, each on its own bucket, do what a
# person does with them: create a bucket, upload a small object and a multipart one,
# list, download (sha256 compared), fetch a presigned GET URL with curl, delete the
# objects and the bucket. Unless COFFER_SMOKE_ACL=0 it also does what Mastodon and
# PeerTube do: upload with `x-amz-acl: public-read` and read the object anonymously.
# Installs the clients it lacks (pip, apt). Keys stay out of the output (no `set -x`).
#   COFFER_BIN=path/to/coffer scripts/clients-smoke.sh
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

if [ -z "${COFFER_BIN:-}" ]; then
  [ -x target/debug/coffer ] || cargo build -q -p coffer
  COFFER_BIN=target/debug/coffer
fi
export COFFER_BIN
# BIN, $work (removed on exit with the server), ports $S3/$API, start_server, allow_all_key.
# shellcheck source=scripts/lib/server.sh
source scripts/lib/server.sh

# --- The clients, installed when missing (idempotent; Debian, as root or with sudo).
export DEBIAN_FRONTEND=noninteractive PIP_ROOT_USER_ACTION=ignore
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; fi
pip_install() {
  echo "installing $* (pip)"
  python3 -m pip install --quiet --disable-pip-version-check "$@" \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "$@"
  if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
  hash -r
}
command -v aws >/dev/null 2>&1 || pip_install awscli
command -v s3cmd >/dev/null 2>&1 || pip_install s3cmd
python3 -c 'import minio' >/dev/null 2>&1 || pip_install minio
if ! command -v rclone >/dev/null 2>&1; then
  echo "installing rclone (apt)"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq rclone >/dev/null
fi
# pip may have put the s3cmd script where PATH does not look (user or pyenv installs).
if ! command -v s3cmd >/dev/null 2>&1; then
  PATH="$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$HOME/.local/bin"
fi
for tool in aws s3cmd rclone curl sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || { echo "clients-smoke: $tool is not installed" >&2; exit 1; }
done
v_aws=$(aws --version 2>&1 | awk '{print $1}' | cut -d/ -f2)
v_s3cmd=$(s3cmd --version | awk '{print $NF}')
v_rclone=$(rclone version | awk 'NR==1 {print $2}')
v_minio=$(python3 -c 'import minio; print(minio.__version__)')
echo "clients: aws-cli $v_aws, s3cmd $v_s3cmd, rclone $v_rclone, minio-py $v_minio"

# --- The server and an allow-all key (exported as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
start_server
allow_all_key
ENDPOINT="http://127.0.0.1:$S3"
echo "coffer server on $ENDPOINT"

# Every client's configuration lives in $work: path-style, SigV4, region us-east-1.
umask 077
export AWS_CONFIG_FILE="$work/aws-config" AWS_SHARED_CREDENTIALS_FILE="$work/aws-credentials"
export AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL || true
cat >"$AWS_CONFIG_FILE" <<'EOF'
[default]
region = us-east-1
s3 =
  addressing_style = path
  signature_version = s3v4
EOF
: >"$AWS_SHARED_CREDENTIALS_FILE"
aws_() { aws --endpoint-url "$ENDPOINT" "$@"; }

# s3cmd: path-style through host_bucket without %(bucket)s, SigV4 (signature_v2 = False).
S3CFG="$work/s3cfg"
printf '[default]\naccess_key = %s\nsecret_key = %s\nhost_base = 127.0.0.1:%s\nhost_bucket = 127.0.0.1:%s\nuse_https = False\nsignature_v2 = False\nbucket_location = us-east-1\nprogress_meter = False\n' \
  "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" "$S3" "$S3" >"$S3CFG"
s3cmd_() { s3cmd -c "$S3CFG" --no-progress "$@"; }

# rclone: a remote named `coffer` from environment variables only; its config file and
# cache are in $work. Without AWS_CA_BUNDLE: rclone's AWS SDK (Go, v1) fails with
# LoadCustomCABundleError when it is set, and the endpoint is plain http anyway.
export RCLONE_CONFIG="$work/rclone.conf" RCLONE_CACHE_DIR="$work/rclone-cache"
: >"$RCLONE_CONFIG"
export RCLONE_CONFIG_COFFER_TYPE=s3 RCLONE_CONFIG_COFFER_PROVIDER=Other \
  RCLONE_CONFIG_COFFER_ENDPOINT="$ENDPOINT" RCLONE_CONFIG_COFFER_REGION=us-east-1 \
  RCLONE_CONFIG_COFFER_FORCE_PATH_STYLE=true \
  RCLONE_CONFIG_COFFER_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" \
  RCLONE_CONFIG_COFFER_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY"
rclone_() { env -u AWS_CA_BUNDLE rclone --config "$RCLONE_CONFIG" "$@"; }

# MinIO Python SDK: one operation per call, so each step reports on its own.
cat >"$work/minio_op.py" <<'EOF'
import os, sys
from datetime import timedelta
from minio import Minio
c = Minio(os.environ["COFFER_S3_HOST"], access_key=os.environ["AWS_ACCESS_KEY_ID"],
          secret_key=os.environ["AWS_SECRET_ACCESS_KEY"], secure=False, region="us-east-1")
op, bucket, *a = sys.argv[1:]
if op == "mb":
    c.make_bucket(bucket)
elif op == "put":
    c.fput_object(bucket, a[0], a[1], part_size=int(a[2]) if len(a) > 2 else 0)
elif op == "ls":
    for o in c.list_objects(bucket, recursive=True):
        print(o.object_name)
elif op == "get":
    c.fget_object(bucket, a[0], a[1])
elif op == "presign":
    print(c.presigned_get_object(bucket, a[0], expires=timedelta(minutes=5)))
elif op == "rm":
    c.remove_object(bucket, a[0])
elif op == "rb":
    c.remove_bucket(bucket)
elif op == "buckets":
    for b in c.list_buckets():
        print(b.name)
elif op == "exists":
    print(c.bucket_exists(bucket))
else:
    sys.exit("unknown op " + op)
EOF
export COFFER_S3_HOST="127.0.0.1:$S3"
minio_() { python3 "$work/minio_op.py" "$@"; }

# --- Steps and checks. A step runs its command with the output in $work/step.out and
# prints one line; on failure it names the client and the step, shows that output and
# the end of the server log, and stops the script. (Functions run by `step` are in an
# `if`, where `set -e` does not apply: they chain with && and return non-zero themselves.)
steps=0
step() { # step CLIENT WHAT CMD...
  local client=$1 what=$2; shift 2
  if "$@" >"$work/step.out" 2>&1; then
    steps=$((steps + 1)); echo "ok   $client: $what"
  else
    echo "FAIL $client: $what" >&2
    tail -n 40 "$work/step.out" | sed 's/^/     | /' >&2
    echo "     server log, last lines:" >&2
    tail -n 15 "$work/log" | sed 's/^/     | /' >&2
    echo "clients-smoke: FAILED: $client: $what" >&2
    exit 1
  fi
}
sha() { sha256sum <"$1" | cut -d' ' -f1; }
same_bytes() { # same_bytes EXPECTED GOT
  [ -f "$2" ] || { echo "nothing was downloaded to $2"; return 1; }
  [ "$(sha "$1")" = "$(sha "$2")" ] || { echo "sha256 differs: $(sha "$1") expected, $(sha "$2") got ($(wc -c <"$2") bytes)"; return 1; }
}
got="$work/got"
fetched_same() { # fetched_same EXPECTED CMD... (CMD writes $got)
  local expected=$1; shift
  rm -f "$got"
  "$@" && same_bytes "$expected" "$got"
}
lists_keys() { # lists_keys CMD... : CMD's standard output names both keys
  local k
  "$@" >"$work/listing" || return 1
  cat "$work/listing"
  for k in "$SMALL_KEY" "$BIG_KEY"; do
    grep -qF -- "$k" "$work/listing" || { echo "key '$k' is not in the listing"; return 1; }
  done
}
not_listed() { # not_listed NAME CMD... : CMD's standard output does not name NAME
  local name=$1; shift
  "$@" >"$work/listing" || return 1
  cat "$work/listing"
  ! grep -qwF -- "$name" "$work/listing" || { echo "'$name' is still listed"; return 1; }
}
multipart_etag() { # multipart_etag BUCKET KEY : the object was stored by a multipart upload
  local etag
  etag=$(aws_ s3api head-object --bucket "$1" --key "$2" --query ETag --output text) || return 1
  echo "ETag $etag"
  [[ $etag =~ -[0-9]+\"?$ ]] || { echo "ETag $etag is not a multipart ETag"; return 1; }
}
presigned_same() { # presigned_same EXPECTED CMD... : CMD prints a SigV4 presigned GET URL
  local expected=$1 url; shift
  url=$("$@" | tail -n 1) || return 1
  [[ $url == http://127.0.0.1:"$S3"/* ]] || { echo "not a URL on the endpoint: ${url%%\?*}"; return 1; }
  [[ $url == *X-Amz-Signature=* ]] || { echo "not a SigV4 presigned URL: ${url%%\?*}"; return 1; }
  rm -f "$got"
  curl -sS -o "$got" -w '%{http_code}\n' "$url" >"$work/code" || return 1
  [ "$(cat "$work/code")" = 200 ] || { echo "GET ${url%%\?*}?… answered $(cat "$work/code")"; cat "$got"; return 1; }
  same_bytes "$expected" "$got"
}
anon_get() { # anon_get PATH : anonymous (unsigned) GET, the status in $work/code, the body in $got
  rm -f "$got"
  curl -sS -o "$got" -w '%{http_code}' "$ENDPOINT/$1" >"$work/code"
}
anon_same() { # anon_same EXPECTED PATH
  anon_get "$2" || return 1
  [ "$(cat "$work/code")" = 200 ] || { echo "anonymous GET /$2 answered $(cat "$work/code")"; cat "$got"; return 1; }
  same_bytes "$1" "$got"
}
anon_denied() { # anon_denied PATH
  anon_get "$1" || return 1
  [ "$(cat "$work/code")" = 403 ] || { echo "anonymous GET /$1 answered $(cat "$work/code"), not 403"; cat "$got"; return 1; }
}
head_bucket_404() { # head_bucket_404 BUCKET
  ! aws_ s3api head-bucket --bucket "$1" 2>"$work/err" || { echo "HeadBucket still succeeds"; return 1; }
  cat "$work/err"
  grep -q '404' "$work/err" || { echo "HeadBucket failed, but not with 404"; return 1; }
}

# --- The test objects: a small one under a key with a space, and 20 MiB (4 parts of 5 MiB,
# or 3 of 8 MiB) for the multipart uploads.
SMALL_KEY="docs/hello world.txt"
BIG_KEY="media/big.bin"
small="$work/small.txt"; big="$work/big.bin"
{ echo "hello from clients-smoke"; head -c 1000 /dev/urandom | base64; } >"$small"
head -c $((20 * 1024 * 1024)) /dev/urandom >"$big"

# --- aws-cli: multipart above its default 8 MiB threshold (8 MiB parts).
b=smoke-aws
step aws-cli "create bucket $b" aws_ s3 mb "s3://$b"
step aws-cli "upload small object" aws_ s3 cp --only-show-errors "$small" "s3://$b/$SMALL_KEY"
step aws-cli "multipart upload 20 MiB (8 MiB parts)" aws_ s3 cp --only-show-errors "$big" "s3://$b/$BIG_KEY"
step aws-cli "big object has a multipart ETag" multipart_etag "$b" "$BIG_KEY"
step aws-cli "list shows both keys" lists_keys aws_ s3 ls --recursive "s3://$b/"
step aws-cli "download small, sha256 equal" fetched_same "$small" aws_ s3 cp --only-show-errors "s3://$b/$SMALL_KEY" "$got"
step aws-cli "download big, sha256 equal" fetched_same "$big" aws_ s3 cp --only-show-errors "s3://$b/$BIG_KEY" "$got"
step aws-cli "presigned GET (aws s3 presign) fetched by curl" presigned_same "$small" aws_ s3 presign "s3://$b/$SMALL_KEY" --expires-in 300
step aws-cli "delete both objects" aws_ s3 rm --only-show-errors --recursive "s3://$b/"
step aws-cli "delete bucket" aws_ s3 rb "s3://$b"
step aws-cli "bucket is gone (HeadBucket 404)" head_bucket_404 "$b"
step aws-cli "bucket is gone (not listed)" not_listed "$b" aws_ s3 ls

# --- s3cmd: multipart with 5 MiB chunks.
b=smoke-s3cmd
step s3cmd "create bucket $b" s3cmd_ mb "s3://$b"
step s3cmd "upload small object" s3cmd_ put "$small" "s3://$b/$SMALL_KEY"
step s3cmd "multipart upload 20 MiB (5 MiB parts)" s3cmd_ put --multipart-chunk-size-mb=5 "$big" "s3://$b/$BIG_KEY"
step s3cmd "big object has a multipart ETag" multipart_etag "$b" "$BIG_KEY"
step s3cmd "list shows both keys" lists_keys s3cmd_ ls --recursive "s3://$b"
step s3cmd "download small, sha256 equal" fetched_same "$small" s3cmd_ get --force "s3://$b/$SMALL_KEY" "$got"
step s3cmd "download big, sha256 equal" fetched_same "$big" s3cmd_ get --force "s3://$b/$BIG_KEY" "$got"
# `s3cmd signurl` (2.4.0 and older) signs only with SigV2 (AWSAccessKeyId/Signature query),
# which Coffer refuses like AWS's SigV4-only regions; the URL must get that answer.
s3cmd_signurl_refused() {
  local url
  url=$(s3cmd_ signurl "s3://$b/$SMALL_KEY" +300 | tail -n 1) || return 1
  [[ $url == *AWSAccessKeyId=*Signature=* ]] || { echo "signurl is no longer SigV2: test it as a presigned URL"; return 1; }
  curl -sS -o "$got" -w '%{http_code}' "$url" >"$work/code" || return 1
  cat "$got"
  [ "$(cat "$work/code")" = 400 ] && grep -q 'AWS4-HMAC-SHA256' "$got"
}
step s3cmd "signurl (SigV2 only) refused with 400 'use AWS4-HMAC-SHA256'" s3cmd_signurl_refused
step s3cmd "delete both objects" s3cmd_ del "s3://$b/$SMALL_KEY" "s3://$b/$BIG_KEY"
step s3cmd "delete bucket" s3cmd_ rb "s3://$b"
step s3cmd "bucket is gone (not listed)" not_listed "$b" s3cmd_ ls

# --- rclone: multipart above a 5 MiB cutoff with 5 MiB chunks. `rclone link` on an S3
# remote prints a SigV4 presigned GET URL (X-Amz-Algorithm=AWS4-HMAC-SHA256, already in
# Debian bookworm's 1.60), so it is the presign step here.
b=smoke-rclone
step rclone "create bucket $b" rclone_ mkdir "coffer:$b"
step rclone "upload small object" rclone_ copyto "$small" "coffer:$b/$SMALL_KEY"
step rclone "multipart upload 20 MiB (5 MiB parts)" rclone_ copyto --s3-upload-cutoff 5M --s3-chunk-size 5M "$big" "coffer:$b/$BIG_KEY"
step rclone "big object has a multipart ETag" multipart_etag "$b" "$BIG_KEY"
step rclone "list shows both keys" lists_keys rclone_ lsf -R "coffer:$b"
step rclone "download small, sha256 equal" fetched_same "$small" rclone_ copyto "coffer:$b/$SMALL_KEY" "$got"
step rclone "download big, sha256 equal" fetched_same "$big" rclone_ copyto "coffer:$b/$BIG_KEY" "$got"
step rclone "presigned GET (rclone link) fetched by curl" presigned_same "$small" rclone_ link --expire 5m "coffer:$b/$SMALL_KEY"
step rclone "delete both objects" rclone_ delete "coffer:$b"
step rclone "delete bucket" rclone_ rmdir "coffer:$b"
step rclone "bucket is gone (not listed)" not_listed "$b" rclone_ lsd coffer:

# --- MinIO Python SDK: multipart with part_size 5 MiB.
b=smoke-minio
step minio "create bucket $b" minio_ mb "$b"
step minio "upload small object" minio_ put "$b" "$SMALL_KEY" "$small"
step minio "multipart upload 20 MiB (5 MiB parts)" minio_ put "$b" "$BIG_KEY" "$big" $((5 * 1024 * 1024))
step minio "big object has a multipart ETag" multipart_etag "$b" "$BIG_KEY"
step minio "list shows both keys" lists_keys minio_ ls "$b"
step minio "download small, sha256 equal" fetched_same "$small" minio_ get "$b" "$SMALL_KEY" "$got"
step minio "download big, sha256 equal" fetched_same "$big" minio_ get "$b" "$BIG_KEY" "$got"
step minio "presigned GET (presigned_get_object) fetched by curl" presigned_same "$big" minio_ presign "$b" "$BIG_KEY"
minio_bucket_absent() { [ "$(minio_ exists "$b")" = False ]; }
step minio "delete small object" minio_ rm "$b" "$SMALL_KEY"
step minio "delete big object" minio_ rm "$b" "$BIG_KEY"
step minio "delete bucket" minio_ rb "$b"
step minio "bucket is gone (bucket_exists False)" minio_bucket_absent
step minio "bucket is gone (not listed)" not_listed "$b" minio_ buckets -

# --- Public objects the way applications write them (Mastodon, PeerTube): a bucket with
# ACLs enabled (ObjectWriter), PutObject and a multipart upload with `x-amz-acl:
# public-read`, read back by anyone without a signature; an object without an ACL stays
# private, and PutObjectAcl `private` (PeerTube, when a video becomes private) closes a
# public one. COFFER_SMOKE_ACL=0 skips it.
if [ "${COFFER_SMOKE_ACL:-1}" = 1 ]; then
  b=smoke-acl
  grants_all_users_read() { # grants_all_users_read KEY
    aws_ s3api get-object-acl --bucket "$b" --key "$1" --output json >"$work/acl.json" || return 1
    cat "$work/acl.json"
    python3 -c '
import json, sys
g = json.load(open(sys.argv[1]))["Grants"]
assert any(x["Grantee"].get("URI") == "http://acs.amazonaws.com/groups/global/AllUsers"
           and x["Permission"] == "READ" for x in g), "no AllUsers READ grant"' "$work/acl.json"
  }
  step acl "create bucket $b with ObjectOwnership ObjectWriter" aws_ s3api create-bucket --bucket "$b" --object-ownership ObjectWriter
  step acl "put-object --acl public-read" aws_ s3api put-object --bucket "$b" --key media/avatar.png --body "$small" --acl public-read
  step acl "get-object-acl shows AllUsers READ" grants_all_users_read media/avatar.png
  step acl "anonymous GET of the public object returns its bytes" anon_same "$small" "$b/media/avatar.png"
  step acl "multipart upload with --acl public-read" aws_ s3 cp --only-show-errors --acl public-read "$big" "s3://$b/media/video.mp4"
  step acl "anonymous GET of the public multipart object returns its bytes" anon_same "$big" "$b/media/video.mp4"
  step acl "put-object without an ACL" aws_ s3api put-object --bucket "$b" --key media/private.bin --body "$small"
  step acl "anonymous GET of the object without an ACL is 403" anon_denied "$b/media/private.bin"
  step acl "put-object-acl --acl private on the public object" aws_ s3api put-object-acl --bucket "$b" --key media/avatar.png --acl private
  step acl "anonymous GET after put-object-acl private is 403" anon_denied "$b/media/avatar.png"
  step acl "delete objects" aws_ s3 rm --only-show-errors --recursive "s3://$b/"
  step acl "delete bucket" aws_ s3 rb "s3://$b"
else
  echo "skip acl: public-read uploads (COFFER_SMOKE_ACL=0)"
fi

echo "clients-smoke: $steps steps in $(($(date +%s) - started)) s"
echo "clients-smoke: ok (aws-cli $v_aws, s3cmd $v_s3cmd, rclone $v_rclone, minio $v_minio)"
