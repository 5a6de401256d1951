# Sourced by scripts/test: installs (idempotently, skipping what is present) what the
# tests need on a fresh Debian machine, then exports the test environment:
# COFFER_SAML_FIXTURES (a fresh SAML fixture set signed with new keys) and
# COFFER_TEST_POSTGRES_URL (a private PostgreSQL cluster, scripts/pg-test-cluster.sh).
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi
if ! command -v aws >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check awscli
fi
# boto3 drives the container-credentials end-to-end test (crates/server/tests/it/temp_credentials.rs);
# boto3 + requests the signature-coverage test (crates/server/tests/it/security.rs).
if ! python3 -c 'import boto3, requests' >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check boto3 requests \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages boto3 requests
fi
command -v curl >/dev/null 2>&1 || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq curl; }
# The web console's browser tests (scripts/console-e2e.sh): Debian chromium driven by
# playwright-core (pinned in tests/console/package-lock.json), which needs node >= 20.
if ! command -v chromium >/dev/null 2>&1; then
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium
fi
if ! command -v npm >/dev/null 2>&1; then
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq nodejs npm
fi
if [ ! -d tests/console/node_modules/playwright-core ]; then
  (cd tests/console && npm ci --no-audit --no-fund)
fi
# SAML fixtures from independent signers (crates/server/tests/it/saml_federation.rs and
# crates/core/tests/saml_fixtures.rs): xmlsec1 (libxmlsec1) and python signxml sign a
# fresh set with new openssl keys on every run, besides the committed set.
for tool in openssl xmlsec1; do
  command -v "$tool" >/dev/null 2>&1 || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "$tool"; }
done
if ! python3 -c 'import signxml' >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check signxml \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages signxml
fi
COFFER_SAML_FIXTURES="$(mktemp -d)/saml"
python3 scripts/saml-fixtures.py "$COFFER_SAML_FIXTURES"
export COFFER_SAML_FIXTURES
# Supply-chain checks (deny.toml; scripts/test runs them): cargo-deny, pinned, built from
# crates.io once per machine (about 6 minutes on 2 cores).
export CARGO_DENY_VERSION=0.20.2
if [ "$(cargo deny --version 2>/dev/null)" != "cargo-deny $CARGO_DENY_VERSION" ]; then
  cargo install --locked --quiet "cargo-deny@$CARGO_DENY_VERSION"
fi
# PostgreSQL for the PgMetaStore conformance suite and the scale-out tests: a private
# cluster on 127.0.0.1 (installs Debian's postgresql if needed; idempotent).
eval "$(scripts/pg-test-cluster.sh)"

