"""CycloneDX 1.5 JSON SBOMs of the original and hardened images, and their diff.

Components carry purls scanners match on (``pkg:pypi/name@version``, ``pkg:deb/debian/name@version?arch=…``,
``pkg:apk/alpine/name@version?arch=…&distro=alpine-3.19.1``: ``harden.ospkg.purl``) and, for apk, the licence;
``harden:location`` says where each is installed, so two copies of one distribution in two environments stay
two components. The serial number is derived from the content, so the same image gives the same SBOM.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

from harden import __version__
from harden.image.files import image_path
from harden.report.model import Component, OsInfo

SPEC_VERSION = "1.5"
_NAMESPACE = uuid.UUID("6f1c1a8e-58c4-4f55-9a51-3b0f1f0e4a11")


def _component(component: Component, ref: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": "library",
        "bom-ref": ref,
        "name": component.name,
        "version": component.version,
        "purl": component.purl,
    }
    if component.license:
        data["licenses"] = [{"license": {"name": component.license}}]
    data["properties"] = [
        {"name": "harden:ecosystem", "value": component.ecosystem},
        {"name": "harden:location", "value": image_path(component.location)},
        {"name": "harden:size-bytes", "value": str(component.bytes)},
        {"name": "harden:size-source", "value": component.size_source},
    ]
    return data


def cyclonedx(components: Sequence[Component], *, subject: str, digest: str | None, side: str,
              generated_at: str, platform: str = "", os: OsInfo | None = None) -> dict[str, Any]:
    """A CycloneDX 1.5 BOM of ``components`` for the image ``subject`` (``side``: original | hardened);
    ``os`` names the image's OS and package database in the image component's properties."""
    purls = Counter(c.purl for c in components)
    refs = [c.purl if purls[c.purl] == 1 else f"{c.purl}#{image_path(c.location)}" for c in components]
    fingerprint = hashlib.sha256("\n".join([side, subject, digest or "", *refs]).encode()).hexdigest()
    image: dict[str, Any] = {"type": "container", "bom-ref": "image", "name": subject}
    if digest:
        image["version"] = digest
        algorithm, _, value = digest.partition(":")
        if algorithm == "sha256" and len(value) == 64:
            image["hashes"] = [{"alg": "SHA-256", "content": value}]
    image["properties"] = [{"name": "harden:side", "value": side}]
    if platform:
        image["properties"].append({"name": "harden:platform", "value": platform})
    if os is not None:
        image["properties"].append({"name": "harden:os", "value": os.label})
        image["properties"].append({"name": "harden:package-db", "value": os.package_db})
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{uuid.uuid5(_NAMESPACE, fingerprint)}",
        "version": 1,
        "metadata": {
            "timestamp": generated_at,
            "tools": {"components": [{"type": "application", "name": "harden", "version": __version__}]},
            "component": image,
        },
        "components": [_component(c, ref) for c, ref in zip(components, refs, strict=True)],
    }


def _brief(component: Component) -> dict[str, Any]:
    return {
        "ecosystem": component.ecosystem,
        "name": component.name,
        "version": component.version,
        "purl": component.purl,
        "location": image_path(component.location),
    }


def sbom_diff(before: Sequence[Component], after: Sequence[Component], *, before_file: str,
              after_file: str) -> dict[str, Any]:
    """Components added, removed and changed (same ecosystem, name and location; another version)."""
    old = {c.key: c for c in before}
    new = {c.key: c for c in after}
    added = [_brief(new[k]) for k in sorted(new.keys() - old.keys())]
    removed = [_brief(old[k]) for k in sorted(old.keys() - new.keys())]
    changed = []
    unchanged = 0
    for key in sorted(old.keys() & new.keys()):
        a, b = old[key], new[key]
        if a.version == b.version:
            unchanged += 1
            continue
        changed.append({
            "ecosystem": a.ecosystem, "name": b.name, "location": image_path(a.location),
            "before": a.version, "after": b.version, "purl_before": a.purl, "purl_after": b.purl,
        })
    return {
        "schema_version": 1,
        "before": before_file,
        "after": after_file,
        "summary": {"added": len(added), "removed": len(removed), "changed": len(changed),
                    "unchanged": unchanged},
        "added": added,
        "removed": removed,
        "changed": changed,
    }
