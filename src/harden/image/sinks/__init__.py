"""Image sinks: docker-archive, oci-archive and OCI layout files (atomic), and the engine (load, then tag).

``write_output`` publishes an image first written as a docker-archive in the workspace: the archive is read
back (each layer checked against its diff_id again) and written in the requested format.
"""

from __future__ import annotations

from pathlib import Path

from harden.errors import UsageError
from harden.image.reference import ImageRef, parse_reference
from harden.image.sinks.docker_archive import write_docker_archive
from harden.image.sinks.oci_archive import write_oci_archive
from harden.image.sinks.oci_layout import write_oci_layout
from harden.image.sources._archive import TarArchive
from harden.image.sources.docker_archive import read_docker_archive


def write_output(target: ImageRef | str, archive: Path, *, tag_name: str | None = None) -> Path:
    """Write the image of the docker-archive ``archive`` to ``target`` (a file transport).

    The name recorded in the output is the target's own selector (``docker-archive:out.tar:name:tag``), else
    ``tag_name``, else none.
    """
    if isinstance(target, str):
        target = parse_reference(target)
    if target.transport == "daemon" or target.path is None:
        raise UsageError(f"{target} is not a file output; use docker-archive:, oci-archive: or oci:")
    image = read_docker_archive(TarArchive(archive, f"docker-archive {archive}"))
    name = target.name or tag_name
    if target.transport == "docker-archive":
        return write_docker_archive(image.config, image.layers, target.path, [name] if name else [])
    if target.transport == "oci-archive":
        return write_oci_archive(image.config, image.layers, target.path, ref_name=name)
    return write_oci_layout(image.config, image.layers, target.path, ref_name=name)


__all__ = ["write_docker_archive", "write_oci_archive", "write_oci_layout", "write_output"]
