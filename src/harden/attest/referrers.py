"""OCI 1.1 referrers in an image layout: artifact manifests whose ``subject`` is the hardened image's manifest.

Each artifact (the SBOM, each DSSE attestation) becomes an image manifest per image-spec 1.1 "Guidelines for
Artifact Usage": ``artifactType`` set, ``config`` the empty descriptor (``application/vnd.oci.empty.v1+json``,
the blob ``{}``), one layer holding the payload (titled with its file name), ``subject`` the image manifest.
An image layout has no referrers API; its ``index.json`` lists every manifest, and tools find referrers by
walking the manifests it lists (oras ``discover --oci-layout`` indexes each listed manifest's ``subject``). So
each artifact manifest is added to ``index.json`` with its ``artifactType`` and annotations (the in-toto
predicate type, the title) and no ``org.opencontainers.image.ref.name``: tags still name only the image.

A layout that holds referrers lists more than one manifest: ``oci:DIR`` without a ``:REF`` is then ambiguous
to tools that do not skip artifacts (skopeo: "more than one image in oci"), so name the image with ``:REF``.
harden's own reader skips manifests that carry an ``artifactType``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harden.atomic import atomic_file
from harden.attest.statements import CYCLONEDX_TYPE, PROVENANCE_TYPE, VSA_TYPE
from harden.errors import BadArchive, ImageNotFound, UsageError
from harden.image.transports import Document
from harden.image.transports import Referrer as StoredReferrer
from harden.image.transports._archive import BlobReader, DirTree
from harden.image.transports._common import blob_name, check_digest, verify_bytes
from harden.image.transports.oci_layout import INDEX_TYPE, MANIFEST_TYPE, REF_NAME, canonical_json

EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_BLOB = b"{}"
CYCLONEDX_MEDIA_TYPE = "application/vnd.cyclonedx+json"
PREDICATE_TYPE = "in-toto.io/predicate-type"
TITLE = "org.opencontainers.image.title"
ATTESTATION_TYPES = {
    # in-toto attestation envelope.md, "Storage convention": application/vnd.in-toto.<predicate>+dsse
    PROVENANCE_TYPE: "application/vnd.in-toto.provenance+dsse",
    VSA_TYPE: "application/vnd.in-toto.vsa+dsse",
    CYCLONEDX_TYPE: "application/vnd.in-toto.cyclonedx+dsse",
}
_MAX_DEPTH = 4


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Descriptor:
    """An OCI content descriptor; ``artifact_type`` and ``annotations`` only where set."""

    media_type: str
    digest: str
    size: int
    artifact_type: str = ""
    annotations: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, media_type: str, data: bytes, *, artifact_type: str = "",
           annotations: Mapping[str, str] | None = None) -> Descriptor:
        return cls(media_type, sha256_digest(data), len(data), artifact_type,
                   tuple(sorted((annotations or {}).items())))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    def plain(self) -> Descriptor:
        """Media type, digest and size only (how a ``subject`` names its manifest)."""
        return Descriptor(self.media_type, self.digest, self.size)


EMPTY = Descriptor.of(EMPTY_MEDIA_TYPE, EMPTY_BLOB)


@dataclass(frozen=True, slots=True)
class Artifact:
    """A payload to attach: its media type, the manifest's ``artifactType``, a file name, annotations."""

    artifact_type: str
    media_type: str
    payload: bytes
    title: str
    annotations: tuple[tuple[str, str], ...] = ()


def sbom_artifact(bom: bytes, title: str) -> Artifact:
    """A CycloneDX JSON SBOM as it is (unsigned)."""
    return Artifact(CYCLONEDX_MEDIA_TYPE, CYCLONEDX_MEDIA_TYPE, bom, title)


@dataclass(frozen=True, slots=True)
class ArtifactManifest:
    """An artifact manifest, its descriptor as ``index.json`` lists it, and the blobs it references."""

    manifest: bytes
    descriptor: Descriptor
    blobs: tuple[bytes, ...]


