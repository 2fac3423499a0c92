"""Layers on their way out: what writers accept (anything with a ``diff_id`` and an ``open()`` giving the
uncompressed tar), the ``--compression`` choice, and the compressed blobs of one run, made once and shared by
every output that stores them (oci, oci-archive, registry).

Compression is deterministic, so the same layer gives the same blob digest: gzip as members of a fixed size
(compressed on every core), without a file name and with mtime 0, at a fixed level; zstd at a fixed level in
zstd's multi-threaded mode (its output does not depend on the number of threads), the content size in the frame
header.
"""

from __future__ import annotations

import functools
import gzip
import os
import re
import shutil
import tempfile
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, Protocol, cast

from harden.atomic import make_ordinary
from harden.errors import InternalError, UsageError
from harden.image._streams import CHUNK, HashingWriter, open_verified
from harden.image.model import FileRegion, ImageConfig, Layer
from harden.image.writer import LAYER_MEDIA_TYPE, WrittenLayer

GZIP_LEVEL = 6
ZSTD_LEVEL = 3
_LEVELS = {"gzip": range(1, 10), "zstd": range(1, 23)}
_COMPRESSION_RE = re.compile(r"^(?P<kind>gzip|zstd)(?::(?P<level>[0-9]{1,2}))?$")


class LayerBlob(Protocol):
    @property
    def diff_id(self) -> str: ...

    def open(self) -> IO[bytes]: ...


@dataclass(frozen=True, slots=True)
class Compression:
    """How layers are compressed in the outputs that compress them: ``gzip`` (level 1-9, default 6) or ``zstd``
    (level 1-22, default 3)."""

    kind: Literal["gzip", "zstd"] = "gzip"
    level: int = GZIP_LEVEL

    @classmethod
    def parse(cls, text: str) -> Compression:
        """``gzip``, ``gzip:9``, ``zstd`` or ``zstd:19``; anything else is a UsageError."""
        match = _COMPRESSION_RE.match(text.strip().lower())
        if match is None:
            raise UsageError(f"--compression {text!r}: expected gzip[:LEVEL] or zstd[:LEVEL]")
        kind = cast(Literal["gzip", "zstd"], match.group("kind"))
        level = int(match.group("level")) if match.group("level") else (GZIP_LEVEL if kind == "gzip" else ZSTD_LEVEL)
        if level not in _LEVELS[kind]:
            levels = _LEVELS[kind]
            raise UsageError(f"--compression {text!r}: {kind} levels are {levels.start}-{levels.stop - 1}")
        return cls(kind, level)

    @property
    def media_type(self) -> str:
        return f"{LAYER_MEDIA_TYPE}+{self.kind}"

    def __str__(self) -> str:
        return f"{self.kind}:{self.level}"


DEFAULT_COMPRESSION = Compression()


def check_layers(config: ImageConfig, layers: Sequence[LayerBlob]) -> None:
    """The config must list exactly these layers; anything else would produce an unloadable image."""
    wanted = list(config.diff_ids)
    given = [layer.diff_id for layer in layers]
    if wanted != given:
        raise InternalError(
            "config rootfs.diff_ids do not match the layers to write",
            details=[f"config: {wanted}", f"layers: {given}"],
        )


def known_size(layer: LayerBlob) -> int | None:
    """The uncompressed size when it is known without reading the layer."""
    if isinstance(layer, WrittenLayer):
        return layer.size
    if isinstance(layer, Layer) and layer.size is not None and "+" not in layer.media_type:
        return layer.size
    return None


@contextmanager
def spooled(layer: LayerBlob, workdir: Path) -> Iterator[tuple[IO[bytes], int]]:
    """(stream, size) of the uncompressed layer; copied to a temp file first when the size is not known."""
    size = known_size(layer)
    if size is not None:
        with layer.open() as stream:
            yield stream, size
        return
    with tempfile.TemporaryFile(dir=workdir) as spool:
        with layer.open() as stream:
            shutil.copyfileobj(stream, spool, CHUNK)
        size = spool.tell()
        spool.seek(0)
        yield spool, size


