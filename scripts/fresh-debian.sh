#!/usr/bin/env bash
# Runs scripts/test on a fresh, minimal Debian: proves that scripts/test-env.sh installs
# everything the tests need by itself. debootstrap --variant=minbase makes the system
# (no python, curl, PostgreSQL, browser, …); the README's preconditions are added — gcc
# and CA certificates — and the Rust toolchain is this machine's (~/.rustup and ~/.cargo
# bind-mounted: rustup's download host may be unreachable). Then, chrooted, as root:
# `CI=1 scripts/test` in the checkout.
#
#   scripts/fresh-debian.sh [--suite bookworm|trixie] [--root DIR] [--checkout DIR]
#
# --checkout: the repository to test, bind-mounted at the same path inside (default: a
# fresh clone of this one under /tmp; pass an already-built clean clone, e.g. CI's, to
# reuse its target directory). Needs root, debootstrap and a Debian mirror
# (DEBIAN_MIRROR, default http://deb.debian.org/debian). The chroot shares the network:
# nothing else may use the test PostgreSQL port (54329) meanwhile.
set -euo pipefail
# Everything runs in private mount and PID namespaces: the bind mounts never propagate to
# the host and vanish with the process however it ends, and the chroot's processes (its
# `coffer` user's included) are not the host's.
if [ -z "${FRESH_DEBIAN_PRIVATE:-}" ]; then
  [ "$(id -u)" = 0 ] || { echo "fresh-debian: run as root" >&2; exit 1; }
  FRESH_DEBIAN_PRIVATE=1 exec unshare --mount --propagation private --pid --fork "$0" "$@"
fi
suite=bookworm
root=""
checkout=""
while [ $# -gt 0 ]; do
  case $1 in
    --suite) suite=$2; shift 2 ;;
    --root) root=$2; shift 2 ;;
    --checkout) checkout=$2; shift 2 ;;
    *) echo "usage: $0 [--suite S] [--root DIR] [--checkout DIR]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "fresh-debian: run as root" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "fresh-debian: apt-get install debootstrap" >&2; exit 1; }
here=$(cd "$(dirname "$0")/.." && pwd)
root=${root:-/srv/coffer-$suite}
if [ -z "$checkout" ]; then
  checkout=$(mktemp -d /tmp/coffer-fresh-XXXXXX)
  git clone -q "$here" "$checkout"
fi
checkout=$(cd "$checkout" && pwd)
if [ ! -x "$root/usr/bin/apt-get" ]; then
  debootstrap --variant=minbase "$suite" "$root" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
fi
rm -f "$root/etc/resolv.conf"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# The host's own network settings, as a machine behind the same (TLS-inspecting) egress
# proxy would have them: its local CA certificates, trusted by the chroot's tools below.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
fi

mounted=()
bind() { # bind SRC DEST-inside [ro]
  mkdir -p "$root$2"
  mount --bind "$1" "$root$2"
  mounted+=("$root$2")
  if [ "${3:-}" = ro ]; then mount -o remount,bind,ro "$root$2"; fi
}
cleanup() {
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
mkdir -p "$root/proc" "$root/sys" "$root/dev"
mount -t proc proc "$root/proc"; mounted+=("$root/proc")
bind /sys /sys
bind /dev /dev
bind /dev/pts /dev/pts
mkdir -p "$root/dev/shm"
mount -t tmpfs -o mode=1777 shm "$root/dev/shm"; mounted+=("$root/dev/shm")
# The toolchain read-only; cargo's registry cache writable; tools `cargo install` builds
# in the chroot (cargo-deny, cargo-deb) go to the chroot's own /opt/cargo, never into the
# host's ~/.cargo/bin.
bind "$HOME/.rustup" /root/.rustup ro
bind "$HOME/.cargo/bin" /root/.cargo/bin ro
bind "$HOME/.cargo/registry" /root/.cargo/registry
bind "$checkout" "$checkout"
# The s3-tests checkout and runner (scripts/s3tests-local.sh looks in /work/shared).
if [ -d "$here/../shared/s3-tests" ]; then
  bind "$(cd "$here/../shared" && pwd)" /work/shared
fi

echo "fresh-debian: $(chroot "$root" sh -c '. /etc/os-release; echo "$PRETTY_NAME"') in $root; testing $checkout"
chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb \
  CARGO_INSTALL_ROOT=/opt/cargo \
  SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
  REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt CURL_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \
  NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
  PATH=/opt/cargo/bin:/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  bash -c "
    set -euo pipefail
    export DEBIAN_FRONTEND=noninteractive
    # The README's preconditions: gcc (and libc headers) to build, CA certificates to fetch crates.
    apt-get update -qq
    apt-get install -y -qq gcc libc6-dev ca-certificates >/dev/null
    update-ca-certificates >/dev/null
    cd '$checkout'
    CI=1 scripts/test
  "