def artifact_manifest(subject: Descriptor, artifact: Artifact) -> ArtifactManifest:
    """The image-spec 1.1 artifact manifest of ``artifact`` referring to ``subject`` (pure: writes nothing)."""
    annotations = {TITLE: artifact.title, **dict(artifact.annotations)}
    layer = Descriptor.of(artifact.media_type, artifact.payload, annotations={TITLE: artifact.title})
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "artifactType": artifact.artifact_type,
        "config": EMPTY.to_json(),
        "layers": [layer.to_json()],
        "subject": subject.plain().to_json(),
        "annotations": annotations,
    }
    data = canonical_json(manifest)
    descriptor = Descriptor.of(MANIFEST_TYPE, data, artifact_type=artifact.artifact_type, annotations=annotations)
    return ArtifactManifest(data, descriptor, (EMPTY_BLOB, artifact.payload))


def output_referrers(subject: Descriptor, artifacts: Sequence[Artifact]) -> tuple[StoredReferrer, ...]:
    """The artifact manifests of ``artifacts`` about the manifest ``subject``, as the outputs of a run store
    them with the image (``WriteContext.referrers``: listed in a layout's index.json, pushed to a registry)."""
    found = []
    for artifact in artifacts:
        made = artifact_manifest(subject, artifact)
        found.append(StoredReferrer(subject.digest, Document(MANIFEST_TYPE, made.manifest),
                                    made.descriptor.to_json(), made.blobs))
    return tuple(found)


# -- reading a layout (a directory, or an oci-archive through the same BlobReader) ---------------------------
def _load_json(reader: BlobReader, name: str, what: str) -> Any:
    data = reader.read_bytes(name)
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadArchive(f"{reader.description}: {what} is not valid JSON ({exc})") from None


def read_index(reader: BlobReader) -> dict[str, Any]:
    index = _load_json(reader, "index.json", "index.json")
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise BadArchive(f"{reader.description}: index.json has no manifests list")
    return index


def read_blob(reader: BlobReader, descriptor: Descriptor) -> bytes:
    """The blob ``descriptor`` names, checked against its digest and size."""
    data = reader.read_bytes(blob_name(descriptor.digest))
    verify_bytes(data, descriptor.digest, f"{reader.description}: blob {descriptor.digest}")
    if len(data) != descriptor.size:
        raise BadArchive(f"{reader.description}: blob {descriptor.digest} is {len(data)} bytes, "
                         f"its descriptor says {descriptor.size}")
    return data


def _blob_json(reader: BlobReader, descriptor: Descriptor, what: str) -> Any:
    try:
        return json.loads(read_blob(reader, descriptor))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadArchive(f"{reader.description}: {what} is not valid JSON ({exc})") from None


def _descriptor(raw: Any, where: str) -> Descriptor:
    if not isinstance(raw, dict) or not isinstance(raw.get("mediaType"), str) or not isinstance(raw.get("size"), int):
        raise BadArchive(f"{where}: not a descriptor (mediaType, digest, size)")
    annotations = raw.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise BadArchive(f"{where}: annotations is not an object")
    artifact_type = raw.get("artifactType", "")
    return Descriptor(raw["mediaType"], check_digest(raw.get("digest"), where), raw["size"],
                      artifact_type if isinstance(artifact_type, str) else "",
                      tuple(sorted((str(k), str(v)) for k, v in annotations.items())))


def _listed(reader: BlobReader, index: Mapping[str, Any], depth: int = 0) -> Iterator[Descriptor]:
    """Every manifest descriptor an index lists, nested indexes followed (bounded depth)."""
    for i, raw in enumerate(index.get("manifests") or []):
        desc = _descriptor(raw, f"{reader.description}: manifests[{i}]")
        if desc.media_type == INDEX_TYPE:
            if depth >= _MAX_DEPTH:
                raise BadArchive(f"{reader.description}: image indexes nested too deeply")
            nested = _blob_json(reader, desc, f"index {desc.digest}")
            if not isinstance(nested, dict):
                raise BadArchive(f"{reader.description}: index {desc.digest} is not an object")
            yield from _listed(reader, nested, depth + 1)
        else:
            yield desc


def subject_descriptor(reader: BlobReader, digest: str) -> Descriptor:
    """The descriptor (media type, digest, size) of the manifest ``digest`` the layout lists."""
    for desc in _listed(reader, read_index(reader)):
        if desc.digest == digest:
            read_blob(reader, desc)  # present and intact
            return desc.plain()
    raise ImageNotFound(f"{reader.description}: no manifest {digest} in index.json")


