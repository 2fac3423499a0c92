"""Write a Rootfs into a real directory (the verifier's bwrap sandbox root).

Every path is created relative to an open directory descriptor, each parent opened with ``O_NOFOLLOW |
O_DIRECTORY``, files with ``O_EXCL | O_NOFOLLOW``: a symlink in the tree can never redirect a write outside
``dest``, whatever the Rootfs says. Modes are kept (setuid included); ownership is applied only when running
as root; device nodes are created only as root (skipped otherwise); xattrs are applied where the host allows.
Directory modes and times are applied last, deepest first, so read-only directories can still be filled.

``inert=True`` (what the verifier uses) makes the tree harmless to the host while it exists: the sandbox's
parent directory can be world-searchable, so an image's setuid-root binary or ``0666`` block device would be
usable by every local user. Setuid/setgid bits are cleared and device nodes are created owned by root with
mode 000 (the sandbox mounts the tree nosuid and nodev anyway; findings use the model, not this tree).
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
from pathlib import Path, PurePosixPath

from harden.errors import InternalError
from harden.image._tree import ROOT, entries_with_parents, link_plan
from harden.image.blobs import BlobStore
from harden.image.model import EntryType, FileEntry, Rootfs

log = logging.getLogger(__name__)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
CHUNK = 1 << 20


class _Dirs:
    """Open directory descriptors along the current path, reused across siblings (entries come sorted)."""

    def __init__(self, root_fd: int) -> None:
        self.root_fd = root_fd
        self._open: dict[PurePosixPath, int] = {}

    def fd(self, path: PurePosixPath) -> int:
        chain = [] if path == ROOT else [*reversed(path.parents[:-1]), path]
        keep = set(chain)
        for cached in [p for p in self._open if p not in keep]:
            os.close(self._open.pop(cached))
        current = self.root_fd
        for step in chain:
            fd = self._open.get(step)
            if fd is None:
                fd = open_dir_at(current, step.name, step)
                self._open[step] = fd
            current = fd
        return current

    def fresh(self, path: PurePosixPath) -> int:
        """A new descriptor for ``path`` (the caller closes it), opened component by component."""
        current = os.dup(self.root_fd)
        for step in [] if path == ROOT else [*reversed(path.parents[:-1]), path]:
            try:
                nxt = open_dir_at(current, step.name, step)
            finally:
                os.close(current)
            current = nxt
        return current

    def close(self) -> None:
        for fd in self._open.values():
            os.close(fd)
        self._open.clear()


def open_dir_at(parent_fd: int, name: str, path: PurePosixPath) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except OSError as exc:
        raise InternalError(f"materialize: {path} is not a plain directory ({exc.strerror})") from exc


def materialize(rootfs: Rootfs, blobs: BlobStore, dest: Path, *, inert: bool = False) -> tuple[PurePosixPath, ...]:
    """Create ``rootfs`` under ``dest`` (missing or empty); return the paths skipped (devices)."""
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise InternalError(f"materialize: {dest} is not empty")
    writer = _Writer(rootfs, blobs, os.open(dest, _DIR_FLAGS), inert=inert)
    try:
        writer.write_all()
    finally:
        writer.close()
    return tuple(writer.skipped)


class _Writer:
    def __init__(self, rootfs: Rootfs, blobs: BlobStore, root_fd: int, *, inert: bool = False) -> None:
        self.inert = inert
        self.rootfs = rootfs
        self.blobs = blobs
        self.root_fd = root_fd
        self.dirs = _Dirs(root_fd)
        self.privileged = os.geteuid() == 0
        self.links = link_plan(rootfs)
        self.skipped: list[PurePosixPath] = []

    def close(self) -> None:
        self.dirs.close()
        os.close(self.root_fd)

    def write_all(self) -> None:
        directories: list[FileEntry] = []
        for entry in entries_with_parents(self.rootfs):
            parent = self.dirs.fd(entry.path.parent)
            name = entry.path.name
            if entry.type is EntryType.DIR:
                os.mkdir(name, 0o700, dir_fd=parent)
                directories.append(entry)
            elif entry.path in self.links:
                self._hardlink(entry, parent)
            elif entry.has_content:
                self._file(entry, parent)
            elif entry.type is EntryType.SYMLINK:
                self._symlink(entry, parent)
            elif entry.type is EntryType.FIFO:
                os.mkfifo(name, 0o600, dir_fd=parent)
                self._special_metadata(entry, parent)
            elif self.privileged:
                kind = stat.S_IFCHR if entry.type is EntryType.CHAR else stat.S_IFBLK
                os.mknod(name, kind | (0 if self.inert else 0o600), os.makedev(entry.devmajor, entry.devminor),
                         dir_fd=parent)
                if not self.inert:  # inert: root's, mode 000, whatever the image says
                    self._special_metadata(entry, parent)
            else:
                self.skipped.append(entry.path)
        self.dirs.close()
        for entry in reversed(directories):
            fd = self.dirs.fresh(entry.path)
            try:
                self._metadata(fd, entry)
            finally:
                os.close(fd)

    def _metadata(self, fd: int, entry: FileEntry) -> None:
        if self.privileged:
            os.fchown(fd, entry.uid, entry.gid)
        os.fchmod(fd, entry.mode & (0o1777 if self.inert and not entry.is_dir else 0o7777))
        for key, value in entry.xattrs:
            try:
                os.setxattr(fd, key, value.encode("utf-8", "surrogateescape"))
            except OSError as exc:
                log.debug("materialize: xattr %s on %s not applied: %s", key, entry.path, exc)
        os.utime(fd, ns=(entry.mtime * 10**9, entry.mtime * 10**9))

    def _file(self, entry: FileEntry, parent: int) -> None:
        if entry.digest is None or entry.digest not in self.blobs:
            raise InternalError(f"materialize: no content for {entry.path} ({entry.digest})")
        fd = os.open(entry.path.name, _NEW_FILE_FLAGS, 0o600, dir_fd=parent)
        try:
            with self.blobs.open(entry.digest) as source, os.fdopen(os.dup(fd), "wb") as out:
                shutil.copyfileobj(source, out, CHUNK)
            self._metadata(fd, entry)
        finally:
            os.close(fd)

    def _hardlink(self, entry: FileEntry, parent: int) -> None:
        leader = self.links[entry.path]
        source_dir = self.dirs.fresh(leader.parent)
        try:
            os.link(
                leader.name, entry.path.name, src_dir_fd=source_dir, dst_dir_fd=parent, follow_symlinks=False
            )
        finally:
            os.close(source_dir)

    def _symlink(self, entry: FileEntry, parent: int) -> None:
        name = entry.path.name
        os.symlink(entry.linkname or "", name, dir_fd=parent)
        if self.privileged:
            os.chown(name, entry.uid, entry.gid, dir_fd=parent, follow_symlinks=False)
        os.utime(name, ns=(entry.mtime * 10**9, entry.mtime * 10**9), dir_fd=parent, follow_symlinks=False)

    def _special_metadata(self, entry: FileEntry, parent: int) -> None:
        """FIFOs and devices cannot be opened safely; they were just created here, so set metadata by name."""
        name = entry.path.name
        info = os.stat(name, dir_fd=parent, follow_symlinks=False)
        if stat.S_ISLNK(info.st_mode):
            raise InternalError(f"materialize: {entry.path} changed under us")
        if self.privileged:
            os.chown(name, entry.uid, entry.gid, dir_fd=parent, follow_symlinks=False)
        os.chmod(name, entry.mode & 0o7777, dir_fd=parent)
        os.utime(name, ns=(entry.mtime * 10**9, entry.mtime * 10**9), dir_fd=parent, follow_symlinks=False)
