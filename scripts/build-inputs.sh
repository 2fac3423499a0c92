#!/usr/bin/env bash
# Print a short digest of an image's build inputs: every file under DIR (path and content; build-secrets/ is
# left out, it is machine-specific). The Makefile stamps it on the image as label io.harden.build-inputs, and
# the integration tests rebuild an image only when its label differs from the files in the work tree.
#
#   scripts/build-inputs.sh dockerfiles/python-deps   ->  e.g. 3f1c0a9b7d2e4c51
set -euo pipefail
dir=${1:?usage: scripts/build-inputs.sh DIR}
cd "$dir"
find . -type f ! -path './build-secrets/*' -print0 | LC_ALL=C sort -z \
    | xargs -0 sha256sum | sha256sum | cut -c1-16
