"""A content-addressed store of file contents (sha256), inside the run's workspace.

A blob is either a file in the store or a *reference* to a byte range of a file already on disk — a layer
member inside an uncompressed image archive the source saved or was given. Merging layers hashes each winning
file where it lies and keeps only (file, offset, size), so nothing is copied; stages put new contents (stripped
ELF files, a new /etc/passwd) as files; the layer writer streams either kind through ``open``. ``path`` hands
out a real file (for worker processes) and copies a referenced blob into the store the first time it is asked.

A referenced file must not change while the store uses it: its identity (device, inode, size, mtime) is taken
when it is first referenced and checked on every open, and a changed file is a BadArchive, never silent.
Nothing is held in memory beyond one chunk.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NamedTuple

from harden.errors import BadArchive

CHUNK = 1 << 20
READ_BUFFER = io.DEFAULT_BUFFER_SIZE
"""Read-ahead of ``open`` on a referenced blob, as for a file: peeking at a header reads little (bigger reads
bypass the buffer)."""


class FileIdentity(NamedTuple):
    """Device, inode, size and modification time (ns) of a file: while they stay, its bytes are the same."""

    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, fd: int) -> FileIdentity:
        st = os.fstat(fd)
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    @classmethod
    def of_path(cls, path: Path) -> FileIdentity:
        st = os.stat(path)
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True, slots=True)
class _Reference:
    """``size`` bytes at ``offset`` of ``source`` (an archive on disk), as it was when hashed."""

    source: Path
    identity: FileIdentity
    offset: int
    size: int


class RangeReader(io.RawIOBase):
    """A seekable read-only view of ``size`` bytes at ``offset`` of an open file descriptor (not owned)."""

    def __init__(self, fd: int, offset: int, size: int, what: str) -> None:
        super().__init__()
        self._fd = fd
        self._start = offset
        self._size = size
        self._pos = 0
        self._what = what

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise OSError(f"{self._what}: negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        want = min(len(view), self._size - self._pos)
        if want <= 0:
            return 0
        got = os.preadv(self._fd, [view[:want]], self._start + self._pos)
        if got == 0:
            raise BadArchive(f"{self._what}: unexpected end of file (the file is shorter than its index says)")
        self._pos += got
        return got

    def readall(self) -> bytes:
        """The rest of the range in one read (instead of RawIOBase's many small ones)."""
        buffer = bytearray(max(0, self._size - self._pos))
        view = memoryview(buffer)
        done = 0
        while done < len(buffer):
            done += self.readinto(view[done:])
        return bytes(buffer)


class _OwnedRangeReader(RangeReader):
    """A RangeReader that owns (and closes) its descriptor."""

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


class RegionSource:
    """An open file whose byte ranges become blobs by reference (``put``); see ``BlobStore.regions``."""

    def __init__(self, store: BlobStore, path: Path) -> None:
        self._store = store
        self.path = path
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self.identity = FileIdentity.of(self._fd)
        """The file as opened (references check it again on every open)."""
        self._buffer = bytearray(CHUNK)

    def __enter__(self) -> RegionSource:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def reader(self, offset: int, size: int) -> RangeReader:
        """A seekable reader of ``size`` bytes at ``offset`` (valid while this source is open)."""
        return RangeReader(self._fd, offset, size, str(self.path))

    def put(self, offset: int, size: int) -> tuple[str, int]:
        """Hash ``size`` bytes at ``offset`` and keep them as a blob by reference; return (sha256 hex, size)."""
        hasher = hashlib.sha256()
        view = memoryview(self._buffer)
        done = 0
        while done < size:
            want = min(CHUNK, size - done)
            got = os.preadv(self._fd, [view[:want]], offset + done)
            if got == 0:
                raise BadArchive(f"{self.path}: unexpected end of file at byte {offset + done}")
            hasher.update(view[:got])
            done += got
        digest = hasher.hexdigest()
        self._store._remember(digest, _Reference(self.path, self.identity, offset, size))
        return digest, size


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._references: dict[str, _Reference] = {}
        self._copied: set[str] = set()
        self._subdirs: set[str] = set()

    def _file(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:]

    def path(self, digest: str) -> Path:
        """A file holding the blob (a referenced blob is copied into the store on first use)."""
        stored = self._file(digest)
        reference = self._references.get(digest)
        if reference is not None and digest not in self._copied:
            if not stored.exists():
                self._materialize(digest, reference)
            self._copied.add(digest)
        return stored

    def __contains__(self, digest: object) -> bool:
        return isinstance(digest, str) and (digest in self._references or self._file(digest).exists())

    def size(self, digest: str) -> int:
        reference = self._references.get(digest)
        if reference is not None:
            return reference.size
        return self._file(digest).stat().st_size

    def subset(self, digests: Iterable[str]) -> BlobStore:
        """The same store, knowing only ``digests`` by reference: what a worker process reads, pickled small."""
        part = BlobStore(self.root)
        for digest in digests:
            reference = self._references.get(digest)
            if reference is not None:
                part._references[digest] = reference
                if digest in self._copied:
                    part._copied.add(digest)
        return part

    def open(self, digest: str) -> IO[bytes]:
        reference = self._references.get(digest)
        if reference is None:
            return self._file(digest).open("rb")
        fd = self._open_reference(reference)
        raw = _OwnedRangeReader(fd, reference.offset, reference.size, str(reference.source))
        return io.BufferedReader(raw, buffer_size=READ_BUFFER)

    def read(self, digest: str) -> bytes:
        reference = self._references.get(digest)
        if reference is None:
            return self._file(digest).read_bytes()
        fd = self._open_reference(reference)
        try:
            return RangeReader(fd, reference.offset, reference.size, str(reference.source)).readall()
        finally:
            os.close(fd)

    def regions(self, path: Path) -> RegionSource:
        """``with blobs.regions(archive) as source: source.put(offset, size)`` — blobs without copying."""
        return RegionSource(self, path)

    def put_stream(self, stream: IO[bytes], limit: int | None = None) -> tuple[str, int]:
        """Copy ``stream`` (at most ``limit`` bytes) into the store; return (sha256 hex, size)."""
        hasher = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                while True:
                    want = CHUNK if limit is None else min(CHUNK, limit - size)
                    if want <= 0:
                        break
                    chunk = stream.read(want)
                    if not chunk:
                        break
                    hasher.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            digest = hasher.hexdigest()
            self._commit(Path(tmp), digest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest, size

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        digest = hashlib.sha256(data).hexdigest()
        if digest not in self:
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            self._commit(Path(tmp), digest)
        return digest, len(data)

    def put_file(self, source: Path) -> tuple[str, int]:
        with source.open("rb") as stream:
            return self.put_stream(stream)

    def _remember(self, digest: str, reference: _Reference) -> None:
        self._references.setdefault(digest, reference)

    def _open_reference(self, reference: _Reference) -> int:
        fd = os.open(reference.source, os.O_RDONLY | os.O_CLOEXEC)
        if FileIdentity.of(fd) != reference.identity:
            os.close(fd)
            raise BadArchive(f"{reference.source} changed while harden was reading it")
        return fd

    def _materialize(self, digest: str, reference: _Reference) -> None:
        source = self._open_reference(reference)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            try:
                _copy_range(source, fd, reference.offset, reference.size)
            finally:
                os.close(fd)
                os.close(source)
            self._commit(Path(tmp), digest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _commit(self, tmp: Path, digest: str) -> None:
        final = self._file(digest)
        if final.exists():
            tmp.unlink()
            return
        if digest[:2] not in self._subdirs:
            final.parent.mkdir(exist_ok=True)
            self._subdirs.add(digest[:2])
        os.replace(tmp, final)


def _copy_range(source: int, dest: int, offset: int, size: int) -> None:
    """Copy ``size`` bytes at ``offset`` of ``source`` to ``dest`` (in the kernel where it can)."""
    done = 0
    try:
        while done < size:
            copied = os.copy_file_range(source, dest, size - done, offset + done)
            if copied == 0:
                break
            done += copied
    except OSError:
        pass  # not supported here (old kernel, other file systems): copy through user space
    while done < size:
        chunk = os.pread(source, min(CHUNK, size - done), offset + done)
        if not chunk:
            raise BadArchive(f"unexpected end of file while copying a blob ({size - done} bytes missing)")
        os.pwrite(dest, chunk, done)
        done += len(chunk)
