"""``oci-archive:PATH[:REF]`` — an OCI image layout packed in a tar; read in place, never extracted."""

from __future__ import annotations

from pathlib import Path

from harden.errors import UsageError
from harden.image.model import Image
from harden.image.reference import ImageRef
from harden.image.sources._archive import TarArchive
from harden.image.sources.oci_layout import read_oci_layout
from harden.image.space import SizeLimit


def open_image(ref: ImageRef, workspace: Path, *, limit: SizeLimit | None = None) -> Image:
    if ref.path is None:
        raise UsageError(f"{ref}: missing path")
    archive = TarArchive.open(ref.path, workspace, f"oci-archive {ref.path}", limit=limit)
    return read_oci_layout(archive, selector=ref.name, index=ref.index, reference=str(ref))
