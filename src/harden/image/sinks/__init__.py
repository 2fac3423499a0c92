"""Image sinks: docker-archive, oci-archive and OCI layout files (atomic), and the engine (load, then tag).

``write_output`` publishes an image first written as a docker-archive in the workspace: the archive is read
back (each layer checked against its diff_id again) and written in the requested format. Several outputs of
one run are staged in one ``Publication`` and committed together; ``check_outputs`` refuses, before any work,
the outputs that could not be written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harden.atomic import Publication, dir_destination_problem, file_destination_problem
from harden.errors import UsageError
from harden.image.reference import ImageRef, parse_reference
from harden.image.sinks.docker_archive import write_docker_archive
from harden.image.sinks.oci_archive import write_oci_archive
from harden.image.sinks.oci_layout import write_oci_layout
from harden.image.sources._archive import TarArchive
from harden.image.sources.docker_archive import read_docker_archive


def _file_target(target: ImageRef | str) -> tuple[ImageRef, Path]:
    if isinstance(target, str):
        target = parse_reference(target)
    if target.transport == "daemon" or target.path is None:
        raise UsageError(f"{target} is not a file output; use docker-archive:, oci-archive: or oci:")
    return target, target.path


def check_outputs(targets: Sequence[ImageRef]) -> None:
    """UsageError naming every output that cannot be written: its folder is missing or not writable, a file
    output is a directory, an ``oci:`` directory holds something other than an OCI layout. (Outputs sharing a
    path or overwriting the source are ``refuse_writes_into_sources``'s.)"""
    problems: list[str] = []
    for target in targets:
        target, path = _file_target(target)
        problem = dir_destination_problem(path) if target.transport == "oci" else file_destination_problem(path)
        if problem is not None:
            problems.append(f"--output {target.text} {problem}")
    if len(problems) == 1:
        raise UsageError(problems[0])
    if problems:
        raise UsageError(f"{len(problems)} outputs cannot be written", details=problems)


def write_output(
    target: ImageRef | str, archive: Path, *, tag_name: str | None = None, publication: Publication | None = None
) -> Path:
    """Write the image of the docker-archive ``archive`` to ``target`` (a file transport): atomically, or with
    ``publication`` staged in it (the target changes when the publication commits).

    The name recorded in the output is the target's own selector (``docker-archive:out.tar:name:tag``), else
    ``tag_name``, else none.
    """
    target, path = _file_target(target)
    image = read_docker_archive(TarArchive(archive, f"docker-archive {archive}"))
    name = target.name or tag_name
    if target.transport == "docker-archive":
        return write_docker_archive(image.config, image.layers, path, [name] if name else [],
                                    publication=publication)
    if target.transport == "oci-archive":
        return write_oci_archive(image.config, image.layers, path, ref_name=name, publication=publication)
    return write_oci_layout(image.config, image.layers, path, ref_name=name, publication=publication)


__all__ = ["check_outputs", "write_docker_archive", "write_oci_archive", "write_oci_layout", "write_output"]
