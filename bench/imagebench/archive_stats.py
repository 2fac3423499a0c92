"""Sizes and file counts of a docker-archive (``docker save`` output), measured independently of harden.

Each layer tar is read once: its bytes go through a level-6 gzip compressor (counted, never kept) while a
streaming tar reader merges the entries newest-last with ``.wh.`` / ``.wh..wh..opq`` whiteouts.
"""

from __future__ import annotations

import json
import posixpath
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from imagebench.model import ImageSize

CHUNK = 1 << 20
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


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


@dataclass
class _Merged:
    """path -> (is_regular_file, size) of non-directory entries, whiteouts applied layer by layer."""

    entries: dict[str, tuple[bool, int]] = field(default_factory=dict)

    def drop_tree(self, path: str, *, keep_root: bool = False) -> None:
        prefix = path.rstrip("/") + "/" if path else ""
        doomed = [p for p in self.entries if p.startswith(prefix) or (not keep_root and p == path)]
        for p in doomed:
            del self.entries[p]

    def apply(self, layer: tarfile.TarFile) -> None:
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
                self.entries[path] = (member.isreg() or member.islnk(), member.size if member.isreg() else 0)

    def content_bytes(self) -> int:
        """Regular files' bytes; a hard link shares its target's bytes (counted once, on the target)."""
        return sum(size for _, size in self.entries.values())


def measure_archive(archive: Path, *, label: str, reference: str, gzip: bool = True) -> ImageSize:
    merged = _Merged()
    uncompressed = compressed = 0
    with tarfile.open(archive, "r:") as outer:
        manifest = json.load(_member(outer, "manifest.json"))
        layer_names: list[str] = manifest[0]["Layers"]
        for name in layer_names:
            tee = _TeeGzip(_member(outer, name), gzip)
            with tarfile.open(fileobj=tee, mode="r|") as layer:  # type: ignore[call-overload]
                merged.apply(layer)
            tee.finish()
            uncompressed += tee.raw_bytes
            compressed += tee.gzip_bytes
    return ImageSize(
        label=label,
        reference=reference,
        layers=len(layer_names),
        uncompressed_bytes=uncompressed,
        gzip_bytes=compressed if gzip else None,
        files=len(merged.entries),
        content_bytes=merged.content_bytes(),
    )


def _member(outer: tarfile.TarFile, name: str) -> IO[bytes]:
    stream = outer.extractfile(name)
    if stream is None:
        raise ValueError(f"{name} is not a file in the archive")
    return stream
