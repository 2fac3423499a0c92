"""What sinks accept as layers: anything with a ``diff_id`` and an ``open()`` giving the uncompressed tar —
a ``WrittenLayer`` from the writer or a source ``Layer`` (read back and checked against its diff_id again)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Protocol

from harden.errors import InternalError
from harden.image.model import ImageConfig, Layer
from harden.image.writer import WrittenLayer

CHUNK = 1 << 20


class LayerBlob(Protocol):
    @property
    def diff_id(self) -> str: ...

    def open(self) -> IO[bytes]: ...


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
