#!/usr/bin/env bash
# Build a musl CPython for the tests: the pure-Python app on a musl interpreter (tests/fixtures/alpine) that
# `harden image --runner sandbox` verifies end to end. No Alpine image can be pulled on these machines and no
# registry this project reaches ships a musl CPython (PyPI's musllinux wheels are extension modules; the npm and
# PyPI "portable/standalone Python" packages download their builds from elsewhere at install time), so CPython is
# built here from Debian's own source package of it (apt-get source: the upstream tarball, checked against the
# signed index) with Debian's musl-gcc (musl-tools), installed where python:3.11-alpine has it (/usr/local,
# libpython3.11.so.1.0 beside, the loader /lib/ld-musl-x86_64.so.1).
#
#   scripts/musl-python.sh            build into the cache when it is not there (5 to 10 minutes on 2 cores)
#   scripts/musl-python.sh --check    exit 1 when it is not built; print where it is otherwise
#   scripts/musl-python.sh --print    print where it is (built or not)
#
# Where: $HARDEN_MUSL_PYTHON, else ${XDG_CACHE_HOME:-~/.cache}/harden/musl-cpython-3.11. The result:
#   DEST/root/usr/local/...        the install (DESTDIR), as it goes into an image
#   DEST/python                    runs it on this machine (LD_LIBRARY_PATH and PYTHONHOME set)
#   DEST/VERSION                   the source package version it was built from
# Modules that need libraries musl-gcc has no headers for here (ssl, zlib, ctypes/ffi, lzma, bz2, sqlite3,
# readline, curses, dbm, tkinter, uuid's libuuid) are not built; the pure-Python stdlib and the extension
# modules without outside libraries are. Needs musl-tools (scripts/test-prereqs.sh) and make.
set -euo pipefail

SOURCE_PACKAGE=${HARDEN_MUSL_PYTHON_SOURCE:-python3.11}
DEST=${HARDEN_MUSL_PYTHON:-${XDG_CACHE_HOME:-$HOME/.cache}/harden/musl-cpython-3.11}

log() { echo "musl-python: $*" >&2; }
die() { echo "musl-python: error: $*" >&2; exit 1; }

built() {
    [ -x "$DEST/python" ] && "$DEST/python" -c \
        'import sys, sysconfig; sys.exit("musl" not in sysconfig.get_config_var("HOST_GNU_TYPE"))' 2>/dev/null
}

case "${1:-}" in
    --print) echo "$DEST"; exit 0 ;;
    --check) if built; then echo "$DEST"; exit 0; fi; log "not built at $DEST (run scripts/musl-python.sh)"; exit 1 ;;
    "") ;;
    *) die "usage: scripts/musl-python.sh [--check|--print]" ;;
esac
if built; then
    exit 0
fi
command -v musl-gcc >/dev/null 2>&1 || die "musl-gcc not found (Debian package musl-tools: scripts/test-prereqs.sh)"
command -v make >/dev/null 2>&1 || die "make not found"
command -v apt-get >/dev/null 2>&1 || die "apt-get not found: the CPython source comes from Debian's source package"

