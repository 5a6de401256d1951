# Sourced (not run) by the scripts that measure a real `coffer server` (bench.sh,
# startup-time.sh). Sets BIN (COFFER_BIN, else a fresh release build), a temporary
# work directory removed on exit together with the server, two free ports S3 and API,
# and defines:
#   start_server   starts BIN on $work/data, sets pid, returns once /healthz answers
#   allow_all_key  an allow-all org policy and an access key, exported as AWS_* variables
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

start_server() {
  "$BIN" server --data-dir "$work/data" --s3-listen 127.0.0.1:$S3 --api-listen 127.0.0.1:$API \
    >>"$work/log" 2>&1 &
  pid=$!
  for _ in $(seq 12000); do
    curl -fs "http://127.0.0.1:$API/healthz" >/dev/null 2>&1 && return 0
    sleep 0.01
  done
  echo "the server did not become healthy within 120 s (log: $work/log)" >&2
  return 1
}

allow_all_key() {
  local token key
  token=$(cat "$work/data/bootstrap-token")
  curl -fsS -X POST "http://127.0.0.1:$API/v1/cwobject/access-policy" -H "Authorization: Bearer $token" \
    -d '{"policy":{"version":"v1alpha1","name":"bench","statements":[{"name":"all","effect":"Allow","actions":["*"],"resources":["*"],"principals":["*"]}]}}' >/dev/null
  key=$(curl -fsS -X POST "http://127.0.0.1:$API/v1/cwobject/access-key" -H "Authorization: Bearer $token" -d '{"durationSeconds":0}')
  AWS_ACCESS_KEY_ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["accessKeyId"])' "$key")
  AWS_SECRET_ACCESS_KEY=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secretKey"])' "$key")
  export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
}
