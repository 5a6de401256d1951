#!/usr/bin/env bash
# Installs the Debian package on this machine and runs it as the service would: the
# unit's ExecStart as the unit's User, then the README quickstart against it (bootstrap
# token, `coffer key create --env`, the reference's allow-all policy, aws-cli mb/cp/ls
# and a byte-exact download), the S3 probe and a metrics scrape. Then stops the server
# and purges the package, its data directory and (if this run created it) the user.
#
#   scripts/package-test.sh [path/to/coffer_*.deb]   (default: scripts/package-deb.sh)
#
# Root or password-less sudo. Refuses to run where Coffer is installed or
# /var/lib/coffer holds data this script did not create.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo -n"; fi
command -v aws >/dev/null || { echo "aws-cli is not installed (scripts/test-env.sh)" >&2; exit 1; }

$SUDO true || { echo "package-test: needs root or password-less sudo" >&2; exit 1; }
DATA=/var/lib/coffer
# Written by this script only (a root-only directory: nobody else can forge it) while
# it has the package installed; found at start, it means an interrupted run whose
# install may be removed.
MARKER_DIR=/var/lib/coffer-package-test
MARKER=$MARKER_DIR/marker
server_pids() { pgrep -u coffer -f '^/usr/bin/coffer server' 2>/dev/null || true; }
cleanup_install() {
  for sig in TERM TERM TERM KILL; do
    [ -z "$(server_pids)" ] && break
    # shellcheck disable=SC2046 # one pid per word
    $SUDO kill -s "$sig" $(server_pids) 2>/dev/null || true
    sleep 2
  done
  $SUDO dpkg --purge coffer >/dev/null 2>&1 || true
  $SUDO rm -rf "$DATA"
  if $SUDO grep -qs '^created-user$' "$MARKER"; then
    $SUDO userdel coffer 2>/dev/null || echo "package-test: could not remove the user coffer" >&2
    $SUDO groupdel coffer 2>/dev/null || true
  fi
  $SUDO rm -rf "$MARKER_DIR"
}
if $SUDO test -L "$MARKER_DIR" || { $SUDO test -e "$MARKER_DIR" \
    && [ "$($SUDO stat -c '%u %a' "$MARKER_DIR")" != "0 700" ]; }; then
  echo "package-test: $MARKER_DIR is not this script's (root, 0700); not touching anything" >&2
  exit 1
fi
if $SUDO test -f "$MARKER"; then
  echo "package-test: cleaning up after an interrupted run"
  cleanup_install
fi
status=$(dpkg-query -W -f='${db:Status-Status}' coffer 2>/dev/null || true)
if [ -n "$status" ] && [ "$status" != not-installed ]; then
  echo "package-test: the coffer package is on this machine ($status); not touching it" >&2
  exit 1
fi
if $SUDO test -e /etc/coffer || [ -n "$(server_pids)" ]; then
  echo "package-test: /etc/coffer or a coffer server exists on this machine; not touching it" >&2
  exit 1
fi
if $SUDO test -e "$DATA" && [ -n "$($SUDO ls -A "$DATA")" ]; then
  echo "package-test: $DATA holds data; not touching it" >&2
  exit 1
fi

deb=${1:-$(scripts/package-deb.sh | tail -1)}
[ -f "$deb" ] || { echo "package-test: no package at $deb" >&2; exit 1; }
echo "package: $deb ($(du -h "$deb" | cut -f1))"

work=$(mktemp -d)
$SUDO install -d -m 0700 -o root -g root "$MARKER_DIR"
if getent passwd coffer >/dev/null; then echo existing-user | $SUDO tee "$MARKER" >/dev/null
else echo created-user | $SUDO tee "$MARKER" >/dev/null; fi
cleanup() {
  cleanup_install
  rm -rf "$work"
}
trap cleanup EXIT

pass=0; fail=0
check() { # check NAME CMD...
  local name=$1; shift
  if "$@"; then pass=$((pass+1)); echo "ok   $name"; else fail=$((fail+1)); echo "FAIL $name"; fi
}

if ! $SUDO dpkg -i "$deb"; then
  # dpkg -i leaves missing dependencies (adduser on a minimal system): apt installs the
  # same file with them, removing nothing.
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-remove "$(realpath "$deb")"
fi
check "package installed and configured" \
  sh -c "dpkg-query -W -f='\${Status}' coffer | grep -q 'install ok installed'"
