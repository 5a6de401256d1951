#!/usr/bin/env bash
# Starts (idempotently) a private PostgreSQL cluster for the tests and prints its URL.
# A cluster that is not running is recreated empty before it starts.
# Installs Debian's `postgresql` if initdb is missing. The cluster lives in
# ${COFFER_PG_DIR:-/tmp/coffer-test-pg}, listens on 127.0.0.1:${COFFER_PG_PORT:-54329}
# (and a Unix socket in that directory), trusts local connections, and runs as the
# `postgres` user when this script runs as root (PostgreSQL refuses to run as root).
#   eval "$(scripts/pg-test-cluster.sh)"   # exports COFFER_TEST_POSTGRES_URL (and
#                                          # COFFER_PG_STARTED=1 if it started the cluster)
#   scripts/pg-test-cluster.sh stop        # stops it
set -euo pipefail
dir=${COFFER_PG_DIR:-/tmp/coffer-test-pg}
port=${COFFER_PG_PORT:-54329}

bindir=""
for d in /usr/lib/postgresql/*/bin; do
  [ -x "$d/initdb" ] && bindir=$d
done
if [ -z "$bindir" ]; then
  sudo=""
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then sudo="sudo -n"; fi
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql; } >&2
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && bindir=$d
  done
fi
[ -n "$bindir" ] || { echo "initdb not found after installing postgresql" >&2; exit 1; }

as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

if [ "${1:-}" = stop ]; then
  as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
  exit 0
fi
mkdir -p "$dir"
[ "$(id -u)" = 0 ] && chown postgres: "$dir"
# Readiness is asked of the server itself: after a reboot, postmaster.pid may name a PID
# that now belongs to another process, which `pg_ctl status` would take for the server.
if ! "$bindir/pg_isready" -q -h "$dir" -p "$port" -t 2; then
  # Nothing serves this cluster, and its contents are disposable (each test creates its
  # own database). Start from an empty one: a cluster left by a killed run or a reboot
  # would otherwise replay crash recovery, which fsyncs every database earlier runs left
  # behind (thousands of them took longer than pg_ctl's wait, failing CI).
  as_pg rm -rf "$dir/data"
  rm -f "$dir"/.s.PGSQL.*
  as_pg "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  # Tests create a database each and run in parallel: allow plenty of connections.
  as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 120 \
    -o "-h 127.0.0.1 -p $port -k $dir -c max_connections=500 -c fsync=on" start >&2
  echo "export COFFER_PG_STARTED=1"
else
  echo "export COFFER_PG_STARTED="
fi
echo "export COFFER_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$port/postgres"
