"""Byte streams for layers: sniffed decompression, a file region, a reader that checks the diff_id, and a
producer thread whose writes become an iterator of chunks (a request body never written to disk).

Nothing here holds more than one chunk in memory (``produced``: its queue's depth, plus one). Decompression
and digest failures surface as BadArchive.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import hashlib
import io
import lzma
import os
import queue
import tarfile
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, cast

import zstandard

from harden.errors import BadArchive

CHUNK = 1 << 20

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"

_DECOMPRESSION_ERRORS: tuple[type[BaseException], ...] = (
    EOFError,
    zlib.error,
    lzma.LZMAError,
    gzip.BadGzipFile,
    zstandard.ZstdError,
)


def sniff_compression(head: bytes) -> str:
    """ "gzip", "zstd", "bzip2", "xz" or "" (uncompressed) from the first bytes of a blob."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(XZ_MAGIC):
        return "xz"
    if head.startswith(BZIP2_MAGIC) and len(head) > 3 and head[3:4].isdigit():
        return "bzip2"
    return ""


def layer_media_type(compression: str) -> str:
    base = "application/vnd.oci.image.layer.v1.tar"
    return base + {"gzip": "+gzip", "zstd": "+zstd"}.get(compression, "")


class RegionReader(io.RawIOBase):
    """``size`` bytes of a file starting at ``offset`` (a member inside an outer tar), read lazily."""

    def __init__(self, path: Path, offset: int, size: int) -> None:
        super().__init__()
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self._offset = offset
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        want = min(len(view), self._left)
        if want <= 0:
            return 0
        data = os.pread(self._fd, want, self._offset)
        view[: len(data)] = data
        self._offset += len(data)
        self._left -= len(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


def decompressor(raw: IO[bytes], compression: str, what: str) -> IO[bytes]:
    """A reader of the decompressed ``raw`` (which the caller still closes)."""
    if compression == "gzip":
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))
    if compression == "bzip2":
        return bz2.BZ2File(raw)
    if compression == "xz":
        return lzma.LZMAFile(raw)
    if compression == "zstd":
        return cast(IO[bytes], zstandard.ZstdDecompressor().stream_reader(raw))
    return raw


class VerifyingReader(io.RawIOBase):
    """Reads ``inner``; at end of stream, checks that its sha256 equals ``expected`` (else BadArchive).

    Decompression errors (truncated or corrupt gzip, xz, bzip2) are reported as BadArchive too.
    """

    def __init__(
        self, inner: IO[bytes], expected: str | None, what: str, *, source: IO[bytes] | None = None
    ) -> None:
        super().__init__()
        self._inner = inner
        self._source = source
        self._expected = expected
        self._what = what
        self._hasher = hashlib.sha256()
        self._size = 0
        self._failure: BadArchive | None = None
        self._done = False

    def readable(self) -> bool:
        return True

    @property
    def size(self) -> int:
        return self._size

    def readinto(self, buffer: Any) -> int:
        if self._failure is not None:
            raise self._failure
        view = memoryview(buffer).cast("B")
        try:
            data = self._inner.read(len(view))
        except BadArchive:
            raise
        except _DECOMPRESSION_ERRORS as exc:
            self._failure = BadArchive(f"{self._what}: corrupt or truncated data ({exc})")
            raise self._failure from exc
        if data:
            self._hasher.update(data)
            self._size += len(data)
            view[: len(data)] = data
            return len(data)
        if len(view) and not self._done:
            self._done = True
            self._check()
        return 0

    def _check(self) -> None:
        actual = "sha256:" + self._hasher.hexdigest()
        if self._expected is not None and actual != self._expected:
            self._failure = BadArchive(
                f"{self._what}: uncompressed content does not match its diff_id",
                details=[f"expected {self._expected}", f"got {actual} ({self._size} bytes)"],
            )
            raise self._failure

    def close(self) -> None:
        if not self.closed:
            try:
                self._inner.close()
            finally:
                if self._source is not None:
                    self._source.close()
        super().close()


