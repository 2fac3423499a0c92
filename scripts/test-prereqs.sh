#!/usr/bin/env bash
# Install the Debian packages the test suite needs beyond Python, only those that are missing; idempotent: does
# nothing (not even apt-get update) when none is. Fails loudly when one cannot be had: under CI a missing
# prerequisite fails its tests, it never skips them.
#
#   scripts/test-prereqs.sh            install what is missing (root, or sudo without a password; apt-get)
#   scripts/test-prereqs.sh --check    only say what is missing; exit 1 if anything is
#
# The packages and why:
#   bubblewrap       bwrap: the sandbox runner verifies images without an engine (tests/unit/verify, hostile)
#   musl             musl's libc and loader: the Alpine fixture (tests/fixtures/alpine) and the musl loader tests
#   musl-tools       musl-gcc: the fixture's musl programs and libraries are compiled at test time
#   musl-dev         musl's headers and crt files, which musl-gcc links with
#   busybox-static   a real busybox binary whose applet table the busybox tests read
#   docker-registry  distribution 2.8 (/usr/bin/docker-registry), started by the registry tests on 127.0.0.1;
#                    its own systemd service is never used (policy-rc.d keeps apt from starting it)
#   skopeo           the independent OCI client the registry and attestation tests check results with
#   umoci            another independent OCI client: reads a layout after referrers were added to it
#   apache2-utils    htpasswd -B, for the basic-auth registry's bcrypt password file
#   openssl          TLS certificates and JWTs for the registry tests; verifies harden's DSSE signatures
set -euo pipefail

PACKAGES=(bubblewrap musl musl-tools musl-dev busybox-static docker-registry skopeo umoci apache2-utils openssl)
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
if [ "${1:-}" = "--check" ]; then
    log "missing: ${missing[*]}"
    exit 1
fi

command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install ${missing[*]} by hand (Debian/Ubuntu package names)"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "not root and no sudo: install ${missing[*]} as root"
    SUDO=(sudo -n)
fi

# Keep apt from starting services (docker-registry's): the tests run their own registries.
policy=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null && "${SUDO[@]}" chmod 755 "$policy" \
        && added_policy=1
fi
remove_policy() { if [ "$added_policy" = 1 ]; then "${SUDO[@]}" rm -f "$policy"; fi; }
trap remove_policy EXIT

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
