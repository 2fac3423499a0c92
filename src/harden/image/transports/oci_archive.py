"""``oci-archive:PATH[:REF|:@N]`` — an OCI image layout packed in a tar: read in place (never extracted; a
compressed one is decompressed into the workspace first), written as a deterministic tar of the layout the
``oci:`` transport writes (every platform of an index included, and the run's referrers)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harden.atomic import Publication, file_destination_problem, joined, scratch_dir
from harden.image.model import ImageConfig, ImageSet
from harden.image.reference import ImageRef
from harden.image.transports._archive import TarArchive
from harden.image.transports._common import OCI_SELECTOR_RE, file_reference
from harden.image.transports._layers import LayerBlob
from harden.image.transports._tarball import DeterministicTar
from harden.image.transports._transport import Commit, ReadContext, Transport, WriteContext
from harden.image.transports.oci_layout import build_layout, read_layout, write_built


class OciArchive(Transport):
    name = "oci-archive"
    prefixes = ("oci-archive:",)
    syntax = "oci-archive:PATH[:REF|:@N]"
    summary = "an OCI image layout in a tar file (`podman save --format oci-archive`, buildx `--output type=oci`)"
    stores_manifest = True

    def parse(self, rest: str, text: str) -> ImageRef:
        return file_reference(self.name, self.prefixes[0], rest, text, lambda s: bool(OCI_SELECTOR_RE.match(s)))

    def open(self, ref: ImageRef, ctx: ReadContext) -> ImageSet:
        assert ref.path is not None
        archive = TarArchive.open(ref.path, ctx.workspace, f"oci-archive {ref.path}", limit=ctx.limit)
        return read_layout(archive, selector=ref.name, index=ref.index, reference=ref.text)

    def output_problem(self, ref: ImageRef, ctx: WriteContext) -> str | None:
        assert ref.path is not None
        return file_destination_problem(ref.path)

    def stage(self, ref: ImageRef, images: ImageSet, ctx: WriteContext, publication: Publication) -> Commit | None:
        assert ref.path is not None
        built = ctx.built(images, ctx.compression)
        tmp = publication.stage_file(ref.path)
        with scratch_dir(tmp.parent, f".{ref.path.name}.", ".layout") as layout:
            write_built(built, layout, ref_name=ref.name or ctx.tag_name, referrers=ctx.referrers)
            with DeterministicTar(tmp) as tar:
                tar.add_tree(layout)
        return None


def write_oci_archive(config: ImageConfig, layers: Sequence[LayerBlob], dest: Path, *, ref_name: str | None = None,
                      compress: bool = True, publication: Publication | None = None) -> Path:
    """One image as an oci-archive at ``dest``, atomically; with ``publication``, only staged in it."""
    with joined(publication) as staging:
        tmp = staging.stage_file(dest)
        with scratch_dir(tmp.parent, f".{dest.name}.", ".layout") as layout:
            build_layout(config, layers, layout, ref_name=ref_name, compress=compress)
            with DeterministicTar(tmp) as tar:
                tar.add_tree(layout)
    return dest
