"""The OCI documents of an output (image-spec v1.1): per image its config, compressed layer blobs and manifest;
for an index, the index over them. Built once per run and compression, the same bytes for every output that
stores OCI (an ``oci:`` layout, an ``oci-archive:``, a registry), so the same image has the same digests
everywhere. Canonical JSON (sorted keys, no spaces): the same image and compression give the same digests.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harden.errors import InternalError
from harden.image.model import Image, ImageSet
from harden.image.transports._common import OCI_INDEX, OCI_MANIFEST, REF_NAME
from harden.image.transports._layers import Blob, Compression, LayerBlobs, check_layers

CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class Document:
    """A small blob held in memory (a config, a manifest, an index), with its digest."""

    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.data).hexdigest()

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.data)}


@dataclass(frozen=True, slots=True)
class BuiltImage:
    config: Document
    layers: tuple[Blob, ...]
    manifest: Document
    entry: dict[str, Any]
    """The manifest's descriptor in an index: with its platform and annotations."""


@dataclass(frozen=True, slots=True)
class BuiltSet:
    """What an output stores: the images, and the index over them when the source named one."""

    images: tuple[BuiltImage, ...]
    index: Document | None

    @property
    def top(self) -> Document:
        """What a tag names: the index, else the one manifest."""
        return self.index if self.index is not None else self.images[0].manifest

    def top_entry(self, ref_name: str | None = None) -> dict[str, Any]:
        """The top document's descriptor in a layout's ``index.json``, named ``ref_name``."""
        entry = self.index.descriptor() if self.index is not None else dict(self.images[0].entry)
        annotations = dict(entry.get("annotations") or {})
        if ref_name:
            annotations[REF_NAME] = ref_name
        if annotations:
            entry["annotations"] = annotations
        else:
            entry.pop("annotations", None)
        return entry

    def documents(self) -> list[Document]:
        """Every small blob: configs and manifests, then the index."""
        docs = [doc for image in self.images for doc in (image.config, image.manifest)]
        return docs + ([self.index] if self.index is not None else [])


@dataclass(frozen=True, slots=True)
class Referrer:
    """An artifact manifest (image-spec 1.1) whose ``subject`` is one of an output's image manifests, with the
    blobs it references (an SBOM, an attestation). ``entry`` is its descriptor as an index lists it
    (``artifactType`` and annotations included). An output that stores OCI manifests stores its referrers
    with them: a layout lists them in ``index.json``, a registry gets them after the image's tag."""

    subject: str
    manifest: Document
    entry: Mapping[str, Any]
    blobs: tuple[bytes, ...]


def check_referrers(built: BuiltSet, referrers: Sequence[Referrer]) -> None:
    """InternalError when a referrer's subject is none of the manifests ``built`` holds."""
    held = {image.manifest.digest for image in built.images}
    for referrer in referrers:
        if referrer.subject not in held:
            raise InternalError(f"referrer {referrer.manifest.digest} refers to {referrer.subject}, "
                                "which this output does not hold")


def build_set(images: ImageSet, blobs: LayerBlobs, compression: Compression | None) -> BuiltSet:
    built = tuple(_build_image(image, blobs, compression) for image in images.images)
    index = None
    if images.is_index:
        document: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_INDEX,
                                    "manifests": [image.entry for image in built]}
        if images.annotations:
            document["annotations"] = dict(images.annotations)
        index = Document(OCI_INDEX, canonical_json(document))
    return BuiltSet(built, index)


def _build_image(image: Image, blobs: LayerBlobs, compression: Compression | None) -> BuiltImage:
    check_layers(image.config, image.layers)
    layers = tuple(blobs.blob(layer, compression) for layer in image.layers)
    config = Document(CONFIG_TYPE, image.config.to_bytes())
    manifest = Document(OCI_MANIFEST, canonical_json({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [layer.descriptor() for layer in layers],
    }))
    entry = manifest.descriptor()
    platform = image.runs_on
    if platform is not None:
        entry["platform"] = platform.to_json()
    annotations = {k: v for k, v in image.annotations if k != REF_NAME}
    if annotations:
        entry["annotations"] = annotations
    return BuiltImage(config, layers, manifest, entry)


_DROPPED_ANNOTATIONS = {
    REF_NAME: "the output's name is its own reference's",
    "org.opencontainers.image.created": "the hardened image is a new image, made by this run",
    "org.opencontainers.image.base.digest": "all layers are squashed into one: no layer of the base is kept as is",
    "org.opencontainers.image.base.name": "all layers are squashed into one: no layer of the base is kept as is",
    "io.containerd.image.name": "the output's name is its own reference's",
}
_DROPPED_PREFIXES = {
    "vnd.docker.reference.": "it points at the source image's manifest, not at the hardened one",
}


def output_annotations(annotations: tuple[tuple[str, str], ...]) -> tuple[tuple[tuple[str, str], ...], list[str]]:
    """The annotations of a source index or descriptor that still apply to the hardened image, and one line
    for each that does not (``key: why``). Descriptive ones (title, description, source, revision, version,
    vendor, licenses, authors, URLs) still apply."""
    kept: list[tuple[str, str]] = []
    dropped: list[str] = []
    for key, value in annotations:
        why = _DROPPED_ANNOTATIONS.get(key) or next(
            (reason for prefix, reason in _DROPPED_PREFIXES.items() if key.startswith(prefix)), None)
        if why is None:
            kept.append((key, value))
        else:
            dropped.append(f"{key}={value}: {why}")
    return tuple(kept), dropped