def open_verified(opener: Callable[[], IO[bytes]], expected: str | None, what: str) -> IO[bytes]:
    """The uncompressed stream of a (possibly compressed) layer blob, checked against ``expected``."""
    try:
        raw = io.BufferedReader(_raw(opener), buffer_size=CHUNK)
    except OSError as exc:
        raise BadArchive(f"{what}: cannot open ({exc.strerror or exc})") from exc
    try:
        compression = sniff_compression(raw.peek(8)[:8])
        inner = decompressor(raw, compression, what)
    except BaseException:
        raw.close()
        raise
    return io.BufferedReader(VerifyingReader(inner, expected, what, source=raw), buffer_size=CHUNK)


def _raw(opener: Callable[[], IO[bytes]]) -> io.RawIOBase:
    stream = opener()
    if isinstance(stream, io.RawIOBase):
        return stream
    return _Adapter(stream)


class _Adapter(io.RawIOBase):
    def __init__(self, inner: IO[bytes]) -> None:
        super().__init__()
        self._inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._inner.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()


class MeteredReader(io.RawIOBase):
    """Reads ``inner`` (not closed here) and reports the size of every read to ``charge`` before handing the
    bytes on; ``charge`` raises to stop the stream (a size limit), so bytes past it are never handed on."""

    def __init__(self, inner: IO[bytes], charge: Callable[[int], None]) -> None:
        super().__init__()
        self._inner = inner
        self._charge = charge

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()  # in CHUNK-sized reads, each one charged
        data = self._inner.read(size)
        if data:
            self._charge(len(data))
        return data

    def readall(self) -> bytes:
        parts = []
        while data := self.read(CHUNK):
            parts.append(data)
        return b"".join(parts)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)


class HashingWriter:
    """A write-only file wrapper that computes sha256 and size of everything written through it."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self.hasher = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hasher.update(data)
        self.size += len(data)
        return self._out.write(data)

    def flush(self) -> None:
        self._out.flush()

    @property
    def digest(self) -> str:
        return "sha256:" + self.hasher.hexdigest()


def forget_members(tar: tarfile.TarFile) -> None:
    """Drop the TarInfo list a streaming TarFile accumulates, so memory does not grow with the entry count."""
    vars(tar)["members"].clear()


def drain(stream: IO[bytes]) -> None:
    """Read ``stream`` to its end (so that a VerifyingReader checks the digest)."""
    while stream.read(CHUNK):
        pass


class QueueWriter:
    """The write end of ``produced``: buffers ``CHUNK`` bytes, then hands them to the consumer's queue."""

    def __init__(self, pending: queue.Queue[bytes | None], stopped: threading.Event) -> None:
        self._pending = pending
        self._stopped = stopped
        self._buffer = bytearray()
        self._written = 0

    def write(self, data: bytes) -> int:
        self._buffer += data
        self._written += len(data)
        if len(self._buffer) >= CHUNK:
            self.flush()
        return len(data)

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        if self._buffer:
            self._put(bytes(self._buffer))
            self._buffer.clear()

    def put_end(self) -> None:
        """Tell the consumer that nothing more comes (after ``flush``)."""
        self._put(None)

    def _put(self, item: bytes | None) -> None:
        while not self._stopped.is_set():
            try:
                self._pending.put(item, timeout=0.5)
                return
            except queue.Full:
                continue
        raise ConsumerGone


class ConsumerGone(Exception):
    """The consumer of ``produced`` stopped reading (its own error, or it was closed)."""


def produced(fill: Callable[[IO[bytes]], None], *, depth: int = 4) -> Iterator[bytes]:
    """The bytes ``fill`` writes to the file it is given, as chunks, while it writes them (on a second
    thread): a body to send that is never written to disk. At most ``depth`` chunks wait in between. An
    error in ``fill`` is raised to the consumer after the chunks before it; closing the iterator early stops
    ``fill`` at its next write."""
    pending: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
    stopped = threading.Event()
    failed: list[BaseException] = []
    out = QueueWriter(pending, stopped)

    def run() -> None:
        try:
            fill(cast(IO[bytes], out))
            out.flush()
        except ConsumerGone:
            return
        except BaseException as exc:  # handed to the consumer below
            failed.append(exc)
        with contextlib.suppress(ConsumerGone):
            out.put_end()

    producer = threading.Thread(target=run, name="harden-produced", daemon=True)
    producer.start()
    try:
        while (chunk := pending.get()) is not None:
            yield chunk
    finally:
        stopped.set()
        producer.join()
    if failed:
        raise failed[0]
