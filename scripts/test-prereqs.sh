#!/usr/bin/env bash
# Install the Debian packages the unit tests need that a fresh machine lacks; idempotent: installs only the
# ones missing, and does nothing (not even apt-get update) when none is. Fails loudly when one cannot be had:
# under CI a missing prerequisite fails its tests, it never skips them.
#
#   musl            musl's libc and loader (/usr/lib/x86_64-linux-musl/libc.so, /lib/ld-musl-x86_64.so.1):
#                   the Alpine fixture (tests/fixtures/alpine) and the musl loader tests run real musl
#   musl-tools      musl-gcc: the fixture's musl programs and libraries are compiled at test time
#   musl-dev        musl's headers and crt files, which musl-gcc links with
#   busybox-static  a real busybox binary (/bin/busybox) whose applet table the busybox tests read
#
# Usage: bash scripts/test-prereqs.sh        (root, or sudo without a password)
set -euo pipefail

PACKAGES=(musl musl-tools musl-dev busybox-static)
LOCK_WAIT=${HARDEN_APT_LOCK_WAIT:-300}   # seconds to wait for another apt/dpkg (machines are shared)

log() { echo "test-prereqs: $*" >&2; }
die() { echo "test-prereqs: error: $*" >&2; exit 1; }

installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = "installed" ]; }

missing=()
for package in "${PACKAGES[@]}"; do
    installed "$package" || missing+=("$package")
done
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install ${missing[*]} by hand (Debian/Ubuntu package names)"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "not root and no sudo: install ${missing[*]} as root"
    SUDO=(sudo -n)
fi

apt() {
    # -o DPkg::Lock::Timeout waits for the dpkg lock instead of failing at once when another install runs
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="$LOCK_WAIT" -q -y "$@"
}

log "installing ${missing[*]}"
apt update >/dev/null || die "apt-get update failed"
apt install --no-install-recommends "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"

for package in "${missing[@]}"; do
    installed "$package" || die "$package is still not installed"
done
log "installed ${missing[*]}"
