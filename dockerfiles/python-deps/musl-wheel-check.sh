#!/bin/sh
# Run by the Dockerfile's builder stage before the install (see musl-wheels.md): on a musl base
# (python:3.11-alpine), stop in seconds, naming every pinned distribution that has no wheel for this
# interpreter, before the long install runs into a source build the builder stage has no compiler for.
#
#   musl-wheel-check.sh PYTHON CONSTRAINTS [extra pip options...]
#
# Does nothing (exit 0) for a glibc-linked interpreter. On musl, resolves the pins with `pip install --dry-run --no-deps
# --only-binary=:all:` (pip's own index configuration, so a mirror or a TLS-inspecting proxy works as for the
# install); pip stops at the first pin it cannot satisfy, so each failure is recorded, that pin set aside and
# the rest tried again: one pip run per missing pin, plus one. MUSL_SDIST_OK (default: pyspark) names
# distributions that publish only an sdist that is pure Python (builds without a compiler): not checked.
# The extra options are for testing the check from a glibc machine (--platform musllinux_1_2_x86_64 ...).
set -eu

PYTHON=$1
CONSTRAINTS=$2
shift 2
SDIST_OK=${MUSL_SDIST_OK:-pyspark}

# Whether this interpreter is linked against musl (a musl loader file alone proves nothing: Debian's musl
# package installs one beside glibc). CPython's build records its host triple (x86_64-pc-linux-musl).
is_musl() {
    "$PYTHON" -c 'import sys, sysconfig; sys.exit("musl" not in (sysconfig.get_config_var("HOST_GNU_TYPE") or ""))'
}
if [ -z "${MUSL_WHEEL_CHECK_FORCE:-}" ] && ! is_musl; then
    exit 0
fi

pins=$(mktemp)
trap 'rm -f "$pins" "$pins.next"' EXIT
grep -Ev '^[[:space:]]*(#|$)' "$CONSTRAINTS" > "$pins"
for name in $(echo "$SDIST_OK" | tr ',' ' '); do
    grep -Eiv "^${name}[[:space:]]*==" "$pins" > "$pins.next" || true
    mv "$pins.next" "$pins"
done

missing=""
while [ -s "$pins" ]; do
    if out=$("$PYTHON" -m pip install --dry-run --quiet --no-deps --ignore-installed --only-binary=:all: \
            "$@" -r "$pins" 2>&1); then
        break
    fi
    pin=$(printf '%s\n' "$out" | sed -n 's/.*No matching distribution found for \([^[:space:]]*\).*/\1/p' | head -n 1)
    if [ -z "$pin" ]; then
        printf '%s\n' "$out" >&2
        echo "ERROR: the musl wheel check failed for another reason (above)" >&2
        exit 1
    fi
    missing="$missing $pin"
    grep -vxF "$pin" "$pins" > "$pins.next" || true
    mv "$pins.next" "$pins"
done

if [ -n "$missing" ]; then
    echo "ERROR: BASE_IMAGE is musl-based (Alpine) and these pinned distributions have no musllinux wheel for" >&2
    echo "ERROR: $("$PYTHON" -c 'import sys; print("CPython %d.%d" % sys.version_info[:2])'):$missing" >&2
    echo "ERROR: building them from source needs a toolchain this stage does not install (scikit-learn: C/C++," >&2
    echo "ERROR: Cython, OpenMP). Use a glibc base (python:3.11-slim), or a musl wheel-builder stage." >&2
    exit 1
fi
