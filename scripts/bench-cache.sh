#!/usr/bin/env bash
# The compute-node cache benchmark (issue 19): an origin behind an emulated datacenter
# link, a node cache in front of it, a dataset of large objects read twice.
#
#   scripts/bench-cache.sh [COFFER_BIN]      (root: it creates a network namespace)
#
# * The origin (`coffer server`) runs in network namespace `coffer-bench-origin`,
#   reached over a veth pair 10.77.0.1 <-> 10.77.0.2 shaped with `tc tbf` to
#   ${RATE:-1gbit} in both directions (netem is not available here). Loopback only:
#   no other address is touched.
# * The node (`coffer cache`) and the client (`coffer bench-dataset`) run outside it.
# * Reported, same run: a direct local read of the dataset from the origin inside its
#   namespace (no link; 3 epochs), epoch 1 (cold) and epochs 2-4 (warm) through the
#   node, and one epoch straight over the link without the node.
# Environment: OBJECTS (32), SIZE (64MiB), STREAMS (16), RATE (1gbit).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-target/release/coffer}")
[ "$(id -u)" = 0 ] || { echo "run as root (network namespaces)" >&2; exit 2; }
objects=${OBJECTS:-32} size=${SIZE:-64MiB} streams=${STREAMS:-16} rate=${RATE:-1gbit}
ns=coffer-bench-origin
work=$(mktemp -d /tmp/coffer-bench-cache.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  ip link del cbv0 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ip netns del "$ns" 2>/dev/null || true
ip link del cbv0 2>/dev/null || true
ip netns add "$ns"
ip link add cbv0 type veth peer name cbv1
ip link set cbv1 netns "$ns"
ip addr add 10.77.0.2/24 dev cbv0
ip link set cbv0 up
ip netns exec "$ns" ip addr add 10.77.0.1/24 dev cbv1
ip netns exec "$ns" ip link set cbv1 up
ip netns exec "$ns" ip link set lo up
# Both directions at $rate; burst of 1 ms at that rate, queue of up to 20 ms.
tc qdisc add dev cbv0 root tbf rate "$rate" burst 256kb latency 20ms
ip netns exec "$ns" tc qdisc add dev cbv1 root tbf rate "$rate" burst 256kb latency 20ms

op="$work/operator-token"
(umask 077; head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' > "$op")
ip netns exec "$ns" "$bin" server --data-dir "$work/origin" --s3-listen 10.77.0.1:9000 \
  --api-listen 10.77.0.1:9001 --operator-token-file "$op" > "$work/origin.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  [ -s "$work/origin/bootstrap-token" ] && grep -q "listening" "$work/origin.log" && break
  sleep 0.1
done
token=$(cat "$work/origin/bootstrap-token")
api=http://10.77.0.1:9001
curl -fsS -X POST "$api/v1/cwobject/access-policy" -H "Authorization: Bearer $token" \
  -d '{"policy":{"version":"v1alpha1","name":"all","statements":[{"name":"all","effect":"Allow","actions":["*"],"resources":["*"],"principals":["*"]}]}}' > /dev/null
key=$(curl -fsS -X POST "$api/v1/cwobject/access-key" -H "Authorization: Bearer $token" -d '{"durationSeconds":0}')
export AWS_ACCESS_KEY_ID=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["accessKeyId"])' <<< "$key")
export AWS_SECRET_ACCESS_KEY=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["secretKey"])' <<< "$key")
"$bin" cache-node create bench-node --endpoint "$api" --token-file "$op" \
  --credential-file "$work/node.cred" > /dev/null

ds() { "$bin" bench-dataset --objects "$objects" --size "$size" --streams "$streams" "$@"; }
echo "== dataset: $objects x $size, $streams streams; link $rate (tbf)"
ip netns exec "$ns" "$bin" bench-dataset --endpoint http://10.77.0.1:9000 --objects "$objects" \
  --size "$size" --streams "$streams" --upload --epochs 0
echo "== direct local read (client beside the origin, no link)"
ip netns exec "$ns" "$bin" bench-dataset --endpoint http://10.77.0.1:9000 --objects "$objects" \
  --size "$size" --streams "$streams" --epochs 3

"$bin" cache --origin http://10.77.0.1:9000 --listen 127.0.0.1:9100 --dir "$work/cache" \
  --node-credential-file "$work/node.cred" --max-bytes 100GiB > "$work/cache.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "listening" "$work/cache.log" && break; sleep 0.1; done
echo "== through the node cache: epoch 1 (cold), epochs 2-4 (warm)"
ds --endpoint http://127.0.0.1:9100 --epochs 4
echo "== over the link without the node"
ds --endpoint http://10.77.0.1:9000 --epochs 1
echo "== node stats"
curl -fsS http://127.0.0.1:9100/-/cache/stats; echo
