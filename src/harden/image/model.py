"""The image model: values only, no I/O.

An ``Image`` is a config plus an ordered stack of layers (oldest first). A ``Rootfs`` is the merged view of those
layers: one ``FileEntry`` per path, with all metadata (mode, owner, links, devices, xattrs) kept in the model, so
nothing depends on the host filesystem or on privileges. File contents live in a ``BlobStore`` addressed by sha256.
"""

from __future__ import annotations

import bisect
import copy
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import IO, Any


class EntryType(StrEnum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    CHAR = "char"
    BLOCK = "block"
    FIFO = "fifo"


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One path of a root filesystem. ``path`` is relative to ``/`` ("usr/bin/python3"); the root itself is ".".

    Regular files and hardlinks carry ``digest``/``size`` of their content (a key into the ``BlobStore``);
    hardlinks also carry ``linkname``, the root-relative path of the file they link to; symlinks carry the
    target exactly as stored in the layer.
    """

    path: PurePosixPath
    type: EntryType
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    size: int = 0
    digest: str | None = None
    linkname: str | None = None
    devmajor: int = 0
    devminor: int = 0
    mtime: int = 0
    uname: str = ""
    gname: str = ""
    xattrs: tuple[tuple[str, str], ...] = ()

    @property
    def is_file(self) -> bool:
        return self.type is EntryType.FILE

    @property
    def is_dir(self) -> bool:
        return self.type is EntryType.DIR

    @property
    def has_content(self) -> bool:
        return self.type in (EntryType.FILE, EntryType.HARDLINK)

    @property
    def setid(self) -> bool:
        return bool(self.mode & 0o6000) and self.type is not EntryType.DIR

    def evolve(self, **changes: Any) -> FileEntry:
        return replace(self, **changes)


class Rootfs:
    """An immutable merged filesystem: path -> FileEntry. Transforms return new instances."""

    __slots__ = ("_by_text", "_entries", "_keys", "_order")

    def __init__(self, entries: Mapping[PurePosixPath, FileEntry]) -> None:
        self._entries: Mapping[PurePosixPath, FileEntry] = MappingProxyType(dict(entries))
        self._keys: list[str] | None = None
        self._order: list[FileEntry] | None = None
        self._by_text: dict[str, FileEntry] | None = None

    def _sorted_keys(self) -> list[str]:
        """Paths as strings in string order: every subtree is one contiguous run (prefix ``dir/``)."""
        if self._keys is None:
            self._keys = sorted(str(path) for path in self._entries)
        return self._keys

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, path: object) -> bool:
        return path in self._entries

    def __iter__(self) -> Iterator[FileEntry]:
        """Entries in sorted path order (deterministic); the order is computed once per Rootfs."""
        if self._order is None:
            entries = self._entries
            self._order = [entries[path] for path in sorted(entries, key=path_order)]
        return iter(self._order)

    def get(self, path: PurePosixPath | str) -> FileEntry | None:
        if type(path) is PurePosixPath:
            return self._entries.get(path)
        if isinstance(path, str):
            entry = self._text_index().get(path)  # canonical text: no parsing needed
            if entry is not None:
                return entry
        return self._entries.get(PurePosixPath(path))

    def _text_index(self) -> dict[str, FileEntry]:
        """Entries by their path's canonical text ("usr/bin/python3"), built on first use."""
        if self._by_text is None:
            self._by_text = {str(path): entry for path, entry in self._entries.items()}
        return self._by_text

    @property
    def entries(self) -> Mapping[PurePosixPath, FileEntry]:
        return self._entries

    def under(self, prefix: PurePosixPath | str) -> Iterator[FileEntry]:
        """``prefix`` itself and everything below it."""
        root = PurePosixPath(prefix)
        if str(root) == ".":
            yield from self._entries.values()
            return
        if root in self._entries:
            yield self._entries[root]
        keys = self._sorted_keys()
        by_text = self._text_index()  # a key's entry without parsing the key into a PurePosixPath
        start = f"{root}/"
        for index in range(bisect.bisect_left(keys, start), len(keys)):
            key = keys[index]
            if not key.startswith(start):
                break
            yield by_text[key]

    def files(self) -> Iterator[FileEntry]:
        return (e for e in self._entries.values() if e.type is EntryType.FILE)

    def content_bytes(self) -> int:
        """Bytes of file content as a written layer stores them: each hardlinked inode once, and a hardlink
        whose target is gone (the writer then stores it as a regular file) counted with its own size."""
        total = 0
        for entry in self._entries.values():
            if entry.type is EntryType.FILE:
                total += entry.size
            elif entry.type is EntryType.HARDLINK:
                target = self._entries.get(PurePosixPath(entry.linkname or ""))
                if target is None or not target.has_content:
                    total += entry.size
        return total

    def resolve(self, path: PurePosixPath | str, *, max_links: int = 40) -> PurePosixPath | None:
        """Follow symlinks (in every component) inside this rootfs; None if dangling or looping."""
        plain = self._plain(path)
        if plain is not None:
            return plain
        parts = list(PurePosixPath(path).parts)
        resolved = PurePosixPath(".")
        hops = 0
        while parts:
            part = parts.pop(0)
            if part in ("", ".", "/"):
                continue
            if part == "..":
                resolved = resolved.parent
                continue
            candidate = resolved / part
            entry = self._entries.get(candidate)
            if entry is None:
                return None
            if entry.type is EntryType.SYMLINK and entry.linkname is not None:
                hops += 1
                if hops > max_links:
                    return None
                target = PurePosixPath(entry.linkname)
                if target.is_absolute():
                    resolved = PurePosixPath(".")
                    parts = list(target.parts[1:]) + parts
                else:
                    parts = list(target.parts) + parts
                continue
            resolved = candidate
        return resolved

    def _plain(self, path: PurePosixPath | str) -> PurePosixPath | None:
        """The answer of ``resolve`` for the common case, found with string lookups only: a relative path
        whose every component is present and no symlink. None when that does not hold (resolve walks it)."""
        text = str(path)
        if not text or text[0] == "/" or text == "." or ".." in text:
            return None
        index = self._text_index()
        cut = text.find("/")
        while True:
            entry = index.get(text if cut < 0 else text[:cut])
            if entry is None or entry.type is EntryType.SYMLINK:
                return None
            if cut < 0:
                return path if type(path) is PurePosixPath else PurePosixPath(text)
            cut = text.find("/", cut + 1)

    def with_changes(
        self, *, remove: frozenset[PurePosixPath] = frozenset(), put: Mapping[PurePosixPath, FileEntry] = {}
    ) -> Rootfs:
        """A new Rootfs with ``remove`` paths (and everything below them) dropped and ``put`` entries set."""
        entries = dict(self._entries)
        for root in remove:
            for entry in list(self.under(root)):
                entries.pop(entry.path, None)
        entries.update(put)
        return Rootfs(entries)


def path_order(path: PurePosixPath) -> str:
    """A key that sorts paths as PurePosixPath's own ordering does (by their parts, the root "." first): the
    text with "/" as NUL, which sorts below every character a name can hold. A string, not ``path.parts``:
    that tuple stays cached on the path, one more object per entry for as long as the model lives."""
    text = str(path)
    return "" if text == "." else text.replace("/", "\0")


def _frozen_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """The OCI/Docker image config JSON. Accessors read it; ``with_*`` return changed copies."""

    raw: Mapping[str, Any]

    @classmethod
    def from_bytes(cls, data: bytes) -> ImageConfig:
        return cls(_frozen_json(json.loads(data)))

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self.raw))

    @property
    def container_config(self) -> Mapping[str, Any]:
        return self.raw.get("config") or {}

    @property
    def user(self) -> str:
        return str(self.container_config.get("User") or "")

    @property
    def env(self) -> tuple[str, ...]:
        return tuple(self.container_config.get("Env") or ())

    def env_value(self, name: str) -> str | None:
        for item in self.env:
            key, _, value = item.partition("=")
            if key == name:
                return value
        return None

    @property
    def entrypoint(self) -> tuple[str, ...] | None:
        value = self.container_config.get("Entrypoint")
        return None if value is None else tuple(value)

    @property
    def cmd(self) -> tuple[str, ...] | None:
        value = self.container_config.get("Cmd")
        return None if value is None else tuple(value)

    @property
    def working_dir(self) -> str:
        return str(self.container_config.get("WorkingDir") or "")

    @property
    def labels(self) -> Mapping[str, str]:
        return self.container_config.get("Labels") or {}

    @property
    def healthcheck(self) -> Mapping[str, Any] | None:
        return self.container_config.get("Healthcheck")

    @property
    def diff_ids(self) -> tuple[str, ...]:
        return tuple((self.raw.get("rootfs") or {}).get("diff_ids") or ())

    @property
    def history(self) -> tuple[Mapping[str, Any], ...]:
        return tuple(self.raw.get("history") or ())

    @property
    def architecture(self) -> str:
        return str(self.raw.get("architecture") or "")

    @property
    def os(self) -> str:
        return str(self.raw.get("os") or "")

    @property
    def platform(self) -> str:
        variant = self.raw.get("variant")
        return f"{self.os}/{self.architecture}" + (f"/{variant}" if variant else "")

    def with_container_config(self, **fields: Any) -> ImageConfig:
        """Set (or, with value None, delete) keys of the ``config`` object."""
        raw = self.to_dict()
        config = dict(raw.get("config") or {})
        for key, value in fields.items():
            if value is None:
                config.pop(key, None)
            else:
                config[key] = _frozen_json(value)
        raw["config"] = config
        return ImageConfig(raw)

    def with_label(self, name: str, value: str) -> ImageConfig:
        labels = dict(self.labels)
        labels[name] = value
        return self.with_container_config(Labels=labels)

    def with_rootfs(self, diff_ids: list[str], history_entry: Mapping[str, Any]) -> ImageConfig:
        """Replace the layer list (squashed output) and append one history entry."""
        raw = self.to_dict()
        raw["rootfs"] = {"type": "layers", "diff_ids": list(diff_ids)}
        history = [dict(h, empty_layer=True) for h in raw.get("history") or []]
        history.append(dict(history_entry))
        raw["history"] = history
        return ImageConfig(raw)

    def with_fields(self, **fields: Any) -> ImageConfig:
        """Set top-level config keys (``created``, ``author`` …)."""
        raw = self.to_dict()
        raw.update(_frozen_json(fields))
        return ImageConfig(raw)

    def to_bytes(self) -> bytes:
        """Canonical JSON: sorted keys, no spaces; the config digest depends only on content."""
        return json.dumps(self.raw, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class FileRegion:
    """``size`` bytes at ``offset`` of the file ``path``: where an uncompressed layer tar lies on disk."""

    path: Path
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class Layer:
    """One layer of an image. ``open`` yields the *uncompressed* tar stream (I/O happens only when called).

    ``region`` is set when the uncompressed tar is stored as is in a file (an uncompressed layer of an
    archive or layout): readers may then seek in it and keep file contents by reference instead of copying.
    ``open`` still gives the same bytes, checked against the diff_id."""

    diff_id: str
    open: Callable[[], IO[bytes]] = field(compare=False, repr=False)
    size: int | None = None
    media_type: str = "application/vnd.oci.image.layer.v1.tar"
    region: FileRegion | None = field(default=None, compare=False, repr=False)


_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm", "armel": "arm",
                 "i386": "386", "i686": "386", "ppc64el": "ppc64le"}
