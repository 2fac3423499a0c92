"""Image sources: each transport turns a reference into an ``Image`` (config + lazily opened layers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harden.image.model import Image
from harden.image.reference import ImageRef, parse_reference
from harden.image.space import SizeLimit


def open_image(ref: ImageRef | str, workspace: Path, *, client: Any = None, limit: SizeLimit | None = None) -> Image:
    """Open ``ref`` (a reference string or ImageRef). Only engine references touch the engine (``client``).

    What a source writes into ``workspace`` (an engine's save stream, a decompressed ``docker save | gzip``)
    stops with ImageTooLarge past ``limit``; the layers themselves are counted when they are merged."""
    if isinstance(ref, str):
        ref = parse_reference(ref)
    workspace.mkdir(parents=True, exist_ok=True)
    if ref.transport == "daemon":
        from harden.image.sources import daemon

        return daemon.open_image(ref, workspace, client=client, limit=limit)
    if ref.transport == "docker-archive":
        from harden.image.sources import docker_archive

        return docker_archive.open_image(ref, workspace, limit=limit)
    if ref.transport == "oci-archive":
        from harden.image.sources import oci_archive

        return oci_archive.open_image(ref, workspace, limit=limit)
    from harden.image.sources import oci_layout

    return oci_layout.open_image(ref, workspace)


__all__ = ["open_image"]
