"""Which installed Debian package ships a Python distribution, and every path that package lists.

Debian installs distributions without a ``RECORD`` (``setuptools-66.1.1.egg-info``); dpkg's file list is then
the one exact account of their files. Read through the shared reader (``harden.dpkg``), once and only when
asked: ``var/lib/dpkg/info/<package>[:<arch>].list``, else a distroless ``status.d/<name>.md5sums``, for the
installed records. A package ships a distribution when its list names the metadata (the ``*.dist-info`` /
``*.egg-info`` itself or a path inside it; md5sums name files only). Listed paths come back as the rootfs holds
them: a parent's symlinks are followed, and a path another package diverted (dpkg-divert) is where the
diversion put it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from harden.dpkg.owned import InfoDir, file_list, read_diversions, where_installed
from harden.dpkg.rootfs import PathLookup
from harden.dpkg.status import read_status, shown, status_sources
from harden.image.blobs import BlobStore
from harden.image.model import Rootfs
from harden.pyenv import METADATA_SUFFIXES


@dataclass(frozen=True, slots=True)
class DpkgOwner:
    package: str
    """The package name, safe to show in a report."""
    paths: tuple[PurePosixPath, ...]
    """Every path its file list names (directories included), where the rootfs holds it."""
    metadata: tuple[PurePosixPath, ...]
    """The distribution metadata its list names: more than one when a package ships several distributions."""


def _metadata_of(listed: str) -> str | None:
    """The ``*.dist-info`` / ``*.egg-info`` a listed path is or lies in, None when it is neither."""
    parts = listed.split("/")
    for index, part in enumerate(parts):
        if part.endswith(METADATA_SUFFIXES):
            return "/".join(parts[: index + 1])
    return None


class DpkgOwners:
    """The owning package of a distribution's metadata, looked up by the metadata's rootfs path."""

    def __init__(self, rootfs: Rootfs, blobs: BlobStore) -> None:
        self._rootfs = rootfs
        self._blobs = blobs
        self._lookup = PathLookup(rootfs)
        self._by_metadata: dict[PurePosixPath, DpkgOwner] | None = None

    def owner(self, metadata_dir: PurePosixPath) -> DpkgOwner | None:
        if self._by_metadata is None:
            self._by_metadata = self._read()
        return self._by_metadata.get(metadata_dir)

    def _real(self, listed: str) -> PurePosixPath:
        """``listed`` (root-relative) with its parent's symlinks followed; as written when the parent is gone."""
        return self._lookup.real(listed) or PurePosixPath(listed)

    def _read(self) -> dict[PurePosixPath, DpkgOwner]:
        rootfs, blobs = self._rootfs, self._blobs
        info = InfoDir(rootfs)
        diversions = read_diversions(rootfs, blobs)
        found: dict[PurePosixPath, DpkgOwner] = {}
        for source in status_sources(rootfs):
            status = read_status(rootfs, blobs, source)
            for record in status.records if status is not None else ():
                if not record.package or not record.installed:
                    continue
                listed = file_list(rootfs, blobs, info, record, source.md5sums)
                metadata = {m for p in listed.paths if (m := _metadata_of(p))} if listed is not None else set()
                if listed is None or not metadata:
                    continue
                paths: list[PurePosixPath] = []
                for path in listed.paths:
                    paths.append(self._real(where_installed(path, record.package, diversions)))
                metadata_paths = tuple(sorted({self._real(m) for m in metadata}))
                owner = DpkgOwner(shown(record.package), tuple(dict.fromkeys(paths)), metadata_paths)
                for meta in metadata_paths:
                    found.setdefault(meta, owner)
        return found