_PLATFORM_PART = re.compile(r"^[a-z0-9._-]+$")


@dataclass(frozen=True, slots=True)
class Platform:
    """Where an image runs: ``os/architecture[/variant]`` as OCI writes it (``linux/arm64/v8``).

    ``os_version`` is carried through (Windows images) but never compared."""

    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = field(default=None, compare=False)

    @classmethod
    def parse(cls, text: str) -> Platform:
        """``os/arch[/variant]`` (``linux/amd64``, ``linux/arm/v7``); ValueError for anything else. Machine names
        are normalized as containerd does (``x86_64`` → ``amd64``, ``aarch64`` → ``arm64``)."""
        parts = text.strip().lower().split("/")
        if len(parts) not in (2, 3) or not all(part and _PLATFORM_PART.match(part) for part in parts):
            raise ValueError(f"{text!r} is not a platform (expected OS/ARCH[/VARIANT], e.g. linux/arm64)")
        return cls(parts[0], _ARCH_ALIASES.get(parts[1], parts[1]), parts[2] if len(parts) == 3 else None)

    @classmethod
    def of_config(cls, config: ImageConfig) -> Platform | None:
        if not config.os or not config.architecture:
            return None
        variant = config.raw.get("variant")
        version = config.raw.get("os.version")
        return cls(config.os, config.architecture, str(variant) if variant else None,
                   str(version) if version else None)

    @property
    def normalized_variant(self) -> str | None:
        """The variant with containerd's defaults spelled out: arm64 means v8, arm means v7."""
        if self.variant:
            return self.variant
        return {"arm64": "v8", "arm": "v7"}.get(self.architecture)

    def matches(self, wanted: Platform) -> bool:
        """Whether this (an image's) platform is what ``wanted`` asks for; a request without a variant takes
        any variant, and ``linux/arm64`` is ``linux/arm64/v8``."""
        if (self.os, self.architecture) != (wanted.os, wanted.architecture):
            return False
        return wanted.variant is None or self.normalized_variant == wanted.normalized_variant

    @property
    def slug(self) -> str:
        """A file name for it: ``linux-arm64-v8``."""
        return str(self).replace("/", "-")

    def to_json(self) -> dict[str, str]:
        out = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.variant:
            out["variant"] = self.variant
        return out

    def __str__(self) -> str:
        return f"{self.os}/{self.architecture}" + (f"/{self.variant}" if self.variant else "")


