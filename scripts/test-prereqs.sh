#!/usr/bin/env bash
# Install the Debian packages the test suite needs beyond Python, only those that are missing.
#
#   scripts/test-prereqs.sh            install what is missing (root; apt-get), idempotent
#   scripts/test-prereqs.sh --check    only say what is missing; exit 1 if anything is
#
# Registry tests (tests/integration/registry, marker `registry`):
#   docker-registry  distribution 2.8 (/usr/bin/docker-registry), started by the tests on 127.0.0.1 — its
#                    systemd service is not used (and policy-rc.d keeps apt from starting it)
#   skopeo           the independent client the tests check pushes and pulls with
#   apache2-utils    htpasswd -B, for the basic-auth registry's bcrypt password file
#   openssl          the self-signed TLS certificate and the token service's JWT signatures
# apt-get is retried while another process holds the dpkg lock (machines are shared).
set -euo pipefail

PACKAGES=(docker-registry skopeo apache2-utils openssl)
LOCK_WAIT=${HARDEN_APT_LOCK_WAIT:-300}

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "test-prereqs: all present (${PACKAGES[*]})" >&2
    exit 0
fi
if [[ ${1:-} == --check ]]; then
    echo "test-prereqs: missing: ${missing[*]}" >&2
    exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "test-prereqs: missing ${missing[*]}; run this script as root (it uses apt-get)" >&2
    exit 1
fi
command -v apt-get >/dev/null || { echo "test-prereqs: apt-get not found; install ${missing[*]} by hand" >&2; exit 1; }

echo "test-prereqs: installing ${missing[*]}" >&2
# Keep apt from starting the registry's own service: the tests run their own registries.
policy=/usr/sbin/policy-rc.d
added_policy=0
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && added_policy=1
fi
remove_policy() { if [[ $added_policy -eq 1 ]]; then rm -f "$policy"; fi; }
trap remove_policy EXIT

export DEBIAN_FRONTEND=noninteractive
apt_opts=(-o "DPkg::Lock::Timeout=$LOCK_WAIT" -q)
apt-get "${apt_opts[@]}" update >&2
apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}" >&2

for pkg in "${missing[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || { echo "test-prereqs: $pkg did not install" >&2; exit 1; }
done
echo "test-prereqs: installed ${missing[*]}" >&2
