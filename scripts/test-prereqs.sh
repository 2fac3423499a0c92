#!/usr/bin/env bash
# Install the Debian packages the test suite needs beyond Python, only those that are missing; idempotent: does
# nothing (not even apt-get update) when none is. Fails loudly when one cannot be had: under CI a missing
# prerequisite fails its tests, it never skips them. Two more steps, each only when needed:
#   - binfmt_misc: mounted, and qemu-user-static's aarch64 interpreter registered (with its F flag, so that it
#     runs inside the sandbox), so that linux/arm64 images are verified by running them (tests/integration/
#     registry/test_registry_platforms.py); on an arm64 host nothing is needed;
#   - Debian .debs of a minimal Python 3.11 (python3.11-minimal, its stdlib, libc6, zlib1g, libexpat1) for amd64
#     and arm64, the two platforms of the multi-platform tests, downloaded with apt-get into
#     ${HARDEN_TEST_CACHE:-~/.cache/harden-tests}/debs/ARCH using a private apt state (the system's apt lists
#     and dpkg architectures are not changed).
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
#   qemu-user-static qemu-aarch64 for binfmt_misc: arm64 images run (and are verified) on an amd64 host
set -euo pipefail

PACKAGES=(bubblewrap musl musl-tools musl-dev busybox-static docker-registry skopeo umoci apache2-utils openssl
          qemu-user-static)
DEB_PACKAGES=(python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libc6 zlib1g libexpat1)
DEB_ARCHES=(amd64 arm64)
CACHE=${HARDEN_TEST_CACHE:-${HOME:-/root}/.cache/harden-tests}
BINFMT=/proc/sys/fs/binfmt_misc
LOCK_WAIT=${HARDEN_APT_LOCK_WAIT:-300}   # seconds to wait for another apt/dpkg (machines are shared)

log() { echo "test-prereqs: $*" >&2; }
die() { echo "test-prereqs: error: $*" >&2; exit 1; }

installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = "installed" ]; }

missing=()
for package in "${PACKAGES[@]}"; do
    installed "$package" || missing+=("$package")
done

# -- binfmt_misc: is an arm64 interpreter registered (enabled, F flag)? --------------------------------------------
needs_binfmt() {
    case $(uname -m) in aarch64|arm64) return 1 ;; esac
    [ -f "$BINFMT/status" ] || return 0
    local entry
    for entry in "$BINFMT"/*; do
        case ${entry##*/} in register|status) continue ;; esac
        [ -f "$entry" ] || continue
        if grep -qx enabled "$entry" && grep -q '^flags:.*F' "$entry" \
            && grep -q '^magic 7f454c460201010000000000000000000200b700' "$entry"; then
            return 1
        fi
    done
    return 0
}

register_binfmt() {
    local conf=/usr/lib/binfmt.d/qemu-aarch64.conf
    [ -f "$conf" ] || die "qemu-user-static is installed but $conf is missing"
    if [ ! -f "$BINFMT/status" ]; then
        "${SUDO[@]}" mount -t binfmt_misc binfmt_misc "$BINFMT" || die "cannot mount binfmt_misc on $BINFMT"
    fi
    if [ ! -e "$BINFMT/qemu-aarch64" ]; then
        grep -v '^#' "$conf" | "${SUDO[@]}" tee "$BINFMT/register" >/dev/null \
            || die "cannot register qemu-aarch64 in binfmt_misc"
    fi
    needs_binfmt && die "qemu-aarch64 is registered in binfmt_misc but not enabled with the F flag"
    log "binfmt_misc: qemu-aarch64 registered (arm64 programs run through qemu-user)"
}

# -- the .debs of a minimal Python per architecture ------------------------------------------------------------------
missing_debs=()
for arch in "${DEB_ARCHES[@]}"; do
    for package in "${DEB_PACKAGES[@]}"; do
        compgen -G "$CACHE/debs/$arch/${package}_*_$arch.deb" >/dev/null || missing_debs+=("$package:$arch")
    done
done

download_debs() {
    local state=$CACHE/apt-state
    mkdir -p "$state/lists/partial" "$state/cache/archives/partial"
    local options=(-o Dir::State::Lists="$state/lists" -o Dir::Cache="$state/cache" -o Debug::NoLocking=1
                   -o APT::Sandbox::User=root)
    local arch
    for arch in "${DEB_ARCHES[@]}"; do options+=(-o APT::Architectures::="$arch"); done
    log "downloading ${missing_debs[*]} into $CACHE/debs"
    apt-get "${options[@]}" -q update >/dev/null || die "apt-get update (private state in $state) failed"
    for arch in "${DEB_ARCHES[@]}"; do
        mkdir -p "$CACHE/debs/$arch"
        (cd "$CACHE/debs/$arch" && apt-get "${options[@]}" -q download "${DEB_PACKAGES[@]/%/:$arch}" >/dev/null) \
            || die "apt-get download of the $arch Python packages failed"
    done
}

binfmt_missing=0
if needs_binfmt; then binfmt_missing=1; fi
if [ "${#missing[@]}" -eq 0 ] && [ "${#missing_debs[@]}" -eq 0 ] && [ $binfmt_missing = 0 ]; then
    exit 0
fi
if [ "${1:-}" = "--check" ]; then
    [ "${#missing[@]}" -eq 0 ] || log "missing: ${missing[*]}"
    [ "${#missing_debs[@]}" -eq 0 ] || log "missing in $CACHE/debs: ${missing_debs[*]}"
    [ $binfmt_missing = 0 ] || log "binfmt_misc has no enabled arm64 interpreter with the F flag"
    exit 1
fi

command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install ${missing[*]} by hand (Debian/Ubuntu package names)"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "not root and no sudo: install ${missing[*]} as root"
    SUDO=(sudo -n)
fi

if [ "${#missing[@]}" -gt 0 ]; then
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
fi
if needs_binfmt; then register_binfmt; fi
if [ "${#missing_debs[@]}" -gt 0 ]; then download_debs; fi
