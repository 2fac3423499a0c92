"""Paths of dpkg's database and of the files it lists, looked up in a Rootfs."""

from __future__ import annotations

import posixpath
from pathlib import PurePosixPath

from harden.image.model import EntryType, FileEntry, Rootfs

DPKG = PurePosixPath("var/lib/dpkg")
STATUS = DPKG / "status"
STATUS_D = DPKG / "status.d"
INFO = DPKG / "info"
DIVERSIONS = DPKG / "diversions"
ROOT = PurePosixPath(".")


def root_relative(path: str) -> str:
    """A listed absolute path (``/usr/bin/dash``) as a normalized root-relative one; the root itself is ""."""
    return posixpath.normpath("/" + path.strip()).lstrip("/")


def directory_files(rootfs: Rootfs, directory: PurePosixPath) -> dict[str, PurePosixPath]:
    """Name -> path of what lies directly in ``directory`` (its symlinks followed), directories left out."""
    real = rootfs.resolve(directory)
    if real is None or (entry := rootfs.get(real)) is None or not entry.is_dir:
        return {}
    return {e.path.name: e.path for e in rootfs.under(real) if e.path.parent == real and not e.is_dir}


class PathLookup:
    """Listed paths against the rootfs: a parent's symlinks are followed (each parent resolved once), the
    last component is not, so a symlink counts as present (merged-usr ``/bin/dash`` is ``usr/bin/dash``)."""

    def __init__(self, rootfs: Rootfs) -> None:
        self.rootfs = rootfs
        self._parents: dict[str, PurePosixPath | None] = {}

    def entry(self, path: str) -> FileEntry | None:
        """The entry at root-relative ``path``; None for the root and for what is not there."""
        if not path or path == ".":
            return None
        found = self.rootfs.get(path)
        if found is not None:
            return found
        real = self.real(path)
        return None if real is None else self.rootfs.get(real)

    def real(self, path: str) -> PurePosixPath | None:
        """Root-relative ``path`` with its parent's symlinks followed; None when the parent is not there."""
        parent, _, name = path.rpartition("/")
        if parent not in self._parents:
            self._parents[parent] = self.rootfs.resolve(parent) if parent else ROOT
        real = self._parents[parent]
        return None if real is None else real / name

    def is_dir(self, entry: FileEntry) -> bool:
        """A directory, or a symlink standing where a package put one (merged-usr ``bin -> usr/bin``)."""
        if entry.is_dir:
            return True
        if entry.type is not EntryType.SYMLINK:
            return False
        target = self.rootfs.resolve(entry.path)
        real = self.rootfs.get(target) if target is not None else None
        return real is not None and real.is_dir
