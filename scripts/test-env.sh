# Sourced by scripts/test: installs (idempotently, skipping what is present) what the
# tests need on a fresh Debian 12/13 or Ubuntu 24.04 machine, as root or with
# password-less sudo, then exports the test environment: PATH with the project's Python
# venv first, COFFER_SAML_FIXTURES (a fresh SAML fixture set signed with new keys) and
# COFFER_TEST_POSTGRES_URL (a private PostgreSQL cluster, scripts/pg-test-cluster.sh).
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo -n"; fi
apt_updated=""
# apt_install PKG...: installs Debian packages (root, or password-less sudo), running
# `apt-get update` once per run.
apt_install() {
  if [ -n "$SUDO" ] && ! command -v sudo >/dev/null 2>&1; then
    echo "test-env: $* missing; run as root or with password-less sudo to install it" >&2
    return 1
  fi
  if [ -z "$apt_updated" ]; then
    $SUDO apt-get update -qq
    apt_updated=1
  fi
  $SUDO apt-get install -y -qq "$@"
}
command -v curl >/dev/null 2>&1 || apt_install curl

# Python tools live in a project venv, never in the system Python (externally managed
# on Debian 12+): aws-cli (the quickstart, clients-smoke), boto3 + requests (the
# container-credentials, signature-coverage and browser-upload tests), signxml (SAML
# fixtures). Its bin directory goes first on PATH for everything scripts/test runs,
# so `python3` in the tests is the venv's.
COFFER_TEST_VENV=${COFFER_TEST_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/coffer/test-venv}
if [ ! -x "$COFFER_TEST_VENV/bin/python3" ]; then
  python3 -m venv "$COFFER_TEST_VENV" 2>/dev/null || {
    rm -rf "$COFFER_TEST_VENV"
    apt_install python3-venv
    python3 -m venv "$COFFER_TEST_VENV"
  }
fi
export PATH="$COFFER_TEST_VENV/bin:$PATH"
if ! python3 -c 'import awscli, boto3, requests, signxml' >/dev/null 2>&1 \
  || ! command -v aws >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check awscli boto3 requests signxml
fi

# The web console's browser tests (scripts/console-e2e.sh): Debian chromium driven by
# playwright-core (pinned in tests/console/package-lock.json; node >= 18).
command -v chromium >/dev/null 2>&1 || apt_install chromium
command -v npm >/dev/null 2>&1 || apt_install nodejs npm
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 18 ]; then
  echo "test-env: node $(node -v 2>/dev/null) is too old for the console tests (need >= 18)" >&2
  return 1
fi
if [ ! -d tests/console/node_modules/playwright-core ]; then
  (cd tests/console && npm ci --no-audit --no-fund)
fi
# SAML fixtures from independent signers (crates/server/tests/it/saml_federation.rs and
# crates/core/tests/saml_fixtures.rs): xmlsec1 (libxmlsec1) and python signxml sign a
# fresh set with new openssl keys on every run, besides the committed set.
for tool in openssl xmlsec1; do
  command -v "$tool" >/dev/null 2>&1 || apt_install "$tool"
done
COFFER_SAML_FIXTURES="$(mktemp -d)/saml"
python3 scripts/saml-fixtures.py "$COFFER_SAML_FIXTURES"
export COFFER_SAML_FIXTURES
# Supply-chain checks (deny.toml; scripts/test runs them): cargo-deny, pinned, built from
# crates.io once per machine (about 6 minutes on 2 cores).
export CARGO_DENY_VERSION=0.20.2
if [ "$(cargo deny --version 2>/dev/null)" != "cargo-deny $CARGO_DENY_VERSION" ]; then
  cargo install --locked --quiet "cargo-deny@$CARGO_DENY_VERSION"
fi
# The Debian package (scripts/package-deb.sh, tested by scripts/package-test.sh):
# cargo-deb, pinned, built once per machine; dpkg-shlibdeps (dpkg-dev) computes the
# package's library dependencies.
export CARGO_DEB_VERSION=3.8.0
if [ "$(cargo deb --version 2>/dev/null | awk '{print $NF}')" != "$CARGO_DEB_VERSION" ]; then
  cargo install --locked --quiet "cargo-deb@$CARGO_DEB_VERSION"
fi
command -v dpkg-shlibdeps >/dev/null 2>&1 || apt_install dpkg-dev
# PostgreSQL for the PgMetaStore conformance suite and the scale-out tests: a private
# cluster on 127.0.0.1 (installs Debian's postgresql if needed; idempotent). A cluster
# this run started is stopped when scripts/test exits (COFFER_PG_STARTED).
unset COFFER_PG_STARTED
pg_env=$(scripts/pg-test-cluster.sh)
eval "$pg_env"
