"""Package URLs of OS packages (https://github.com/package-url/purl-spec: PURL-TYPES ``deb`` and ``apk``).

``pkg:deb/<debian|ubuntu>/<name>@<version>?arch=<arch>&distro=<id>-<version_id>``: as harden's SBOM has
always written them (the SBOM takes its purls from here).

``pkg:apk/<vendor>/<name>@<version>?arch=<arch>&distro=<id>-<version_id>&upstream=<origin>``: the apk type
definition makes the namespace the vendor (``alpine``, ``wolfi``, ``chainguard``: the os-release ``ID``),
lowercases namespace and name, and defines ``arch``; ``distro`` is the purl spec's common qualifier, written
like Syft's and Clair's (``alpine-3.19.1``); ``upstream`` names the origin (source) package when it is not
the package itself, as Syft writes it: Alpine's security database is keyed on the origin, and Grype reads it
back from an SBOM. Qualifier keys are sorted, as the spec asks.
"""

from __future__ import annotations

from urllib.parse import quote


def _version(version: str) -> str:
    return quote(version, safe=".-_~")


def _qualifiers(pairs: list[tuple[str, str]]) -> str:
    present = sorted((key, value) for key, value in pairs if value)
    return "?" + "&".join(f"{key}={quote(value, safe='.-_~')}" for key, value in present) if present else ""


def deb_purl(namespace: str, name: str, version: str, arch: str, distro: str) -> str:
    qualifiers = [f"arch={quote(arch, safe='')}"] if arch else []
    if distro:
        qualifiers.append(f"distro={quote(distro, safe='.-_~')}")
    query = "?" + "&".join(qualifiers) if qualifiers else ""
    return f"pkg:deb/{namespace}/{quote(name, safe='.-_~+')}@{_version(version)}{query}"


def apk_purl(vendor: str, name: str, version: str, arch: str = "", distro: str = "", upstream: str = "") -> str:
    namespace = quote((vendor or "alpine").lower(), safe=".-_~")
    qualifiers = _qualifiers([("arch", arch), ("distro", distro), ("upstream", upstream)])
    return f"pkg:apk/{namespace}/{quote(name.lower(), safe='.-_~+')}@{_version(version)}{qualifiers}"
