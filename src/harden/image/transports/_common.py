"""Helpers shared by the readers: JSON loading with clear errors, digest checks, layer construction, and the
walk through an index (a layout's ``index.json``, a registry's index) that finds what a reference names."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harden.errors import BadArchive, ImageNotFound, UsageError
from harden.image._streams import layer_media_type, open_verified, sniff_compression
from harden.image.model import ImageConfig, Layer, Platform
from harden.image.reference import ImageRef, names_match
from harden.image.transports._archive import BlobReader

DIGEST_RE = re.compile(r"^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")


def load_json(reader: BlobReader, name: str) -> Any:
    data = reader.read_bytes(name)
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadArchive(f"{reader.description}: {name} is not valid JSON ({exc})") from exc


def check_digest(text: object, where: str) -> str:
    """A digest from untrusted JSON; refused unless exactly ``algorithm:hex`` (no path tricks)."""
    if not isinstance(text, str) or not DIGEST_RE.match(text):
        raise BadArchive(f"{where}: invalid digest {text!r}")
    return text


def blob_name(digest: str) -> str:
    algorithm, _, hex_digest = digest.partition(":")
    return f"blobs/{algorithm}/{hex_digest}"


def verify_bytes(data: bytes, digest: str, where: str) -> None:
    algorithm, _, expected = digest.partition(":")
    actual = hashlib.new(algorithm, data).hexdigest()
    if actual != expected:
        raise BadArchive(f"{where}: content does not match its digest", details=[f"expected {digest}"])


def parse_config(data: bytes, where: str) -> ImageConfig:
    try:
        config = ImageConfig.from_bytes(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadArchive(f"{where}: image config is not valid JSON ({exc})") from exc
    if not isinstance(config.raw, dict):
        raise BadArchive(f"{where}: image config is not a JSON object")
    rootfs = config.raw.get("rootfs")
    if not isinstance(rootfs, dict) or not isinstance(rootfs.get("diff_ids"), list):
        raise BadArchive(f"{where}: image config has no rootfs.diff_ids")
    for index, diff_id in enumerate(rootfs["diff_ids"]):
        check_digest(diff_id, f"{where}: rootfs.diff_ids[{index}]")
    return config


def make_layers(
    reader: BlobReader, names: Sequence[str], config: ImageConfig, where: str
) -> tuple[Layer, ...]:
    """One Layer per blob name, paired in order with the config's diff_ids (counts must agree)."""
    diff_ids = config.diff_ids
    if len(diff_ids) != len(names):
        raise BadArchive(
            f"{where}: {len(names)} layers but the config lists {len(diff_ids)} diff_ids",
        )
    layers = []
    for index, (name, diff_id) in enumerate(zip(names, diff_ids, strict=True)):
        opener = reader.opener(name)
        with opener() as head:
            compression = sniff_compression(head.read(8))
        what = f"{where}: layer {index} ({name})"
        layers.append(
            Layer(
                diff_id=diff_id,
                open=functools.partial(open_verified, opener, diff_id, what),
                size=reader.size(name),
                media_type=layer_media_type(compression),
                region=None if compression else reader.region(name),
            )
        )
    return tuple(layers)


def config_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def expect(condition: bool, where: str, message: str) -> None:
    if not condition:
        raise BadArchive(f"{where}: {message}")


# -- indexes: walking them and choosing what a reference names ----------------------------------------------
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
_MAX_DEPTH = 4


@dataclass(frozen=True, slots=True)
class Entry:
    """One image manifest an index lists, directly or through nested indexes: its descriptor, the names
    (``ref.name`` annotations) of it and of the indexes above it, the top-level entry it came from (``group``)
    and the nested index document it is listed in (None: the top index itself)."""

    descriptor: Mapping[str, Any]
    names: tuple[str, ...]
    group: int
    parent: Mapping[str, Any] | None = None
    parent_descriptor: Mapping[str, Any] | None = None

    @property
    def platform(self) -> Platform | None:
        return descriptor_platform(self.descriptor)

    @property
    def digest(self) -> str:
        return str(self.descriptor.get("digest"))

    def describe(self) -> str:
        plat = self.platform
        return f"{', '.join(self.names) or '<unnamed>'} ({plat or 'platform not given'})"


