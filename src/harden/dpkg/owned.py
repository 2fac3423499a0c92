"""What a package owns: the paths its file list names, and where dpkg-divert moved some of them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from harden.dpkg.rootfs import DIVERSIONS, INFO, directory_files, root_relative
from harden.dpkg.status import Record, decoded
from harden.image.blobs import BlobStore
from harden.image.files import file_bytes
from harden.image.model import Rootfs


class InfoDir:
    """``var/lib/dpkg/info``: a package's files there are ``<package>[:<arch>].<kind>`` (list, md5sums,
    conffiles, postinst, ...); a dotted package name (``python3.11``) is no prefix trap."""

    def __init__(self, rootfs: Rootfs) -> None:
        by_stem: dict[str, list[PurePosixPath]] = {}
        for file_name, path in directory_files(rootfs, INFO).items():
            if "." in file_name:
                by_stem.setdefault(file_name.rsplit(".", 1)[0], []).append(path)
        self._by_stem = {stem: tuple(sorted(paths)) for stem, paths in by_stem.items()}

    def list_files(self, record: Record) -> list[tuple[PurePosixPath, tuple[PurePosixPath, ...]]]:
        """(``.list`` file, every info file of its stem) for ``<package>:<arch>``, then ``<package>``."""
        stems = [f"{record.package}:{record.arch}", record.package] if record.arch else [record.package]
        found = []
        for stem in stems:
            files = self._by_stem.get(stem, ())
            listed = next((p for p in files if p.name == f"{stem}.list"), None)
            if listed is not None:
                found.append((listed, files))
        return found


@dataclass(frozen=True, slots=True)
class FileList:
    source: PurePosixPath
    """The ``.list`` (or ``.md5sums``) file read."""
    paths: tuple[str, ...]
    """Root-relative, normalized, the root left out; directories included, as dpkg lists them."""
    info_files: tuple[PurePosixPath, ...]
    """The package's files in ``var/lib/dpkg/info`` (none for a status.d file list)."""


def _listed_paths(data: bytes) -> tuple[str, ...]:
    """Paths of a ``.list`` file (one absolute path a line)."""
    paths = (root_relative(line) for line in decoded(data).splitlines() if line.strip())
    return tuple(path for path in paths if path)


def _md5sums_paths(data: bytes) -> tuple[str, ...]:
    """Paths of an ``.md5sums`` file (``<md5>  <path>`` a line)."""
    rows = (line.strip().split(None, 1) for line in decoded(data).splitlines())
    paths = (root_relative(row[1]) for row in rows if len(row) == 2)
    return tuple(path for path in paths if path)


def file_list(
    rootfs: Rootfs, blobs: BlobStore, info: InfoDir, record: Record, md5sums: PurePosixPath | None = None
) -> FileList | None:
    """The first readable of the record's ``.list`` files, else ``md5sums``; None when there is neither."""
    for listed, info_files in info.list_files(record):
        data = file_bytes(rootfs, blobs, listed)
        if data is not None:
            return FileList(listed, _listed_paths(data), info_files)
    if md5sums is None or (data := file_bytes(rootfs, blobs, md5sums)) is None:
        return None
    return FileList(md5sums, _md5sums_paths(data), ())


@dataclass(frozen=True, slots=True)
class Diversion:
    to: str
    """Where the diverted file went, root-relative."""
    by: str
    """The diverting package; ":" for a local diversion."""


def read_diversions(rootfs: Rootfs, blobs: BlobStore) -> dict[str, Diversion]:
    """dpkg-divert's database (three lines a diversion: path, where it went, by whom) by diverted path."""
    lines = decoded(file_bytes(rootfs, blobs, DIVERSIONS) or b"").splitlines()
    found: dict[str, Diversion] = {}
    for index in range(0, len(lines) - 2, 3):
        found[root_relative(lines[index])] = Diversion(root_relative(lines[index + 1]), lines[index + 2].strip())
    return found


def where_installed(path: str, package: str, diversions: Mapping[str, Diversion]) -> str:
    """Where ``package``'s listed ``path`` really lies: where a diversion by another package (or a local one)
    moved it, else the path itself."""
    diverted = diversions.get(path)
    return diverted.to if diverted is not None and diverted.by != package else path
