#!/usr/bin/env bash
# Runs ceph/s3-tests (../shared/s3-tests, through ../shared/tools/s3tests.sh) against a
# fresh `coffer server`: two orgs, each with an allow-everything org policy and one
# access key (MAIN in the bootstrap org, ALT in a second org created with an operator
# token), so ALT has no access to MAIN's buckets.
#
# Usage: scripts/s3tests-local.sh [--check] [-- EXTRA_PYTEST_ARGS...]
#   --check         compare the results with tests/s3-tests/expected-failures.txt
#                   (scripts/s3tests-compare.py) and exit 1 on any difference: a
#                   regression, an unexpected pass or a stale entry (what scripts/test runs)
#   S3TESTS_EXPECTED  the list --check compares with (default: the file above); the
#                   encryption selection has its own (scripts/test)
#   COFFER_BIN      the binary to test (default: a fresh release build)
#   S3TESTS_METADATA=postgres   metadata in a fresh database on the PostgreSQL server
#                   named by COFFER_TEST_POSTGRES_URL (scripts/pg-test-cluster.sh);
#                   default: the embedded SQLite store
#   S3TESTS_DIR     the s3-tests checkout (default: ../shared/s3-tests, beside this
#                   checkout or beside the repository it was cloned from)
#   S3TESTS_TOOL    the runner (default: ../shared/tools/s3tests.sh, likewise)
#   other S3TESTS_* knobs are passed to the runner (see its header).
# Results: the runner's S3TESTS_OUT directory (printed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# shellcheck source=scripts/lib/server.sh
source scripts/lib/server.sh
# ../shared beside the checkout; a clone elsewhere (CI's clean clone) looks beside the
# repository it was cloned from, then at this machine's /work/shared.
shared=$root/../shared
origin=$(git -C "$root" remote get-url origin 2>/dev/null || true)
for candidate in "$root/../shared" "${origin:-/nonexistent}/../shared" /work/shared; do
  if [ -d "$candidate/s3-tests" ]; then shared=$candidate; break; fi
done
S3TESTS_DIR=${S3TESTS_DIR:-$shared/s3-tests}
S3TESTS_TOOL=${S3TESTS_TOOL:-$shared/tools/s3tests.sh}
if [ ! -f "$S3TESTS_TOOL" ]; then
  echo "s3tests-local: no runner at $S3TESTS_TOOL (set S3TESTS_TOOL and S3TESTS_DIR)" >&2
  exit 2
fi
check=""
if [ "${1:-}" = "--check" ]; then check=1; shift; fi
# The location constraint test_bucket_get_location creates a bucket in (the default zone).
export S3TESTS_API_NAME=${S3TESTS_API_NAME:-US-EAST-04A}
[ -n "$check" ] && export S3TESTS_OUT=${S3TESTS_OUT:-$work/s3tests-out}

if [ "${S3TESTS_METADATA:-sqlite}" = postgres ]; then
  : "${COFFER_TEST_POSTGRES_URL:?S3TESTS_METADATA=postgres needs COFFER_TEST_POSTGRES_URL}"
  db="s3tests_$(python3 -c 'import secrets; print(secrets.token_hex(6))')"
  psql -q "$COFFER_TEST_POSTGRES_URL" -c "CREATE DATABASE $db" >/dev/null
  export COFFER_METADATA="${COFFER_TEST_POSTGRES_URL%/*}/$db"
  # With PostgreSQL the operator provides the master key (docs/scale-out.md).
  (umask 077; python3 -c 'import secrets; print(secrets.token_hex(32))' >"$work/master.key")
  export COFFER_MASTER_KEY_FILE="$work/master.key"
  # Dropped on exit, after the server (the trap of scripts/lib/server.sh) has stopped.
  trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work";
        psql -q "$COFFER_TEST_POSTGRES_URL" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1' EXIT
fi

python3 -c 'import secrets; print("CW-SECRET-" + secrets.token_hex(24))' >"$work/operator-token"
chmod 600 "$work/operator-token"
export COFFER_OPERATOR_TOKEN_FILE="$work/operator-token"
# s3-tests assume S3 before 2023: new buckets without ownership controls (ACLs enabled).
export COFFER_DEFAULT_OBJECT_OWNERSHIP=${COFFER_DEFAULT_OBJECT_OWNERSHIP:-none}
# The suite talks plain HTTP, and its SSE-C tests send keys: a test setting only.
export COFFER_ALLOW_INSECURE_SSEC=1
start_server
allow_all_key
MAIN_AK=$AWS_ACCESS_KEY_ID MAIN_SK=$AWS_SECRET_ACCESS_KEY

api() { # api METHOD PATH TOKEN [BODY]
  curl -fsS -X "$1" "http://127.0.0.1:$API$2" -H "Authorization: Bearer $3" \
    -H 'Content-Type: application/json' ${4:+-d "$4"}
}
json() { python3 -c 'import json,sys; v=json.loads(sys.argv[1])
for k in sys.argv[2].split("."): v=v[k]
print(v)' "$1" "$2"; }

op=$(cat "$work/operator-token")
org=$(json "$(api POST /v1/iam/orgs "$op" '{"name":"s3tests-alt"}')" org.orgId)
uid=$(json "$(api POST /v1/iam/users "$op" "{\"name\":\"alt\",\"role\":\"admin\",\"orgId\":\"$org\"}")" user.uid)
tok=$(json "$(api POST /v1/iam/tokens "$op" "{\"uid\":\"$uid\",\"durationSeconds\":0,\"orgId\":\"$org\"}")" token)
api POST /v1/cwobject/access-policy "$tok" \
  '{"policy":{"version":"v1alpha1","name":"all","statements":[{"name":"all","effect":"Allow","actions":["*"],"resources":["*"],"principals":["*"]}]}}' >/dev/null
alt=$(api POST /v1/cwobject/access-key "$tok" '{"durationSeconds":0}')
ALT_AK=$(json "$alt" accessKeyId) ALT_SK=$(json "$alt" secretKey)

# Coffer's canonical user id (an ACL's Owner ID and grantee ID) is the org id; the ACL
# and ownership tests compare with these.
main_org=$(json "$(api GET /v1/iam/whoami "$(cat "$work/data/bootstrap-token")")" orgId)
export S3TESTS_MAIN_USER_ID=$main_org S3TESTS_MAIN_DISPLAY_NAME=$main_org
export S3TESTS_ALT_USER_ID=$org S3TESTS_ALT_DISPLAY_NAME=$org

[ "${1:-}" = "--" ] && shift
bash "$S3TESTS_TOOL" "$S3TESTS_DIR" 127.0.0.1 "$S3" "$MAIN_AK" "$MAIN_SK" "$ALT_AK" "$ALT_SK" -- "$@"
if [ -n "$check" ]; then
  python3 scripts/s3tests-compare.py "$S3TESTS_OUT/results.tsv" \
    "${S3TESTS_EXPECTED:-tests/s3-tests/expected-failures.txt}" \
    --suite "$S3TESTS_DIR" || {
    kept=$(mktemp -d /tmp/s3tests-failed.XXXXXX)
    cp -r "$S3TESTS_OUT" "$kept/out"; cp "$work/log" "$kept/server.log"
    echo "s3-tests differ from ${S3TESTS_EXPECTED:-tests/s3-tests/expected-failures.txt} (results and server log kept in $kept)" >&2
    exit 1
  }
fi