work=$(mktemp -d "${TMPDIR:-/tmp}/musl-python.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Debian's source index for this machine's own apt sources (deb-src beside each deb entry), in a private apt
# state directory: the system's apt lists are not touched.
mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/apt/sources.list.d"
for file in /etc/apt/sources.list.d/*.sources; do
    [ -f "$file" ] && sed -E 's/^Types:.*/Types: deb-src/' "$file" > "$work/apt/sources.list.d/$(basename "$file")"
done
: > "$work/apt/sources.list"
for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$file" ] && sed -nE 's/^deb[[:space:]]+/deb-src /p' "$file" >> "$work/apt/sources.list"
done
apt_opts=(-o "Dir::Etc::SourceList=$work/apt/sources.list" -o "Dir::Etc::SourceParts=$work/apt/sources.list.d"
          -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache" -o "APT::Sandbox::User=root")
log "fetching Debian's source index"
apt-get "${apt_opts[@]}" -qq update >&2 || die "apt-get update (deb-src) failed"
mkdir "$work/src"
log "fetching the source of $SOURCE_PACKAGE"
# The upstream tarball is what is built (Debian's patches are for Debian's layout). apt checks every file it
# fetches against the signed index; a newer revision whose .dsc a mirror lacks still leaves the tarball.
(cd "$work/src" && apt-get "${apt_opts[@]}" -qq source --download-only "$SOURCE_PACKAGE" >&2) || true
tarball=$(find "$work/src" -maxdepth 1 -name "${SOURCE_PACKAGE}_*.orig.tar.*" | head -n 1)
[ -n "$tarball" ] || die "no upstream tarball of $SOURCE_PACKAGE could be fetched"
version=$(basename "$tarball" | sed -E "s/^${SOURCE_PACKAGE}_(.*)\.orig\.tar\..*/\1/")
tar -xf "$tarball" -C "$work/src"
tree=$(find "$work/src" -maxdepth 1 -type d -name 'Python-*' | head -n 1)
[ -n "$tree" ] || die "the tarball holds no Python-* tree"

# musl-gcc wraps the host gcc, whose multiarch (x86_64-linux-gnu) CPython's configure rejects for a musl triplet
# and setup.py would turn into -I/usr/include/x86_64-linux-gnu (glibc's headers): name none. pkg-config would
# hand out the host's (glibc) zlib and libffi: none either.
mkdir "$work/bin"
cat > "$work/bin/musl-cc" <<'EOF'
#!/bin/sh
case "$1" in --print-multiarch|-print-multiarch) exit 0 ;; esac
exec musl-gcc "$@"
EOF
printf '#!/bin/sh\nexit 1\n' > "$work/bin/dpkg-architecture"
chmod +x "$work/bin/musl-cc" "$work/bin/dpkg-architecture"
export PATH="$work/bin:$PATH" PKG_CONFIG_LIBDIR=/nonexistent PKG_CONFIG_PATH=

log "building CPython $version with musl-gcc (configure, make -j$(nproc))"
(
    cd "$tree"
    CC="$work/bin/musl-cc" ./configure --prefix=/usr/local --enable-shared --without-ensurepip \
        --disable-test-modules > "$work/configure.log" 2>&1 || { tail -n 30 "$work/configure.log" >&2; exit 1; }
    nice make -j"$(nproc)" > "$work/make.log" 2>&1 || { tail -n 40 "$work/make.log" >&2; exit 1; }
    make install DESTDIR="$work/root" > "$work/install.log" 2>&1 || { tail -n 30 "$work/install.log" >&2; exit 1; }
) || die "building CPython failed (above)"
# What the python:3.11-alpine Dockerfile deletes after its `make install`: test suites, bytecode, the static
# libpython (45 MB). __pycache__ folders go too (the image's were emptied by that as well).
find "$work/root/usr/local" -depth \( \( -type d -a \( -name test -o -name tests -o -name idle_test \) \) \
    -o \( -type f -a \( -name '*.pyc' -o -name '*.pyo' -o -name 'libpython*.a' \) \) \) -exec rm -rf '{}' +
find "$work/root" -depth -type d -name __pycache__ -empty -delete

rm -rf "$DEST.new" && mkdir -p "$DEST.new"
mv "$work/root" "$DEST.new/root"
echo "$SOURCE_PACKAGE $version (upstream tarball of Debian's source package), musl-gcc $(musl-gcc -dumpversion)" \
    > "$DEST.new/VERSION"
cat > "$DEST.new/python" <<'EOF'
#!/bin/sh
# The musl CPython in root/usr/local, run on this machine (the musl loader is Debian's /lib/ld-musl-x86_64.so.1).
here=$(dirname "$(readlink -f "$0")")
LD_LIBRARY_PATH="$here/root/usr/local/lib" PYTHONHOME="$here/root/usr/local" \
    exec "$here/root/usr/local/bin/python3.11" "$@"
EOF
chmod +x "$DEST.new/python"
rm -rf "$DEST" && mkdir -p "$(dirname "$DEST")" && mv "$DEST.new" "$DEST"
built || die "the built interpreter does not run as a musl CPython ($DEST/python)"
log "built: $DEST ($(cat "$DEST/VERSION"))"
