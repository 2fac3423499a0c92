"""dpkg's status records: where they are, and what they say, kept as the bytes they were read from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from harden.dpkg.rootfs import STATUS, STATUS_D, directory_files, root_relative
from harden.image.blobs import BlobStore
from harden.image.files import file_bytes
from harden.image.model import Rootfs


def decoded(data: bytes) -> str:
    """Bytes as text that round-trips (non-UTF-8 bytes become surrogate escapes, never an error)."""
    return data.decode("utf-8", "surrogateescape")


def shown(text: str) -> str:
    """Text safe to put in a report: surrogate escapes become U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class Record:
    """One record (deb822 paragraph): its lines exactly as stored, the blank lines that follow it, and its
    fields by lowercased name (deb822 names are case-insensitive)."""

    body: bytes
    tail: bytes
    fields: Mapping[str, str]

    def field(self, name: str) -> str:
        """The value of field ``name`` (any case), "" when absent; continuation lines joined by newlines."""
        return self.fields.get(name.lower(), "")

    @property
    def package(self) -> str:
        return self.field("package")

    @property
    def version(self) -> str:
        return self.field("version")

    @property
    def arch(self) -> str:
        return self.field("architecture")

    @property
    def essential(self) -> bool:
        return self.field("essential").lower() == "yes"

    @property
    def installed(self) -> bool:
        """The last word of Status is "installed"; a record without Status (distroless status.d) is."""
        state = self.field("status").split()
        return not state or state[-1] == "installed"

    @property
    def label(self) -> str:
        """``<package> <version>`` for a report."""
        return shown(f"{self.package} {self.version}".strip())

    def conffiles(self) -> list[str]:
        """Root-relative paths of the ``Conffiles`` field (lines ``/etc/x <md5> [obsolete]``)."""
        lines = self.field("conffiles").splitlines()
        paths = (root_relative(line.split()[0]) for line in lines if line.strip())
        return [path for path in paths if path]


@dataclass(frozen=True, slots=True)
class StatusFile:
    head: bytes
    """Blank lines before the first record."""
    records: tuple[Record, ...]

    def without(self, drop: set[int]) -> bytes:
        """The file minus the records at ``drop``; the rest byte for byte, and the file still ends the way it
        ended (the last record kept takes over the removed last record's trailing blank lines)."""
        kept = [r for i, r in enumerate(self.records) if i not in drop]
        parts = [self.head, *(r.body + r.tail for r in kept)]
        last = len(self.records) - 1
        if kept and last in drop:
            parts[-1] = kept[-1].body + self.records[last].tail
        return b"".join(parts)


def _fields(body: bytes) -> dict[str, str]:
    """Field names (lowercased) to values; continuation lines are kept, one per line. The first occurrence of
    a field wins."""
    fields: dict[str, str] = {}
    key = ""
    for line in decoded(body).splitlines():
        if line[:1] in (" ", "\t"):
            if key:
                fields[key] += "\n" + line.strip()
        elif ":" in line:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            key = "" if name in fields else name
            if key:
                fields[key] = value.strip()
    return fields


def parse_status(data: bytes) -> StatusFile:
    """A status file's records, split on blank lines; ``without(set())`` gives ``data`` back."""
    lines = data.split(b"\n")
    items = [line + b"\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    head: list[bytes] = []
    blocks: list[tuple[list[bytes], list[bytes]]] = []
    for line in items:
        if not line.strip():
            (blocks[-1][1] if blocks else head).append(line)
        else:
            if not blocks or blocks[-1][1]:
                blocks.append(([], []))
            blocks[-1][0].append(line)
    records = []
    for body_lines, tail_lines in blocks:
        body = b"".join(body_lines)
        records.append(Record(body, b"".join(tail_lines), _fields(body)))
    return StatusFile(b"".join(head), tuple(records))


@dataclass(frozen=True, slots=True)
class StatusSource:
    """A file holding status records: ``var/lib/dpkg/status`` or one distroless ``status.d/<name>``."""

    path: PurePosixPath
    in_status_d: bool = False
    md5sums: PurePosixPath | None = None
    """``status.d/<name>.md5sums``: the file list of a status.d record (distroless has no info directory)."""


def status_sources(rootfs: Rootfs) -> tuple[StatusSource, ...]:
    """``status`` when present, then the files directly in ``status.d`` by name (``.md5sums`` are file lists)."""
    found = [StatusSource(STATUS)] if rootfs.resolve(STATUS) is not None else []
    in_status_d = directory_files(rootfs, STATUS_D)
    for name in sorted(in_status_d):
        if not name.endswith(".md5sums"):
            found.append(StatusSource(in_status_d[name], True, in_status_d.get(f"{name}.md5sums")))
    return tuple(found)


def read_status(rootfs: Rootfs, blobs: BlobStore, source: StatusSource) -> StatusFile | None:
    data = file_bytes(rootfs, blobs, source.path)
    return None if data is None else parse_status(data)
