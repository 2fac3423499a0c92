"""``oci:DIR[:REF]`` — an OCI image layout directory (``oci-layout``, ``index.json``, ``blobs/<alg>/<hex>``).

The index may point at manifests directly or at nested indexes (multi-platform images); a nested index is
narrowed to the host platform. ``REF`` matches the ``org.opencontainers.image.ref.name`` annotation (or the
``io.containerd.image.name`` one Docker writes). Manifests and configs are checked against their digests.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harden.errors import BadArchive, ImageNotFound, UsageError
from harden.image.model import Image
from harden.image.reference import ImageRef, names_match
from harden.image.sources._archive import BlobReader, DirTree
from harden.image.sources._common import (
    blob_name,
    check_digest,
    config_digest,
    expect,
    load_json,
    make_layers,
    parse_config,
    verify_bytes,
)

REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"
INDEX_TYPES = frozenset(
    {"application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"}
)
MANIFEST_TYPES = frozenset(
    {"application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"}
)
_MAX_DEPTH = 4
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def open_image(ref: ImageRef, workspace: Path) -> Image:
    if ref.path is None:
        raise UsageError(f"{ref}: missing path")
    reader = DirTree(ref.path, f"oci layout {ref.path}")
    return read_oci_layout(reader, selector=ref.name, index=ref.index, reference=str(ref))


@dataclass(frozen=True, slots=True)
class _Candidate:
    descriptor: Mapping[str, Any]
    names: tuple[str, ...]

    @property
    def platform(self) -> str:
        plat = self.descriptor.get("platform") or {}
        return f"{plat.get('os', '?')}/{plat.get('architecture', '?')}"


def read_oci_layout(
    reader: BlobReader, *, selector: str | None = None, index: int | None = None, reference: str = ""
) -> Image:
    where = reader.description
    if not reader.exists("oci-layout"):
        raise BadArchive(f"{where}: missing oci-layout (not an OCI image layout, or truncated)")
    layout = load_json(reader, "oci-layout")
    expect(isinstance(layout, dict) and "imageLayoutVersion" in layout, where, "oci-layout has no version")
    if not reader.exists("index.json"):
        raise BadArchive(f"{where}: missing index.json")
    top = load_json(reader, "index.json")
    candidates = _candidates(reader, top, (), where, "index.json", 0)
    expect(bool(candidates), where, "index.json lists no image manifest")
    chosen = _select(candidates, selector, index, where)

    digest = check_digest(chosen.descriptor.get("digest"), f"{where}: manifest descriptor")
    manifest_bytes = reader.read_bytes(blob_name(digest))
    verify_bytes(manifest_bytes, digest, f"{where}: manifest {digest}")
    manifest = _as_json(manifest_bytes, where, f"manifest {digest}")
    expect(isinstance(manifest, dict), where, f"manifest {digest} is not an object")
    config_desc = manifest.get("config")
    expect(isinstance(config_desc, dict), where, f"manifest {digest} has no config")
    config_dig = check_digest(config_desc.get("digest"), f"{where}: config descriptor")
    config_bytes = reader.read_bytes(blob_name(config_dig))
    verify_bytes(config_bytes, config_dig, f"{where}: config {config_dig}")
    config = parse_config(config_bytes, f"{where}: config {config_dig}")

    layer_descs = manifest.get("layers")
    expect(isinstance(layer_descs, list), where, f"manifest {digest} has no layers list")
    names = [
        blob_name(check_digest(d.get("digest") if isinstance(d, dict) else None, f"{where}: layers[{i}]"))
        for i, d in enumerate(layer_descs)
    ]
    layers = make_layers(reader, names, config, where)
    return Image(
        config=config,
        layers=layers,
        reference=reference,
        repo_tags=chosen.names,
        config_digest=config_digest(config_bytes),
    )


def _as_json(data: bytes, where: str, what: str) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadArchive(f"{where}: {what} is not valid JSON ({exc})") from exc


def _candidates(
    reader: BlobReader, index: Any, names: tuple[str, ...], where: str, what: str, depth: int
) -> list[_Candidate]:
    expect(isinstance(index, dict), where, f"{what} is not an object")
    manifests = index.get("manifests")
    expect(isinstance(manifests, list), where, f"{what} has no manifests list")
    found: list[_Candidate] = []
    for i, desc in enumerate(manifests):
        expect(isinstance(desc, dict), where, f"{what}.manifests[{i}] is not an object")
        annotations = desc.get("annotations") or {}
        own = tuple(str(annotations[k]) for k in (CONTAINERD_NAME, REF_NAME) if k in annotations)
        media = desc.get("mediaType")
        if media in INDEX_TYPES:
            if depth >= _MAX_DEPTH:
                raise BadArchive(f"{where}: image indexes nested too deeply")
            digest = check_digest(desc.get("digest"), f"{where}: {what}.manifests[{i}]")
            data = reader.read_bytes(blob_name(digest))
            verify_bytes(data, digest, f"{where}: index {digest}")
            nested = _as_json(data, where, f"index {digest}")
            found.extend(_candidates(reader, nested, names + own, where, f"index {digest}", depth + 1))
        elif media in MANIFEST_TYPES or media is None:
            if _is_attestation(desc):
                continue
            found.append(_Candidate(desc, names + own))
    return found


def _is_attestation(desc: Mapping[str, Any]) -> bool:
    """Not an image: a Docker attestation manifest, or an OCI 1.1 artifact (SBOM, signature, referrer)."""
    annotations = desc.get("annotations") or {}
    plat = desc.get("platform") or {}
    return "vnd.docker.reference.type" in annotations or plat.get("os") == "unknown" or bool(desc.get("artifactType"))


def _select(
    candidates: Sequence[_Candidate], selector: str | None, index: int | None, where: str
) -> _Candidate:
    if index is not None:
        if index >= len(candidates):
            raise ImageNotFound(f"{where}: no image @{index} (the layout holds {len(candidates)})")
        return candidates[index]
    pool = list(candidates)
    if selector is not None:
        pool = [c for c in candidates if any(n == selector or names_match(selector, n) for n in c.names)]
        if not pool:
            raise ImageNotFound(f"{where}: no image named {selector}", details=_describe(candidates))
    if len(pool) > 1:
        host = [c for c in pool if c.platform == f"linux/{_host_arch()}"]
        if len(host) == 1:
            return host[0]
        raise UsageError(
            f"{where} holds {len(pool)} images; choose one with oci:DIR:REF or :@N", details=_describe(pool)
        )
    return pool[0]


def _describe(candidates: Sequence[_Candidate]) -> list[str]:
    return [f"@{i}: {', '.join(c.names) or '<unnamed>'} ({c.platform})" for i, c in enumerate(candidates)]


def _host_arch() -> str:
    machine = platform.machine().lower()
    return _ARCH.get(machine, machine)
