#!/usr/bin/env bash
# Resolve the Python base image the Dockerfiles build FROM (their BASE_IMAGE build-arg) and print its
# reference on stdout (diagnostics on stderr). Needs an engine: DOCKER_HOST as `scripts/engine.sh` sets it.
#
# First that works wins:
#   1. HARDEN_BASE_IMAGE, when set: that image, pulled if missing (fails when it cannot be had).
#   2. the upstream image HARDEN_UPSTREAM_BASE (default python:3.11-slim), present or pulled within
#      HARDEN_PULL_TIMEOUT seconds (default 30): what real users get.
#   3. the local bootstrap image HARDEN_BOOTSTRAP_IMAGE (default localhost/harden-bootstrap/python:3.11-bookworm),
#      when it was imported before: the cache, no debootstrap.
#   4. no registry: debootstrap a Debian bookworm minbase with python3, venv, pip, setuptools, wheel and
#      ca-certificates (root, ~40 s) and import it under that name. Debian's python is /usr/bin/python3, the
#      official image's /usr/local/bin/python3: the Dockerfiles only ever call `python3`.
set -euo pipefail

UPSTREAM=${HARDEN_UPSTREAM_BASE:-python:3.11-slim}
BOOTSTRAP=${HARDEN_BOOTSTRAP_IMAGE:-localhost/harden-bootstrap/python:3.11-bookworm}
SUITE=${HARDEN_BOOTSTRAP_SUITE:-bookworm}
MIRROR=${HARDEN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
PULL_TIMEOUT=${HARDEN_PULL_TIMEOUT:-30}
PACKAGES=python3,python3-venv,python3-pip,python3-setuptools,python3-wheel,ca-certificates

log() { echo "base-image: $*" >&2; }
die() { echo "base-image: error: $*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# The docker CLI where installed, else podman as a remote client of the same engine.
if have docker; then
    DK=(docker)
else
    DK=(podman --remote --url "${DOCKER_HOST:?DOCKER_HOST is not set: run scripts/engine.sh}")
fi
dk() { "${DK[@]}" "$@"; }

present() { dk image inspect "$1" >/dev/null 2>&1; }

try_pull() {
    log "pulling $1 (at most ${PULL_TIMEOUT}s)"
    timeout "$PULL_TIMEOUT" "${DK[@]}" pull "$1" >&2
}

unmount_under() {  # lazily unmount whatever debootstrap left mounted below $1 (deepest first)
    local target
    if have findmnt; then
        { findmnt -rn -o TARGET | grep -F "$1/" || true; } | sort -r | while read -r target; do
            umount -l "$target" 2>/dev/null || true
        done
    fi
}

bootstrap() {
    [ "$(id -u)" = 0 ] || die "no registry answers and bootstrapping a base needs root (debootstrap); \
or pass HARDEN_BASE_IMAGE=<an image you have>"
    if ! have debootstrap; then
        have apt-get || die "debootstrap is missing and apt-get is not available to install it"
        log "installing debootstrap"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap debian-archive-keyring >&2 \
            || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
                 debootstrap debian-archive-keyring >&2; } \
            || die "apt-get could not install debootstrap"
    fi
    local work
    work=$(mktemp -d "${TMPDIR:-/var/tmp}/harden-bootstrap.XXXXXX")
    # --one-file-system: debootstrap may bind-mount the host's /dev into the target; never delete through it.
    trap 'unmount_under "'"$work"'"; rm -rf --one-file-system "'"$work"'"' EXIT
    local started=$SECONDS
    log "debootstrap --variant=minbase $SUITE with $PACKAGES (from $MIRROR)"
    debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$work/rootfs" "$MIRROR" >&2 \
        || die "debootstrap failed (see above)"
    unmount_under "$work"
    # What a container image should not carry: downloaded .debs, apt lists, the host's resolv.conf/hostname.
    rm -rf "$work/rootfs"/var/cache/apt/archives/*.deb "$work/rootfs"/var/lib/apt/lists/* \
        "$work/rootfs"/var/log/* "$work/rootfs"/tmp/* "$work/rootfs"/var/tmp/*
    : >"$work/rootfs/etc/resolv.conf"
    echo localhost >"$work/rootfs/etc/hostname"
    : >"$work/rootfs/etc/machine-id"
    [ -x "$work/rootfs/usr/bin/python3" ] || die "the bootstrapped tree has no /usr/bin/python3"
    log "importing as $BOOTSTRAP"
    touch "$work/import-started"
    tar -C "$work/rootfs" --numeric-owner --xattrs --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -cf - . \
        | dk import \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'ENV LANG=C.UTF-8' \
            --change 'CMD ["python3"]' \
            --message "harden: debootstrap --variant=minbase $SUITE + $PACKAGES" \
            - "$BOOTSTRAP" >&2 \
        || die "importing the bootstrapped tree failed"
    # podman 4.3's Docker-API import leaves its upload (the whole tree, ~200 MB) in /var/tmp/api_load.tar*;
    # remove the one this import made, when the engine is local.
    find /var/tmp -maxdepth 1 -name 'api_load.tar*' -type f -newer "$work/import-started" -delete 2>/dev/null || true
    log "bootstrapped $BOOTSTRAP in $((SECONDS - started))s"
}

if [ -n "${HARDEN_BASE_IMAGE:-}" ] && [ "$HARDEN_BASE_IMAGE" != "$BOOTSTRAP" ]; then
    present "$HARDEN_BASE_IMAGE" || try_pull "$HARDEN_BASE_IMAGE" \
        || die "HARDEN_BASE_IMAGE=$HARDEN_BASE_IMAGE is neither present nor pullable"
    echo "$HARDEN_BASE_IMAGE"
    exit 0
fi

if [ -z "${HARDEN_BASE_IMAGE:-}" ]; then
    if present "$UPSTREAM"; then
        log "using $UPSTREAM (present)"
        echo "$UPSTREAM"
        exit 0
    fi
    if try_pull "$UPSTREAM"; then
        log "using $UPSTREAM (pulled)"
        echo "$UPSTREAM"
        exit 0
    fi
    log "$UPSTREAM cannot be pulled: no registry reachable; using a local Debian $SUITE base instead"
fi

if present "$BOOTSTRAP"; then
    log "using $BOOTSTRAP (bootstrapped earlier; delete it to rebuild)"
else
    bootstrap
fi
echo "$BOOTSTRAP"
