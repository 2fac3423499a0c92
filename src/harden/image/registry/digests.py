"""Content digests: computing them over bytes and files, and checking a stream while it is copied.

A ``DigestSink`` takes bytes as they arrive, hashes them, refuses any byte past the size it was promised (or
past the caller's limit) and says at the end whether the bytes match the digest they were asked for. Nothing
is held beyond one chunk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Protocol

from harden.errors import BadArchive, ImageTooLarge, UsageError

CHUNK = 1 << 20
ALGORITHMS = ("sha256", "sha512")


class Writer(Protocol):
    """What a blob can be written to: a binary file or anything with ``write(bytes)``."""

    def write(self, data: bytes, /) -> object: ...


def hasher_for(digest: str) -> hashlib._Hash:
    algorithm, _, hexpart = digest.partition(":")
    if algorithm not in ALGORITHMS or not hexpart:
        raise UsageError(f"unsupported digest {digest!r} (expected sha256:… or sha512:…)")
    return hashlib.new(algorithm)


def digest_bytes(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def digest_file(path: Path, algorithm: str = "sha256") -> tuple[str, int]:
    """(digest, size) of a file, read in chunks."""
    hasher = hashlib.new(algorithm)
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            hasher.update(chunk)
            size += len(chunk)
    return f"{algorithm}:{hasher.hexdigest()}", size


def digest_stream(opener: Callable[[], IO[bytes]], algorithm: str = "sha256") -> tuple[str, int]:
    """(digest, size) of what ``opener()`` reads, in chunks."""
    hasher = hashlib.new(algorithm)
    size = 0
    with opener() as stream:
        while chunk := stream.read(CHUNK):
            hasher.update(chunk)
            size += len(chunk)
    return f"{algorithm}:{hasher.hexdigest()}", size


class DigestSink:
    """Hashes and forwards bytes to ``out``; ``what`` names the blob in errors (it is one line)."""

    def __init__(
        self, out: Writer, expected: str, what: str, *, size: int | None = None, max_bytes: int | None = None
    ) -> None:
        self._out = out
        self._hasher = hasher_for(expected)
        self.expected = expected
        self.what = what
        self._size = size
        self._max = max_bytes
        self.written = 0

    def write(self, data: bytes) -> None:
        total = self.written + len(data)
        if self._size is not None and total > self._size:
            raise BadArchive(f"{self.what}: more bytes than the {self._size} its descriptor promises")
        if self._max is not None and total > self._max:
            raise ImageTooLarge(f"{self.what}: larger than the limit of {self._max} bytes")
        self._hasher.update(data)
        self._out.write(data)
        self.written = total

    @property
    def actual(self) -> str:
        return f"{self.expected.partition(':')[0]}:{self._hasher.hexdigest()}"

    def finish(self) -> None:
        """Raise BadArchive unless every promised byte came and the digest matches."""
        if self._size is not None and self.written != self._size:
            raise BadArchive(f"{self.what}: truncated ({self.written} of {self._size} bytes)")
        if self.actual != self.expected:
            raise BadArchive(f"{self.what}: content does not match its digest (got {self.actual})")
