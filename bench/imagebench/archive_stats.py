"""Sizes and file lists of a docker-archive (``docker save`` output), measured independently of harden.

Each layer tar is read once: its bytes go through a level-6 gzip compressor (counted, never kept) while a
streaming tar reader merges the entries newest-last with ``.wh.`` / ``.wh..wh..opq`` whiteouts. The merged
listing (path → kind, size, link target) and the contents of a few small files (a ``capture`` predicate: dpkg's
file lists) can be kept for comparing images.
"""

from __future__ import annotations

import json
import posixpath
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from imagebench.model import ImageSize

CHUNK = 1 << 20
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
CAPTURE_LIMIT = 4 << 20
"""Captured files larger than this are not kept."""


class _TeeGzip:
    """A read-only stream that counts the gzip-compressed size of everything read through it."""

    def __init__(self, raw: IO[bytes], compress: bool) -> None:
        self._raw = raw
        self._zip = zlib.compressobj(6, zlib.DEFLATED, 31) if compress else None
        self.raw_bytes = 0
        self.gzip_bytes = 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.raw_bytes += len(data)
        if self._zip is not None and data:
            self.gzip_bytes += len(self._zip.compress(data))
        return data

    def finish(self) -> None:
        while self.read(CHUNK):
            pass
        if self._zip is not None:
            self.gzip_bytes += len(self._zip.flush())


@dataclass(frozen=True, slots=True)
class Entry:
    kind: str
    """"file", "hardlink", "symlink" or "other" (devices, fifos); directories are not listed."""
    size: int
    """Bytes of a regular file; 0 for the rest (a hard link's bytes are counted on its target)."""
    link: str = ""
    """A symlink's target."""


@dataclass
class Listing:
    """The merged filesystem: path (no leading slash) → entry; directory symlinks included."""

    entries: dict[str, Entry] = field(default_factory=dict)
    captured: dict[str, bytes] = field(default_factory=dict)

    def drop_tree(self, path: str, *, keep_root: bool = False) -> None:
        prefix = path.rstrip("/") + "/" if path else ""
        for store in (self.entries, self.captured):
            doomed = [p for p in store if p.startswith(prefix) or (not keep_root and p == path)]
            for p in doomed:
                del store[p]

    def apply(self, layer: tarfile.TarFile, capture: Callable[[str], bool] | None = None) -> None:
        for member in layer:
            path = posixpath.normpath("/" + member.name).lstrip("/")
            parent, base = posixpath.split(path)
            if base == OPAQUE:
                self.drop_tree(parent, keep_root=True)
            elif base.startswith(WHITEOUT):
                self.drop_tree(posixpath.join(parent, base[len(WHITEOUT):]))
            elif member.isdir():
                self.entries.pop(path, None)
            else:
                self.captured.pop(path, None)
                if member.isreg():
                    self.entries[path] = Entry("file", member.size)
                    if capture is not None and member.size <= CAPTURE_LIMIT and capture(path):
                        stream = layer.extractfile(member)
                        if stream is not None:
                            self.captured[path] = stream.read()
                elif member.islnk():
                    self.entries[path] = Entry("hardlink", 0, posixpath.normpath("/" + member.linkname))
                elif member.issym():
                    self.entries[path] = Entry("symlink", 0, member.linkname)
                else:
                    self.entries[path] = Entry("other", 0)

    def content_bytes(self) -> int:
        """Regular files' bytes; a hard link shares its target's bytes (counted once, on the target)."""
        return sum(entry.size for entry in self.entries.values())


def read_archive(archive: Path, *, gzip: bool = True,
                 capture: Callable[[str], bool] | None = None) -> tuple[Listing, int, int | None, int]:
    """(merged listing, uncompressed bytes, gzip bytes or None, layers) of a docker-archive."""
    listing = Listing()
    uncompressed = compressed = 0
    with tarfile.open(archive, "r:") as outer:
        manifest = json.load(_member(outer, "manifest.json"))
        layer_names: list[str] = manifest[0]["Layers"]
        for name in layer_names:
            tee = _TeeGzip(_member(outer, name), gzip)
            with tarfile.open(fileobj=tee, mode="r|") as layer:  # type: ignore[call-overload]
                listing.apply(layer, capture)
            tee.finish()
            uncompressed += tee.raw_bytes
            compressed += tee.gzip_bytes
    return listing, uncompressed, compressed if gzip else None, len(layer_names)


def size_of(listing: Listing, uncompressed: int, gzip_bytes: int | None, layers: int, *, label: str,
            reference: str) -> ImageSize:
    return ImageSize(label=label, reference=reference, layers=layers, uncompressed_bytes=uncompressed,
                     gzip_bytes=gzip_bytes, files=len(listing.entries), content_bytes=listing.content_bytes())


def measure_archive(archive: Path, *, label: str, reference: str, gzip: bool = True) -> ImageSize:
    listing, uncompressed, compressed, layers = read_archive(archive, gzip=gzip)
    return size_of(listing, uncompressed, compressed, layers, label=label, reference=reference)


def _member(outer: tarfile.TarFile, name: str) -> IO[bytes]:
    stream = outer.extractfile(name)
    if stream is None:
        raise ValueError(f"{name} is not a file in the archive")
    return stream
