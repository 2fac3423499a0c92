"""An image in the Docker-API engine (Docker or podman), by name, tag or id.

The engine's ``save`` stream is written to a file in the workspace (never held in memory) and then read as a
docker-archive; podman's save over the Docker API produces one too.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from harden.errors import UsageError
from harden.image._engine_errors import engine_errors
from harden.image.model import Image
from harden.image.reference import ImageRef
from harden.image.sources._archive import TarArchive
from harden.image.sources.docker_archive import read_docker_archive

SAVE_CHUNK = 4 << 20


def open_image(ref: ImageRef, workspace: Path, *, client: Any = None) -> Image:
    """Save ``ref.name`` from the engine into ``workspace`` and read it (``client`` defaults to connect())."""
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
                for chunk in engine_image.save(chunk_size=SAVE_CHUNK, named=False):
                    out.write(chunk)
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