def reopened(layer: WrittenLayer, what: str) -> Layer:
    """A written layer as the outputs read it: every read checked against its diff_id again."""
    path = layer.path
    return Layer(
        diff_id=layer.diff_id,
        open=functools.partial(open_verified, lambda: path.open("rb"), layer.diff_id, what),
        size=layer.size,
        media_type=LAYER_MEDIA_TYPE,
        region=FileRegion(path, 0, layer.size),
    )


@dataclass(frozen=True, slots=True)
class Blob:
    """A blob in a file: what a layout stores and a registry receives."""

    path: Path
    digest: str
    size: int
    media_type: str

    def descriptor(self) -> dict[str, object]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


class LayerBlobs:
    """The compressed layer blobs of one run, in ``folder`` (inside the workspace): each (layer, compression)
    is compressed once, however many outputs store it. ``None`` as the compression keeps the layer tar as is."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._made: dict[tuple[str, Compression | None], Blob] = {}

    def blob(self, layer: LayerBlob, compression: Compression | None) -> Blob:
        key = (layer.diff_id, compression)
        made = self._made.get(key)
        if made is None or not made.path.is_file():
            made = self._made[key] = self._compress(layer, compression)
        return made

    def _compress(self, layer: LayerBlob, compression: Compression | None) -> Blob:
        self._folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self._folder, prefix=".layer-")
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as raw, layer.open() as source:
                out = HashingWriter(raw)
                compress_stream(source, cast(IO[bytes], out), compression, known_size(layer))
            final = self._folder / f"{out.digest.partition(':')[2]}"
            make_ordinary(tmp)
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        media_type = compression.media_type if compression is not None else LAYER_MEDIA_TYPE
        return Blob(final, out.digest, out.size, media_type)


def compress_stream(source: IO[bytes], out: IO[bytes], compression: Compression | None, size: int | None) -> None:
    """Copy ``source`` to ``out``, compressed deterministically (or as is, without a compression)."""
    if compression is None:
        shutil.copyfileobj(source, out, CHUNK)
    elif compression.kind == "gzip":
        gzip_members(source, out, compression.level)
    else:
        import zstandard

        compressor = zstandard.ZstdCompressor(level=compression.level, write_checksum=True,
                                              write_content_size=size is not None, threads=-1)
        if size is not None:
            compressor.copy_stream(source, out, size=size, read_size=CHUNK, write_size=CHUNK)
        else:
            compressor.copy_stream(source, out, read_size=CHUNK, write_size=CHUNK)


GZIP_BLOCK = 4 << 20
"""Uncompressed bytes per gzip member: fixed, so the blob is the same whatever the number of cores."""


def gzip_members(source: IO[bytes], out: IO[bytes], level: int, *, workers: int | None = None) -> None:
    """``source`` as consecutive gzip members of ``GZIP_BLOCK`` bytes each (RFC 1952 allows several; every
    reader of layers takes them: Go's gzip reader, hence docker, containerd, podman, skopeo and umoci; Python's
    gzip; zcat), compressed on every core (zlib lets go of the GIL), written in order. Each member starts with
    an empty dictionary: the blob is about 0.1 % larger than one member would be."""
    workers = workers or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="harden-gzip") as pool:
        pending: deque[Future[bytes]] = deque()
        block = source.read(GZIP_BLOCK)
        pending.append(pool.submit(gzip.compress, block, level, mtime=0))  # an empty layer is one empty member
        while block := source.read(GZIP_BLOCK):
            pending.append(pool.submit(gzip.compress, block, level, mtime=0))
            while len(pending) > workers:  # at most twice `workers` blocks in memory
                out.write(pending.popleft().result())
        while pending:
            out.write(pending.popleft().result())


def place_blob(blob: Blob, dest: Path) -> None:
    """Put ``blob`` at ``dest`` (a layout's ``blobs/sha256/HEX``): a hard link when it can be (same file
    system, nothing copied), else a copy. An existing ``dest`` is left as is: the name is the digest."""
    if dest.exists():
        return
    try:
        os.link(blob.path, dest)
        return
    except OSError:
        pass
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as out, blob.path.open("rb") as source:
            shutil.copyfileobj(source, out, CHUNK)
        make_ordinary(Path(name))
        os.replace(name, dest)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
