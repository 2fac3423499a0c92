"""``docker-archive:PATH[:REF]`` — what ``docker save`` / ``podman save`` write.

``manifest.json`` lists, per image, its config and layer files: ``<id>/layer.tar`` (legacy), ``<hex>.tar``
(podman) or ``blobs/sha256/<hex>`` (Docker ≥ 25, possibly compressed). Several images need a selector.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harden.errors import BadArchive, ImageNotFound, UsageError
from harden.image.model import Image
from harden.image.reference import ImageRef, names_match
from harden.image.sources._archive import BlobReader, TarArchive
from harden.image.sources._common import (
    DIGEST_RE,
    config_digest,
    expect,
    load_json,
    make_layers,
    parse_config,
    verify_bytes,
)
from harden.image.space import SizeLimit


def open_image(ref: ImageRef, workspace: Path, *, limit: SizeLimit | None = None) -> Image:
    if ref.path is None:
        raise UsageError(f"{ref}: missing path")
    where = f"docker-archive {ref.path}"
    archive = TarArchive.open(ref.path, workspace, where, limit=limit)
    return read_docker_archive(archive, selector=ref.name, index=ref.index, reference=str(ref))


def read_docker_archive(
    reader: BlobReader, *, selector: str | None = None, index: int | None = None, reference: str = ""
) -> Image:
    where = reader.description
    if not reader.exists("manifest.json"):
        raise BadArchive(f"{where}: missing manifest.json (not a docker-archive, or truncated)")
    manifest = load_json(reader, "manifest.json")
    expect(isinstance(manifest, list) and len(manifest) > 0, where, "manifest.json lists no image")
    entries = [_check_entry(entry, where, i) for i, entry in enumerate(manifest)]
    entry = _select(entries, selector, index, where)

    config_name = entry["Config"]
    config_bytes = reader.read_bytes(config_name)
    _verify_named_digest(config_name, config_bytes, where)
    config = parse_config(config_bytes, f"{where}: {config_name}")
    layers = make_layers(reader, entry["Layers"], config, where)
    return Image(
        config=config,
        layers=layers,
        reference=reference,
        repo_tags=tuple(entry.get("RepoTags") or ()),
        config_digest=config_digest(config_bytes),
    )


def _check_entry(entry: Any, where: str, i: int) -> Mapping[str, Any]:
    expect(isinstance(entry, dict), where, f"manifest.json[{i}] is not an object")
    expect(isinstance(entry.get("Config"), str), where, f"manifest.json[{i}].Config is missing")
    layers = entry.get("Layers")
    expect(
        isinstance(layers, list) and all(isinstance(x, str) for x in layers),
        where,
        f"manifest.json[{i}].Layers is not a list of names",
    )
    tags = entry.get("RepoTags")
    expect(
        tags is None or (isinstance(tags, list) and all(isinstance(t, str) for t in tags)),
        where,
        f"manifest.json[{i}].RepoTags is not a list of names",
    )
    return dict(entry)


def _select(
    entries: Sequence[Mapping[str, Any]], selector: str | None, index: int | None, where: str
) -> Mapping[str, Any]:
    if index is not None:
        if index >= len(entries):
            raise ImageNotFound(f"{where}: no image @{index} (the archive holds {len(entries)})")
        return entries[index]
    if selector is not None:
        for entry in entries:
            if any(names_match(selector, tag) for tag in entry.get("RepoTags") or ()):
                return entry
        raise ImageNotFound(f"{where}: no image tagged {selector}", details=_all_tags(entries))
    if len(entries) > 1:
        raise UsageError(
            f"{where} holds {len(entries)} images; choose one with docker-archive:PATH:TAG or :@N",
            details=_all_tags(entries),
        )
    return entries[0]


def _all_tags(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    return [f"@{i}: {', '.join(e.get('RepoTags') or ['<untagged>'])}" for i, e in enumerate(entries)]


def _verify_named_digest(name: str, data: bytes, where: str) -> None:
    """Configs are named by their digest (``<hex>.json``, ``blobs/sha256/<hex>``): check it when they are."""
    stem = name.rsplit("/", 1)[-1].removesuffix(".json")
    if name.startswith("blobs/sha256/") or name.endswith(".json"):
        candidate = f"sha256:{stem}"
        if DIGEST_RE.match(candidate):
            verify_bytes(data, candidate, f"{where}: {name}")
