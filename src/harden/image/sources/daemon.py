"""An image in the Docker-API engine (Docker or podman), by name, tag or id.

The engine's ``save`` stream is written to a file in the workspace (never held in memory: a few chunks at a
time, written by a second thread while the next ones arrive) and then read as a docker-archive; podman's save
over the Docker API produces one too.
"""

from __future__ import annotations

import os
import queue
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from harden.errors import UsageError
from harden.image._engine_errors import engine_errors
from harden.image.model import Image
from harden.image.reference import ImageRef
from harden.image.sources._archive import TarArchive
from harden.image.sources.docker_archive import read_docker_archive
from harden.image.space import SizeLimit, limited_chunks

SAVE_CHUNK = 4 << 20
SAVE_QUEUE = 4
"""Chunks received but not yet written, at most (memory: SAVE_QUEUE * SAVE_CHUNK)."""


def open_image(ref: ImageRef, workspace: Path, *, client: Any = None, limit: SizeLimit | None = None) -> Image:
    """Save ``ref.name`` from the engine into ``workspace`` and read it (``client`` defaults to connect());
    a save stream longer than ``limit`` stops with ImageTooLarge."""
    if ref.name is None:
        raise UsageError("engine reference without a name")
    if client is None:
        from harden.engine import connect

        client = connect()
    name = ref.name
    with engine_errors(f"image {name}"):
        engine_image = client.images.get(name)
        tags = tuple(engine_image.tags or ())
        fd, tmp = tempfile.mkstemp(dir=workspace, prefix="engine-save-", suffix=".tar")
        try:
            with os.fdopen(fd, "wb") as out:
                chunks = engine_image.save(chunk_size=SAVE_CHUNK, named=False)
                write_while_receiving(limited_chunks(chunks, f"engine image {name} (its save stream)", limit), out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    archive = TarArchive(Path(tmp), f"engine image {name}")
    image = read_docker_archive(archive, index=0, reference=name)
    return Image(
        config=image.config,
        layers=image.layers,
        reference=name,
        repo_tags=tags or image.repo_tags,
        config_digest=image.config_digest,
    )


def write_while_receiving(chunks: Iterable[bytes], out: IO[bytes]) -> None:
    """Write ``chunks`` to ``out`` on a second thread, so that the disk writes overlap the network reads.

    An error on either side stops both and is raised here; at most SAVE_QUEUE chunks wait in between."""
    pending: queue.Queue[bytes | None] = queue.Queue(maxsize=SAVE_QUEUE)
    failed: list[BaseException] = []

    def write() -> None:
        try:
            while (chunk := pending.get()) is not None:
                out.write(chunk)
        except BaseException as exc:  # raised in the receiving thread below
            failed.append(exc)
            while pending.get() is not None:  # keep taking, so the receiver never blocks on a full queue
                pass

    writer = threading.Thread(target=write, name="harden-save-writer", daemon=True)
    writer.start()
    try:
        for chunk in chunks:
            if failed:
                break
            pending.put(chunk)
    finally:
        pending.put(None)
        writer.join()
    if failed:
        raise failed[0]