@dataclass(frozen=True, slots=True)
class Image:
    """A config plus its layers (oldest first), as read from one source.

    ``platform`` is what the index said of this image (else what its config says; None when neither says);
    ``annotations`` are its descriptor's in that index."""

    config: ImageConfig
    layers: tuple[Layer, ...]
    reference: str = ""
    repo_tags: tuple[str, ...] = ()
    config_digest: str = ""
    platform: Platform | None = None
    annotations: tuple[tuple[str, str], ...] = ()

    @property
    def runs_on(self) -> Platform | None:
        """The platform: the index's word, else the config's."""
        return self.platform or Platform.of_config(self.config)


@dataclass(frozen=True, slots=True)
class ImageSet:
    """What a reference names: one image, or every platform image of an index (``is_index``).

    ``annotations`` and ``media_type`` are the index's own; ``skipped`` names what was left out, with the
    reason: index entries that are not platform images (attestation manifests, artifacts), platforms not
    chosen."""

    images: tuple[Image, ...]
    reference: str = ""
    is_index: bool = False
    media_type: str | None = None
    annotations: tuple[tuple[str, str], ...] = ()
    skipped: tuple[str, ...] = ()

    @classmethod
    def single(cls, image: Image) -> ImageSet:
        return cls((image,), image.reference)

    @property
    def platforms(self) -> tuple[Platform | None, ...]:
        return tuple(image.runs_on for image in self.images)

    def describe_platforms(self) -> str:
        return ", ".join(str(p) if p is not None else "unknown platform" for p in self.platforms)
