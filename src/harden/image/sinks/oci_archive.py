"""``oci-archive:PATH[:REF]`` — an OCI layout packed in a deterministic tar, written atomically."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harden.atomic import atomic_file, scratch_dir
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
) -> Path:
    with atomic_file(dest) as tmp, scratch_dir(tmp.parent, f".{dest.name}.", ".layout") as staging:
        build_layout(config, layers, staging, ref_name=ref_name, compress=compress)
        with DeterministicTar(tmp) as tar:
            tar.add_tree(staging)
    return dest