def image_manifest(reader: BlobReader, ref_name: str | None = None) -> Descriptor:
    """The image manifest ``ref_name`` names in index.json, or, without one, the only one that is no artifact."""
    index = read_index(reader)
    images = []
    for i, raw in enumerate(index["manifests"]):
        desc = _descriptor(raw, f"{reader.description}: manifests[{i}]")
        if desc.artifact_type:
            continue
        if ref_name is None or dict(desc.annotations).get(REF_NAME) == ref_name:
            images.append(desc)
    if not images:
        raise ImageNotFound(f"{reader.description}: no image " + (f"named {ref_name}" if ref_name else "listed"))
    if len(images) > 1:
        raise UsageError(f"{reader.description} lists {len(images)} images; name one with :REF")
    return images[0]


@dataclass(frozen=True, slots=True)
class Referrer:
    """An artifact manifest of the layout whose subject is the image: its descriptor and layers."""

    descriptor: Descriptor
    artifact_type: str
    annotations: tuple[tuple[str, str], ...]
    layers: tuple[Descriptor, ...]


def referrers(reader: BlobReader, subject_digest: str) -> tuple[Referrer, ...]:
    """The manifests listed in index.json (nested indexes included) whose ``subject`` is ``subject_digest``."""
    found = []
    seen: set[str] = set()
    for desc in _listed(reader, read_index(reader)):
        if desc.media_type != MANIFEST_TYPE or desc.digest in seen:
            continue
        seen.add(desc.digest)
        where = f"{reader.description}: manifest {desc.digest}"
        manifest = _blob_json(reader, desc, f"manifest {desc.digest}")
        if not isinstance(manifest, dict) or not isinstance(manifest.get("subject"), dict):
            continue
        if _descriptor(manifest["subject"], f"{where}: subject").digest != subject_digest:
            continue
        layers = manifest.get("layers")
        if not isinstance(layers, list):
            raise BadArchive(f"{where}: no layers list")
        artifact_type = manifest.get("artifactType")
        if not isinstance(artifact_type, str):
            config = _descriptor(manifest.get("config"), f"{where}: config")
            artifact_type = config.media_type  # image-spec: fall back to the config's media type
        annotations = manifest.get("annotations") or {}
        found.append(Referrer(
            desc, artifact_type,
            tuple(sorted((str(k), str(v)) for k, v in annotations.items())) if isinstance(annotations, dict) else (),
            tuple(_descriptor(layer, f"{where}: layers[{i}]") for i, layer in enumerate(layers)),
        ))
    return tuple(found)


# -- writing into a layout directory -------------------------------------------------------------------------
def _write_blob(root: Path, data: bytes) -> None:
    digest = sha256_digest(data)
    path = root / blob_name(digest)
    if path.is_file() and path.stat().st_size == len(data) and sha256_digest(path.read_bytes()) == digest:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)
        tmp.chmod(0o644)


def attach(root: Path, subject_digest: str, artifacts: Sequence[Artifact]) -> tuple[Descriptor, ...]:
    """Add ``artifacts`` to the OCI layout directory ``root`` as referrers of the manifest ``subject_digest``.

    Blobs first, then ``index.json`` (replaced atomically) lists each artifact manifest after what it already
    lists; an artifact already listed is not listed twice, so attaching again is harmless. Returns the
    descriptors of the artifact manifests, in the order given.
    """
    reader = DirTree(Path(root), f"oci layout {root}")
    subject = subject_descriptor(reader, subject_digest)
    made = [artifact_manifest(subject, artifact) for artifact in artifacts]
    for item in made:
        for blob in (*item.blobs, item.manifest):
            _write_blob(Path(root), blob)
    index = read_index(reader)
    listed = {raw.get("digest") for raw in index["manifests"] if isinstance(raw, dict)}
    for item in made:
        if item.descriptor.digest not in listed:
            index["manifests"].append(item.descriptor.to_json())
            listed.add(item.descriptor.digest)
    with atomic_file(Path(root) / "index.json") as tmp:
        tmp.write_bytes(canonical_json(index))
        tmp.chmod(0o644)
    return tuple(item.descriptor for item in made)
