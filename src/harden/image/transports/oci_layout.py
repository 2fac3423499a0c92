"""``oci:DIR[:REF|:@N]`` — an OCI image layout directory (``oci-layout``, ``index.json``, ``blobs/<alg>/<hex>``).

Reading: ``REF`` matches the ``org.opencontainers.image.ref.name`` annotation (or the ``io.containerd.image.name``
one Docker writes) of the entries of ``index.json``; nested indexes are followed. A reference that names an
index (a multi-platform image) gives every platform image of it; ``:@N`` gives the N-th image alone. Manifests
and configs are checked against their digests, layers against their diff_ids as they are read.

Writing: the layer blobs (compressed once per run, see ``--compression``) are hard-linked or copied in, the
manifests and the index are canonical JSON, so the same image gives the same digests; ``index.json`` lists one
entry named ``REF`` (the ``--tag`` when the reference has none): the image's manifest, or the index over every
platform's. The run's referrers (its SBOM and attestations: artifact manifests whose ``subject`` is an image
manifest of the layout) follow that entry in ``index.json``, with their ``artifactType`` and no ref name, so a
tool that walks the index finds them. Written into a temp directory beside ``DIR`` with ordinary permissions
(the umask's) and moved into place when the run's outputs are published together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harden.atomic import Publication, dir_destination_problem, joined
from harden.errors import BadArchive
from harden.image.model import Image, ImageConfig, ImageSet, Layer, Platform
from harden.image.reference import ImageRef
from harden.image.transports._archive import BlobReader, DirTree
from harden.image.transports._common import (
    INDEX_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
    OCI_SELECTOR_RE,
    REF_NAME,
    Entry,
    blob_name,
    check_digest,
    config_digest,
    expect,
    file_reference,
    load_json,
    make_layers,
    parse_config,
    select_entries,
    string_annotations,
    verify_bytes,
    walk_index,
)
from harden.image.transports._layers import Compression, LayerBlob, LayerBlobs, known_size, place_blob
from harden.image.transports._oci import CONFIG_TYPE, BuiltSet, Referrer, build_set, canonical_json, check_referrers
from harden.image.transports._transport import Commit, ReadContext, Transport, WriteContext
from harden.image.writer import LAYER_MEDIA_TYPE

LAYOUT_VERSION = {"imageLayoutVersion": "1.0.0"}
INDEX_TYPE = OCI_INDEX
MANIFEST_TYPE = OCI_MANIFEST
LAYER_TYPE = LAYER_MEDIA_TYPE
LAYER_GZIP_TYPE = LAYER_TYPE + "+gzip"

__all__ = ["CONFIG_TYPE", "INDEX_TYPE", "LAYER_GZIP_TYPE", "LAYER_TYPE", "MANIFEST_TYPE", "REF_NAME", "OciLayout",
           "build_layout", "canonical_json", "read_layout", "write_built", "write_oci_layout"]


class OciLayout(Transport):
    name = "oci"
    prefixes = ("oci:",)
    syntax = "oci:DIR[:REF|:@N]"
    summary = "an OCI image layout directory (skopeo's, buildah's, `docker buildx --output type=oci,tar=false`)"
    stores_manifest = True

    def parse(self, rest: str, text: str) -> ImageRef:
        return file_reference(self.name, self.prefixes[0], rest, text, lambda s: bool(OCI_SELECTOR_RE.match(s)))

    def open(self, ref: ImageRef, ctx: ReadContext) -> ImageSet:
        assert ref.path is not None
        reader = DirTree(ref.path, f"oci layout {ref.path}")
        return read_layout(reader, selector=ref.name, index=ref.index, reference=ref.text)

    def output_problem(self, ref: ImageRef, ctx: WriteContext) -> str | None:
        assert ref.path is not None
        return dir_destination_problem(ref.path)

    def stage(self, ref: ImageRef, images: ImageSet, ctx: WriteContext, publication: Publication) -> Commit | None:
        assert ref.path is not None
        built = ctx.built(images, ctx.compression)
        write_built(built, publication.stage_dir(ref.path), ref_name=ref.name or ctx.tag_name,
                    referrers=ctx.referrers)
        return None


# -- reading ---------------------------------------------------------------------------------------------------
def read_layout(reader: BlobReader, *, selector: str | None = None, index: int | None = None,
                reference: str = "") -> ImageSet:
    """What ``selector`` / ``index`` name in the layout ``reader`` (a directory or an oci-archive)."""
    where = reader.description
    if not reader.exists("oci-layout"):
        raise BadArchive(f"{where}: missing oci-layout (not an OCI image layout, or truncated)")
    layout = load_json(reader, "oci-layout")
    expect(isinstance(layout, dict) and "imageLayoutVersion" in layout, where, "oci-layout has no version")
    if not reader.exists("index.json"):
        raise BadArchive(f"{where}: missing index.json")
    top = load_json(reader, "index.json")

    def load(digest: str) -> Any:
        data = reader.read_bytes(blob_name(digest))
        verify_bytes(data, digest, f"{where}: index {digest}")
        return _as_json(data, where, f"index {digest}")

    entries, skipped = walk_index(top, load, where)
    chosen = select_entries(entries, top, selector=selector, index=index, where=where, skipped=skipped,
                            hint="oci:DIR:REF or :@N")
    images = tuple(_image(reader, entry, where, reference) for entry in chosen.entries)
    return ImageSet(images, reference, chosen.is_index, chosen.media_type, chosen.annotations, chosen.skipped)


def _image(reader: BlobReader, entry: Entry, where: str, reference: str) -> Image:
    digest = check_digest(entry.descriptor.get("digest"), f"{where}: manifest descriptor")
    manifest_bytes = reader.read_bytes(blob_name(digest))
    verify_bytes(manifest_bytes, digest, f"{where}: manifest {digest}")
    manifest = _as_json(manifest_bytes, where, f"manifest {digest}")
    expect(isinstance(manifest, dict), where, f"manifest {digest} is not an object")
    expect(manifest.get("mediaType") not in INDEX_TYPES, where, f"manifest {digest} is an index")
    config_desc = manifest.get("config")
    expect(isinstance(config_desc, dict), where, f"manifest {digest} has no config")
    config_dig = check_digest(config_desc.get("digest"), f"{where}: config descriptor")
    config_bytes = reader.read_bytes(blob_name(config_dig))
    verify_bytes(config_bytes, config_dig, f"{where}: config {config_dig}")
    config = parse_config(config_bytes, f"{where}: config {config_dig}")

    layer_descs = manifest.get("layers")
    expect(isinstance(layer_descs, list), where, f"manifest {digest} has no layers list")
    names = [
        blob_name(check_digest(d.get("digest") if isinstance(d, dict) else None, f"{where}: layers[{i}]"))
        for i, d in enumerate(layer_descs)
    ]
    layers = make_layers(reader, names, config, where)
    return Image(
        config=config,
        layers=layers,
        reference=reference,
        repo_tags=entry.names,
        config_digest=config_digest(config_bytes),
        platform=entry.platform or Platform.of_config(config),
        annotations=string_annotations(entry.descriptor.get("annotations")),
    )


def _as_json(data: bytes, where: str, what: str) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadArchive(f"{where}: {what} is not valid JSON ({exc})") from exc


# -- writing ---------------------------------------------------------------------------------------------------
def write_built(built: BuiltSet, root: Path, *, ref_name: str | None = None,
                referrers: Sequence[Referrer] = ()) -> str:
    """Write the layout of ``built`` into the (empty) directory ``root``, with ``referrers`` (their blobs and
    manifests, each listed in ``index.json`` after the image); return the digest ``index.json`` names
    ``ref_name`` (the index's, else the manifest's)."""
    check_referrers(built, referrers)
    blobs_dir = root / "blobs" / "sha256"
    blobs_dir.mkdir(parents=True, exist_ok=True)
    for image in built.images:
        for blob in image.layers:
            place_blob(blob, blobs_dir / blob.digest.partition(":")[2])
    for document in built.documents():
        path = blobs_dir / document.digest.partition(":")[2]
        if not path.exists():
            _write_file(path, document.data)
    listed: list[dict[str, Any]] = []
    for referrer in referrers:
        for data in (*referrer.blobs, referrer.manifest.data):
            path = blobs_dir / hashlib.sha256(data).hexdigest()
            if not path.exists():
                _write_file(path, data)
        if all(item["digest"] != referrer.manifest.digest for item in listed):
            listed.append(dict(referrer.entry))
    entry = built.top_entry(ref_name)
    _write_file(root / "index.json", canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                                     "manifests": [entry, *listed]}))
    _write_file(root / "oci-layout", canonical_json(LAYOUT_VERSION))
    return str(entry["digest"])


def _write_file(path: Path, data: bytes) -> None:
    """A new file with ordinary permissions (``open`` applies the umask)."""
    with path.open("xb") as out:
        out.write(data)


def build_layout(config: ImageConfig, layers: Sequence[LayerBlob], root: Path, *, ref_name: str | None = None,
                 compress: bool = True, compression: Compression | None = None) -> str:
    """One image as a layout in the (empty) directory ``root``, its layers compressed there (gzip unless
    ``compress`` is false, or ``compression``); return the manifest digest."""
    chosen = compression if compression is not None else (Compression() if compress else None)
    blobs = LayerBlobs(root / "blobs" / "sha256")
    images = ImageSet.single(Image(config, tuple(_as_layer(layer) for layer in layers)))
    return write_built(build_set(images, blobs, chosen), root, ref_name=ref_name)


def _as_layer(blob: LayerBlob) -> Layer:
    return blob if isinstance(blob, Layer) else Layer(blob.diff_id, blob.open, size=known_size(blob))


def write_oci_layout(config: ImageConfig, layers: Sequence[LayerBlob], dest: Path, *, ref_name: str | None = None,
                     compress: bool = True, publication: Publication | None = None) -> Path:
    """One image as a layout at ``dest`` (replacing an earlier layout there, never anything else); with
    ``publication``, only staged in it."""
    with joined(publication) as staging:
        build_layout(config, layers, staging.stage_dir(dest), ref_name=ref_name, compress=compress)
    return dest
