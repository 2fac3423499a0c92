"""A deterministic outer tar (docker-archive, oci-archive): fixed order chosen by the caller, mtime 0, root
owner, fixed modes. Layer contents are streamed in, never held in memory."""

from __future__ import annotations

import contextlib
import io
import tarfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, cast

from harden.errors import InternalError


class DeterministicTar:
    def __init__(self, path: Path | None = None, *, fileobj: IO[bytes] | None = None) -> None:
        """Write to ``path``, or to ``fileobj`` (a stream only written to: a pipe, a socket's body)."""
        self._tar = tarfile.TarFile(path, mode="w", fileobj=fileobj, format=tarfile.PAX_FORMAT, encoding="utf-8")

    def __enter__(self) -> DeterministicTar:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._tar.close()

    def close(self) -> None:
        """The end blocks (once: the context's end does nothing more)."""
        self._tar.close()

    @staticmethod
    def _info(name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.mode = mode
        info.size = size
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    def add_dir(self, name: str) -> None:
        self._tar.addfile(self._info(name, tarfile.DIRTYPE, 0o755))

    def add_bytes(self, name: str, data: bytes) -> None:
        self._tar.addfile(self._info(name, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))

    def add_stream(self, name: str, stream: IO[bytes], size: int) -> None:
        """Copy exactly ``size`` bytes of ``stream``; a short or long stream raises (no silent truncation).

        The final read at end of stream also lets a verifying layer stream check its digest.
        """
        self._tar.addfile(self._info(name, tarfile.REGTYPE, 0o644, size), stream)
        if stream.read(1):
            raise InternalError(f"{name}: the stream is longer than its declared {size} bytes")

    @contextlib.contextmanager
    def writing(self, name: str, size: int) -> Iterator[IO[bytes]]:
        """A member of ``size`` bytes whose content the block writes to the file it is given, as it is made
        (its header, which carries the size, goes first). Fewer or more bytes than ``size`` raise."""
        tar = self._tar
        header = self._info(name, tarfile.REGTYPE, 0o644, size).tobuf(tar.format, tar.encoding, tar.errors)
        tar.fileobj.write(header)
        content = _Counted(cast(IO[bytes], tar.fileobj))
        yield cast(IO[bytes], content)
        if content.written != size:
            raise InternalError(f"{name}: {content.written} bytes written, not the declared {size}")
        padding = -size % tarfile.BLOCKSIZE
        tar.fileobj.write(tarfile.NUL * padding)
        tar.offset += len(header) + size + padding  # where tarfile counts the archive's length (its end blocks)

    def add_file(self, name: str, path: Path) -> None:
        with path.open("rb") as stream:
            self.add_stream(name, stream, path.stat().st_size)

    def add_tree(self, root: Path) -> None:
        """Every file and directory below ``root``, in sorted order, named relative to it."""
        for path in sorted(root.rglob("*"), key=lambda p: p.relative_to(root).parts):
            name = path.relative_to(root).as_posix()
            if path.is_dir() and not path.is_symlink():
                self.add_dir(name)
            elif path.is_file() and not path.is_symlink():
                self.add_file(name, path)


class _Counted:
    """A write-only file that counts what goes through it."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self.written = 0

    def write(self, data: bytes) -> int:
        self.written += len(data)
        self._out.write(data)
        return len(data)

    def flush(self) -> None:
        pass