mode_of() { $SUDO stat -c '%a %U:%G' "$1"; }
check "binary installed" test -x /usr/bin/coffer
check "config 0640 root:coffer" test "$(mode_of /etc/coffer/coffer.toml)" = "640 root:coffer"
check "data directory 0700 coffer:coffer" test "$(mode_of "$DATA")" = "700 coffer:coffer"
unit=$(dpkg -L coffer | grep -E '/systemd/system/coffer\.service$' | head -1)
check "systemd unit installed" test -n "$unit"
check "man pages installed" test -f /usr/share/man/man1/coffer-server.1.gz
check "bash completion installed" test -f /usr/share/bash-completion/completions/coffer
check "zsh and fish completions installed" test -f /usr/share/zsh/vendor-completions/_coffer -a -f /usr/share/fish/vendor_completions.d/coffer.fish
check "the unit is not enabled by the package" test ! -e /etc/systemd/system/multi-user.target.wants/coffer.service
if command -v systemd-analyze >/dev/null; then
  # Only lines about our unit count (the machine's other units are not ours to judge),
  # but the command itself must succeed.
  verify_rc=0
  # Without man-db the unit's `Documentation=man:` reference cannot be resolved; the man
  # pages themselves are checked above.
  man_check=yes
  command -v man >/dev/null || man_check=no
  verify=$(systemd-analyze verify --man="$man_check" "$unit" 2>&1) || verify_rc=$?
  ours=$(echo "$verify" | grep -i 'coffer' || true)
  check "systemd-analyze verify succeeds and finds nothing in the unit" \
    test "$verify_rc" = 0 -a -z "$ours"
  [ "$verify_rc" = 0 ] && [ -z "$ours" ] || echo "$verify"
  # systemd's own rating of the sandbox (0 = fully locked down, 10 = none).
  exposure=$(systemd-analyze security --offline=true "$unit" 2>/dev/null \
    | sed -n 's/.*Overall exposure level for coffer.service: \([0-9.]*\).*/\1/p')
  echo "systemd-analyze security: exposure ${exposure:-unknown}"
  check "unit exposure level at most 2.0" python3 -c "import sys; sys.exit(not (0 <= float('${exposure:-99}') <= 2.0))"
else
  echo "SKIP systemd-analyze is not installed: the unit file is not verified"
fi

# The unit's command, as the unit's user, with the listen addresses moved to free ports
# (flags and COFFER_* variables override the file, as documented).
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
user=$(sed -n 's/^User=//p' "$unit")
check "the unit runs as coffer" test "$user" = coffer
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
S3_PORT=$(free_port); API_PORT=$(free_port)
S3="http://127.0.0.1:$S3_PORT"; API="http://127.0.0.1:$API_PORT"
# ExecStart is split on whitespace (it has no quoting, prefixes or specifiers: checked),
# never globbed; the server gets a clean environment, as under systemd, plus the ports.
case $exec_start in *[\"\'%\$\\]* | [-@:+!]*) echo "package-test: ExecStart needs systemd's parser: $exec_start" >&2; exit 1 ;; esac
read -ra argv <<<"$exec_start"
$SUDO setpriv --reuid="$user" --regid="$user" --init-groups --reset-env --no-new-privs -- \
  env COFFER_S3_LISTEN="127.0.0.1:$S3_PORT" COFFER_API_LISTEN="127.0.0.1:$API_PORT" \
  sh -c 'umask 0077; exec "$@"' sh "${argv[@]}" >"$work/server.log" 2>&1 &
for _ in $(seq 1 100); do
  curl -fsS "$API/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
check "server healthy" curl -fsS "$API/healthz" -o /dev/null
pid=$(server_pids | head -1)
check "server process runs as coffer" test "$(ps -o user= -p "$pid" | tr -d ' ')" = coffer
check "S3 liveness probe" curl -fsS "$S3/-/healthz" -o /dev/null

token=$($SUDO cat "$DATA/bootstrap-token")
check "bootstrap token is 0600 coffer" test "$(mode_of "$DATA/bootstrap-token")" = "600 coffer:coffer"
cd "$work"
cat >policy.json <<'JSON'
{"policy": {"version": "v1alpha1", "name": "test-policy",
  "statements": [{"name": "allow-everything", "effect": "Allow",
                  "actions": ["*"], "resources": ["*"], "principals": ["*"]}]}}
JSON
check "allow-all policy applied" curl -fsS -X POST "$API/v1/cwobject/access-policy" \
  -H "Content-Type: application/json" -H "Authorization: Bearer $token" -d @policy.json -o /dev/null
out=$(COFFER_ENDPOINT="$API" COFFER_TOKEN="$token" /usr/bin/coffer key create --env)
eval "$out"
export AWS_DEFAULT_REGION=US-EAST-04A
head -c $((20 * 1024 * 1024 + 17)) /dev/urandom >model.bin
check "aws s3 mb" aws --endpoint-url "$S3" s3 mb s3://pkg-bucket
check "aws s3 cp up" aws --endpoint-url "$S3" s3 cp model.bin s3://pkg-bucket/models/model.bin --only-show-errors
check "aws s3 ls" sh -c "aws --endpoint-url '$S3' s3 ls s3://pkg-bucket/models/ | grep -q model.bin"
check "aws s3 cp down" aws --endpoint-url "$S3" s3 cp s3://pkg-bucket/models/model.bin back.bin --only-show-errors
check "bytes round-trip" cmp -s model.bin back.bin

curl -fsS "$API/metrics" >metrics.txt
check "metrics: uploads counted" grep -q '^coffer_requests_total{api="s3",operation="\(PutObject\|UploadPart\)",status="200"}' metrics.txt
check "metrics: build info" grep -q '^coffer_build_info{version=' metrics.txt
check "metrics: process" grep -q '^process_resident_memory_bytes ' metrics.txt
if command -v promtool >/dev/null; then
  check "promtool check metrics" sh -c 'promtool check metrics <metrics.txt'
fi
check "data files are the service user's alone" test -z "$($SUDO find "$DATA" \( ! -user coffer -o -perm /077 \) -print -quit)"

$SUDO kill -TERM "$pid"
for _ in $(seq 1 100); do ps -p "$pid" >/dev/null || break; sleep 0.1; done
check "server stopped on SIGTERM" sh -c "! ps -p $pid >/dev/null"

echo "package-test: $pass passed, $fail failed"
if [ "$fail" -ne 0 ]; then
  echo "--- server log"; cat "$work/server.log"
  exit 1
fi
