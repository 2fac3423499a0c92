"""Read named files out of an image archive (an outer tar) or an OCI layout directory, without extracting.

A tar archive is indexed once (member name → data offset and size); each file is then read straight from
the archive with ``pread``. Nothing is ever written to the host filesystem, so member names cannot escape
anything; symlinks and hardlinks between members (``docker save`` links duplicate layers) are followed inside
the index.
"""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Protocol

from harden.errors import BadArchive, ImageNotFound, InputError
from harden.image._streams import (
    CHUNK,
    RegionReader,
    VerifyingReader,
    decompressor,
    forget_members,
    sniff_compression,
)
from harden.image.model import FileRegion
from harden.image.space import SizeLimit, limited_chunks

MAX_JSON = 64 << 20
"""Manifests, indexes and configs above this size are refused rather than read into memory."""

_MAX_HOPS = 16


class BlobReader(Protocol):
    """A read-only view of named files: an outer tar or a directory."""

    description: str

    def exists(self, name: str) -> bool: ...

    def size(self, name: str) -> int: ...

    def opener(self, name: str) -> Callable[[], IO[bytes]]: ...

    def read_bytes(self, name: str, *, limit: int = MAX_JSON) -> bytes: ...

    def region(self, name: str) -> FileRegion:
        """Where the (raw) bytes of ``name`` lie on disk."""
        ...


def clean_name(name: str) -> str:
    """A member name without leading ``./`` or ``/`` and without empty or ``.`` components."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    return "/".join(parts)


def _read_limited(reader: BlobReader, name: str, limit: int) -> bytes:
    size = reader.size(name)
    if size > limit:
        raise BadArchive(f"{reader.description}: {name} is {size} bytes, more than the {limit} allowed")
    with reader.opener(name)() as stream:
        data = stream.read(size + 1)
    if len(data) != size:
        raise BadArchive(f"{reader.description}: {name} is truncated")
    return data


@dataclass(frozen=True, slots=True)
class _Member:
    offset: int
    size: int


class TarArchive:
    """An index of the regular files of an outer tar (docker-archive, oci-archive)."""

    def __init__(self, path: Path, description: str) -> None:
        self.path = path
        self.description = description
        self._members: dict[str, _Member] = {}
        self._links: dict[str, str] = {}
        self._index()

    @classmethod
    def open(cls, path: Path, workspace: Path, description: str, *, limit: SizeLimit | None = None) -> TarArchive:
        """Index ``path``; a compressed one (``docker save | gzip``) is decompressed into ``workspace``, stopping
        with ImageTooLarge at the chunk that would take it past ``limit``."""
        if not path.exists():
            raise ImageNotFound(f"{description}: {path} does not exist")
        if not path.is_file():
            raise InputError(f"{description}: {path} is not a file")
        with path.open("rb") as head:
            compression = sniff_compression(head.read(8))
        if not compression:
            return cls(path, description)
        fd, tmp = tempfile.mkstemp(dir=workspace, prefix="archive-", suffix=".tar")
        try:
            with os.fdopen(fd, "wb") as out, path.open("rb") as raw:
                stream = VerifyingReader(decompressor(raw, compression, description), None, description)
                with io.BufferedReader(stream, buffer_size=CHUNK) as source:
                    for chunk in limited_chunks(_chunks(source), description, limit, path.stat().st_size):
                        out.write(chunk)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return cls(Path(tmp), description)

    def _index(self) -> None:
        file_size = self.path.stat().st_size
        try:
            with tarfile.open(self.path, mode="r:", encoding="utf-8") as tar:
                while (member := tar.next()) is not None:
                    forget_members(tar)
                    self._add(member, file_size)
        except tarfile.TarError as exc:
            raise BadArchive(f"{self.description}: not a readable tar archive ({exc})") from exc
        if not self._members:
            raise BadArchive(f"{self.description}: empty or truncated archive")

    def _add(self, member: tarfile.TarInfo, file_size: int) -> None:
        name = clean_name(member.name)
        if member.issym():
            target = clean_name(str(PurePosixPath(member.name).parent / member.linkname))
            self._links[name] = target
            self._members.pop(name, None)
        elif member.islnk():
            self._links[name] = clean_name(member.linkname)
            self._members.pop(name, None)
        elif member.isreg():
            if member.issparse():
                raise BadArchive(f"{self.description}: sparse member {member.name} is not supported")
            if member.offset_data + member.size > file_size:
                raise BadArchive(f"{self.description}: truncated archive ({member.name} is cut short)")
            self._members[name] = _Member(member.offset_data, member.size)
            self._links.pop(name, None)

    def _resolve(self, name: str) -> _Member | None:
        current = clean_name(name)
        for _ in range(_MAX_HOPS):
            member = self._members.get(current)
            if member is not None:
                return member
            target = self._links.get(current)
            if target is None:
                return None
            collapsed = _collapse(target)
            if collapsed is None:
                return None
            current = collapsed
        return None

    def exists(self, name: str) -> bool:
        return self._resolve(name) is not None

    def _member(self, name: str) -> _Member:
        member = self._resolve(name)
        if member is None:
            raise BadArchive(f"{self.description}: missing {name}")
        return member

    def size(self, name: str) -> int:
        return self._member(name).size

    def opener(self, name: str) -> Callable[[], IO[bytes]]:
        member = self._member(name)
        path = self.path

        def open_member() -> IO[bytes]:
            return io.BufferedReader(RegionReader(path, member.offset, member.size), buffer_size=CHUNK)

        return open_member

    def read_bytes(self, name: str, *, limit: int = MAX_JSON) -> bytes:
        return _read_limited(self, name, limit)

    def region(self, name: str) -> FileRegion:
        member = self._member(name)
        return FileRegion(self.path, member.offset, member.size)


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK):
        yield chunk


def _collapse(name: str) -> str | None:
    """Resolve ``..`` inside an archive-relative name; None if it climbs above the archive root."""
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


class DirTree:
    """Files of a directory (an OCI layout); names must stay inside it, even through symlinks."""

    def __init__(self, root: Path, description: str) -> None:
        if not root.exists():
            raise ImageNotFound(f"{description}: {root} does not exist")
        if not root.is_dir():
            raise InputError(f"{description}: {root} is not a directory")
        self.root = root
        self.description = description
        self._real_root = root.resolve()

    def _path(self, name: str) -> Path:
        cleaned = _collapse(name)
        if cleaned is None or name.startswith("/"):
            raise BadArchive(f"{self.description}: refusing path {name!r} outside the layout")
        path = self.root / cleaned
        real = path.resolve()
        if real != self._real_root and self._real_root not in real.parents:
            raise BadArchive(f"{self.description}: {name} points outside the layout")
        return path

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def size(self, name: str) -> int:
        path = self._path(name)
        if not path.is_file():
            raise BadArchive(f"{self.description}: missing {name}")
        return path.stat().st_size

    def opener(self, name: str) -> Callable[[], IO[bytes]]:
        path = self._path(name)
        if not path.is_file():
            raise BadArchive(f"{self.description}: missing {name}")

        def open_file() -> IO[bytes]:
            return path.open("rb")

        return open_file

    def read_bytes(self, name: str, *, limit: int = MAX_JSON) -> bytes:
        return _read_limited(self, name, limit)

    def region(self, name: str) -> FileRegion:
        return FileRegion(self._path(name).resolve(), 0, self.size(name))
