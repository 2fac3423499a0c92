#!/usr/bin/env bash
# Install the Debian packages the unit tests use as outside tools, only those missing.
#
#   scripts/test-prereqs.sh          install what is missing (needs root and apt-get); quiet when nothing is
#   scripts/test-prereqs.sh --check  only say what is missing; exit 1 if anything is
#
# The tools and why (tests/unit/attest):
#   openssl  verifies harden's DSSE signatures over the PAE, and writes keys the way users do
#   umoci    reads an OCI layout after referrers were added to it (ls, stat, unpack)
#   skopeo   reads and copies the tagged image of that layout
# Under CI a missing tool fails those tests instead of skipping them, so CI must run this first.
# Idempotent: a tool already on PATH is left alone. apt-get runs with retries while another dpkg holds the lock.
set -euo pipefail

# command -> Debian package
TOOLS=(openssl:openssl umoci:umoci skopeo:skopeo)
LOCK_WAIT=${HARDEN_APT_LOCK_WAIT:-300}

log() { echo "test-prereqs: $*" >&2; }
die() { echo "test-prereqs: error: $*" >&2; exit 1; }

missing=()
for pair in "${TOOLS[@]}"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "${1:-}" = "--check" ]; then
    log "missing: ${missing[*]}"
    exit 1
fi
[ "$(id -u)" = 0 ] || die "missing ${missing[*]}; run as root (or: sudo apt-get install ${missing[*]})"
command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and apt-get is not available to install them"

apt_install() {  # apt_install PKG...: install, waiting for the dpkg lock rather than failing on it
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="$LOCK_WAIT" install -y -q \
        --no-install-recommends "$@" >&2
}

log "installing ${missing[*]}"
if ! apt_install "${missing[@]}"; then
    log "install failed; refreshing the package lists and trying again"
    apt-get -o DPkg::Lock::Timeout="$LOCK_WAIT" update -q >&2 || die "apt-get update failed"
    apt_install "${missing[@]}" || die "apt-get could not install ${missing[*]}"
fi

for pair in "${TOOLS[@]}"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || die "${pair%%:*} is still missing after installing ${pair#*:}"
done
log "installed ${missing[*]}"
