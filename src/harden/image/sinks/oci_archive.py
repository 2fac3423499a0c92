"""``oci-archive:PATH[:REF]`` — an OCI layout packed in a deterministic tar, written atomically (or staged in a
caller's ``Publication``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harden.atomic import Publication, joined, scratch_dir
from harden.image.model import ImageConfig
from harden.image.sinks._layers import LayerBlob
from harden.image.sinks._tarball import DeterministicTar
from harden.image.sinks.oci_layout import build_layout


def write_oci_archive(
    config: ImageConfig,
    layers: Sequence[LayerBlob],
    dest: Path,
    *,
    ref_name: str | None = None,
    compress: bool = True,
    publication: Publication | None = None,
) -> Path:
    """Write an oci-archive at ``dest``; with ``publication``, only staged in it (``dest`` changes when the
    publication commits)."""
    with joined(publication) as staging:
        tmp = staging.stage_file(dest)
        with scratch_dir(tmp.parent, f".{dest.name}.", ".layout") as layout:
            build_layout(config, layers, layout, ref_name=ref_name, compress=compress)
            with DeterministicTar(tmp) as tar:
                tar.add_tree(layout)
    return dest