@dataclass(frozen=True, slots=True)
class Selection:
    """The entries a reference names, and whether they make an index (with that index's own annotations and
    media type, and the entries of it left out as not images)."""

    entries: tuple[Entry, ...]
    is_index: bool
    media_type: str | None = None
    annotations: tuple[tuple[str, str], ...] = ()
    skipped: tuple[str, ...] = ()


def descriptor_platform(descriptor: Mapping[str, Any]) -> Platform | None:
    plat = descriptor.get("platform")
    if not isinstance(plat, dict) or not isinstance(plat.get("os"), str) or not isinstance(
        plat.get("architecture"), str
    ):
        return None
    variant, version = plat.get("variant"), plat.get("os.version")
    return Platform(plat["os"], plat["architecture"], variant if isinstance(variant, str) and variant else None,
                    version if isinstance(version, str) and version else None)


def string_annotations(raw: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, dict):
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in raw.items() if isinstance(k, str) and isinstance(v, str)))


def not_an_image(descriptor: Mapping[str, Any]) -> str | None:
    """Why an index entry is not a platform image (an attestation manifest, an OCI 1.1 artifact), or None."""
    annotations = descriptor.get("annotations") or {}
    plat = descriptor.get("platform") or {}
    if isinstance(annotations, dict) and "vnd.docker.reference.type" in annotations:
        return f"a Docker {annotations['vnd.docker.reference.type']} (its subject is the source image)"
    if descriptor.get("artifactType"):
        return f"an artifact ({descriptor['artifactType']})"
    if isinstance(plat, dict) and plat.get("os") == "unknown":
        return "platform unknown/unknown (an attestation, not an image)"
    return None


@dataclass(frozen=True, slots=True)
class Skipped:
    """An index entry that is not a platform image, left out: which top-level entry it was under, and why."""

    group: int
    line: str


def walk_index(
    index: Any, load: Callable[[str], Any], where: str, what: str = "index.json"
) -> tuple[list[Entry], list[Skipped]]:
    """Every image manifest ``index`` lists, nested indexes (``load(digest)`` → their JSON) followed, and what
    was left out as not an image."""
    entries: list[Entry] = []
    skipped: list[Skipped] = []
    _walk(index, load, where, what, (), None, None, None, 0, entries, skipped)
    return entries, skipped


def _walk(index: Any, load: Callable[[str], Any], where: str, what: str, names: tuple[str, ...],
          group: int | None, parent: Mapping[str, Any] | None, parent_descriptor: Mapping[str, Any] | None,
          depth: int, entries: list[Entry], skipped: list[Skipped]) -> None:
    expect(isinstance(index, dict), where, f"{what} is not an object")
    manifests = index.get("manifests")
    expect(isinstance(manifests, list), where, f"{what} has no manifests list")
    for i, desc in enumerate(manifests):
        expect(isinstance(desc, dict), where, f"{what}.manifests[{i}] is not an object")
        annotations = desc.get("annotations") or {}
        own = tuple(str(annotations[k]) for k in (CONTAINERD_NAME, REF_NAME)
                    if isinstance(annotations, dict) and k in annotations)
        media = desc.get("mediaType")
        top = i if group is None else group
        if media in INDEX_TYPES:
            if depth >= _MAX_DEPTH:
                raise BadArchive(f"{where}: image indexes nested too deeply")
            digest = check_digest(desc.get("digest"), f"{where}: {what}.manifests[{i}]")
            nested = load(digest)
            _walk(nested, load, where, f"index {digest}", names + own, top, nested, desc, depth + 1, entries,
                  skipped)
        elif media in MANIFEST_TYPES or media is None:
            reason = not_an_image(desc)
            if reason is not None:
                skipped.append(Skipped(top, f"{desc.get('digest')}: {reason}"))
                continue
            entries.append(Entry(desc, names + own, top, parent, parent_descriptor))
        else:
            skipped.append(Skipped(top, f"{desc.get('digest')}: media type {media} is not an image"))


