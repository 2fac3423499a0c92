"""A content-addressed store of file contents on disk, inside the run's workspace.

Merging layers puts each winning file's content here once; stages read it and put new contents (stripped ELF
files, new /etc/passwd) here; the layer writer streams from here. Nothing is held in memory.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import IO

CHUNK = 1 << 20


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:]

    def __contains__(self, digest: object) -> bool:
        return isinstance(digest, str) and self.path(digest).exists()

    def open(self, digest: str) -> IO[bytes]:
        return self.path(digest).open("rb")

    def read(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()

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

    def _commit(self, tmp: Path, digest: str) -> None:
        final = self.path(digest)
        if final.exists():
            tmp.unlink()
            return
        final.parent.mkdir(exist_ok=True)
        os.replace(tmp, final)
