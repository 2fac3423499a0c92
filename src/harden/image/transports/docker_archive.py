"""``docker-archive:PATH[:NAME[:TAG]|:@N]`` — what ``docker save`` / ``podman save`` write and ``docker load``
reads.

Reading: ``manifest.json`` lists, per image, its config and layer files: ``<id>/layer.tar`` (legacy),
``<hex>.tar`` (podman) or ``blobs/sha256/<hex>`` (Docker ≥ 25, possibly compressed). Several images need a
selector (a repo tag, or ``@N``).

Writing: ``manifest.json``, the config as ``<hex>.json`` and each layer as ``<diff-id-hex>/layer.tar``,
uncompressed (``--compression`` does not apply: ``docker load`` reads layers as they are stored, and docker
save writes them uncompressed); one image, so one platform. Written atomically, or staged in the run's
``Publication``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harden.atomic import Publication, file_destination_problem, joined
from harden.errors import BadArchive, ImageNotFound, UsageError
from harden.image.model import Image, ImageConfig, ImageSet, Platform
from harden.image.reference import ImageRef, is_valid_name, names_match
from harden.image.transports._archive import BlobReader, TarArchive
from harden.image.transports._common import (
    DIGEST_RE,
    config_digest,
    expect,
    file_reference,
    load_json,
    make_layers,
    parse_config,
    verify_bytes,
)
from harden.image.transports._docker_members import add_config, add_manifest
from harden.image.transports._layers import LayerBlob, check_layers, spooled
from harden.image.transports._tarball import DeterministicTar
from harden.image.transports._transport import Commit, ReadContext, Transport, WriteContext


class DockerArchive(Transport):
    name = "docker-archive"
    prefixes = ("docker-archive:",)
    syntax = "docker-archive:PATH[:NAME[:TAG]|:@N]"
    summary = "a `docker save` / `podman save` tar (written uncompressed: one platform, what `docker load` reads)"
    all_platforms = False
    compresses = False

    def parse(self, rest: str, text: str) -> ImageRef:
        return file_reference(self.name, self.prefixes[0], rest, text, is_valid_name)

    def open(self, ref: ImageRef, ctx: ReadContext) -> ImageSet:
        assert ref.path is not None
        archive = TarArchive.open(ref.path, ctx.workspace, f"docker-archive {ref.path}", limit=ctx.limit)
        image = read_docker_archive(archive, selector=ref.name, index=ref.index, reference=ref.text)
        return ImageSet.single(image)

    def output_problem(self, ref: ImageRef, ctx: WriteContext) -> str | None:
        assert ref.path is not None
        return file_destination_problem(ref.path)

    def stage(self, ref: ImageRef, images: ImageSet, ctx: WriteContext, publication: Publication) -> Commit | None:
        assert ref.path is not None
        (image,) = images.images  # one platform: checked before any work
        name = ref.name or ctx.tag_name
        write_docker_archive(image.config, image.layers, ref.path, [name] if name else [], publication=publication)
        return None


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
        platform=Platform.of_config(config),
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


def write_docker_archive(
    config: ImageConfig,
    layers: Sequence[LayerBlob],
    dest: Path,
    repo_tags: Sequence[str] = (),
    *,
    publication: Publication | None = None,
) -> Path:
    """Write ``config`` and ``layers`` (oldest first) to ``dest``; ``repo_tags`` become its RepoTags.

    With ``publication``, the archive is only staged in it: ``dest`` changes when the publication commits.
    """
    check_layers(config, layers)
    with joined(publication) as staging:
        tmp = staging.stage_file(dest)
        with DeterministicTar(tmp) as tar:
            fill_docker_archive(tar, config, layers, repo_tags, spool_dir=tmp.parent)
    return dest


def fill_docker_archive(tar: DeterministicTar, config: ImageConfig, layers: Sequence[LayerBlob],
                        repo_tags: Sequence[str] = (), *, spool_dir: Path) -> None:
    """A docker-archive's members in their order: the config, each layer once, manifest.json last (so that a
    reader of the stream, such as an engine's load, has every blob before the manifest names it). A layer
    whose size is not known is copied to ``spool_dir`` first."""
    config_name = add_config(tar, config)
    layer_names = [layer.diff_id.partition(":")[2] + "/layer.tar" for layer in layers]
    written: set[str] = set()
    for layer, name in zip(layers, layer_names, strict=True):
        if name in written:
            continue
        written.add(name)
        tar.add_dir(name.partition("/")[0])
        with spooled(layer, spool_dir) as (stream, size):
            tar.add_stream(name, stream, size)
    add_manifest(tar, config_name, layer_names, repo_tags)