def select_entries(
    entries: Sequence[Entry], top: Mapping[str, Any], *, selector: str | None, index: int | None, where: str,
    skipped: Sequence[Skipped] = (), hint: str = ":REF or :@N",
) -> Selection:
    """What a reference names among ``entries`` (of the top index ``top``):

    * ``:@N`` — the N-th image, alone;
    * a name, or nothing — the images so named (or all): one image; every platform of one nested index (an
      index: the output is one too); or images listed side by side in the top index with one name each and
      distinct platforms (an index too). Anything else is ambiguous: UsageError naming what there is."""
    if not entries:
        raise BadArchive(f"{where}: lists no image manifest", details=[s.line for s in skipped])
    if index is not None:
        if index >= len(entries):
            raise ImageNotFound(f"{where}: no image @{index} (it holds {len(entries)})")
        return Selection((entries[index],), False)
    pool = list(entries)
    if selector is not None:
        pool = [e for e in entries if any(n == selector or names_match(selector, n) for n in e.names)]
        if not pool:
            raise ImageNotFound(f"{where}: no image named {selector}", details=_describe(entries))
    groups = sorted({e.group for e in pool})
    if len(groups) == 1:
        first = pool[0]
        if first.parent is None:
            if len(pool) == 1:
                return Selection((first,), False)
        else:
            return Selection(tuple(pool), True, _media(first.parent), string_annotations(
                first.parent.get("annotations")), tuple(s.line for s in skipped if s.group == first.group))
    platforms = [e.platform for e in pool]
    if all(e.parent is None for e in pool) and None not in platforms and len(set(platforms)) == len(pool) \
            and len({e.names for e in pool}) == 1:
        return Selection(tuple(pool), True, _media(top), string_annotations(top.get("annotations")),
                         tuple(s.line for s in skipped))
    raise UsageError(f"{where} holds {len(pool)} images; choose one with {hint}", details=_describe(pool))


def _media(document: Mapping[str, Any]) -> str:
    media = document.get("mediaType")
    return media if isinstance(media, str) and media in INDEX_TYPES else OCI_INDEX


def _describe(entries: Sequence[Entry]) -> list[str]:
    return [f"@{i}: {e.describe()}" for i, e in enumerate(entries)]


# -- file references ------------------------------------------------------------------------------------------
_INDEX_RE = re.compile(r"^@(?P<index>[0-9]+)$")
OCI_SELECTOR_RE = re.compile(r"^[A-Za-z0-9._:@/+-]+$")


def file_reference(transport: str, prefix: str, rest: str, text: str,
                   selector_ok: Callable[[str], bool]) -> ImageRef:
    """``PATH[:SELECTOR|:@N]`` (skopeo's syntax: the path ends at the first ``:``) of a file transport."""
    path_text, sep, selector = rest.partition(":")
    if not path_text:
        raise UsageError(f"missing path in {text!r} (expected {prefix}PATH)")
    path = Path(path_text)
    if not sep:
        return ImageRef(transport, path=path, canonical=f"{prefix}{path}")
    index_match = _INDEX_RE.match(selector)
    if index_match:
        index = int(index_match.group("index"))
        return ImageRef(transport, path=path, index=index, canonical=f"{prefix}{path}:@{index}")
    if not selector or not selector_ok(selector):
        raise UsageError(f"invalid image selector {selector!r} in {text!r}")
    return ImageRef(transport, path=path, name=selector, canonical=f"{prefix}{path}:{selector}")
