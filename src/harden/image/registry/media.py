"""Manifests, indexes and descriptors as the registry API carries them (OCI and Docker schema 2).

A ``Manifest`` keeps the exact bytes it was received or will be sent as (its digest is over those bytes) next
to their strictly checked meaning: descriptors with digest and size, a ``subject``, an artifact type. Values
only, no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harden.errors import BadArchive, ImageNotFound, UnsupportedImage, UsageError
from harden.image.model import Platform as Platform

from .digests import digest_bytes
from .reference import check_digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
EMPTY_JSON = b"{}"

IMAGE_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (*IMAGE_TYPES, *INDEX_TYPES)


@dataclass(frozen=True, slots=True)
class Descriptor:
    """A pointer to content: media type, digest, size, and the optional OCI fields."""

    media_type: str
    digest: str
    size: int
    annotations: tuple[tuple[str, str], ...] = ()
    artifact_type: str | None = None
    platform: Platform | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @classmethod
    def of_bytes(cls, media_type: str, data: bytes, **extra: Any) -> Descriptor:
        return cls(media_type, digest_bytes(data), len(data), **extra)


EMPTY_DESCRIPTOR = Descriptor.of_bytes(OCI_EMPTY, EMPTY_JSON)
"""The OCI empty descriptor (``{}``): the config of an artifact that needs none."""


@dataclass(frozen=True, slots=True)
class Manifest:
    """An image manifest or an index, with the exact bytes its digest covers."""

    media_type: str
    data: bytes
    digest: str
    document: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def parse(cls, data: bytes, media_type: str | None, what: str) -> Manifest:
        """Strictly read ``data``; ``media_type`` is the Content-Type it came with (None: from the document)."""
        try:
            document = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadArchive(f"{what}: not valid JSON ({exc.msg if hasattr(exc, 'msg') else exc})") from None
        if not isinstance(document, dict):
            raise BadArchive(f"{what}: a manifest must be a JSON object")
        declared = document.get("mediaType")
        if declared is not None and not isinstance(declared, str):
            raise BadArchive(f"{what}: mediaType must be a string")
        kind = _choose_type(media_type, declared, document, what)
        if document.get("schemaVersion") != 2:
            raise UnsupportedImage(f"{what}: schemaVersion {document.get('schemaVersion')!r} is not supported")
        manifest = cls(kind, data, digest_bytes(data), document)
        manifest.descriptors()  # validates
        manifest.subject  # noqa: B018 - validates
        return manifest

    @classmethod
    def build(cls, document: Mapping[str, Any]) -> Manifest:
        """A manifest from a document (``mediaType`` required), serialized compactly."""
        data = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
        return cls.parse(data, None, "new manifest")

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    @property
    def descriptor(self) -> Descriptor:
        """This manifest as an index entry (``artifactType`` only when the document declares one)."""
        declared = self.document.get("artifactType")
        kind = declared if isinstance(declared, str) else None
        return Descriptor(self.media_type, self.digest, len(self.data), artifact_type=kind)

    @property
    def config(self) -> Descriptor | None:
        if self.is_index:
            return None
        return parse_descriptor(self.document.get("config"), "config")

    @property
    def layers(self) -> tuple[Descriptor, ...]:
        return () if self.is_index else _descriptors(self.document.get("layers"), "layers")

    @property
    def manifests(self) -> tuple[Descriptor, ...]:
        return _descriptors(self.document.get("manifests"), "manifests") if self.is_index else ()

    @property
    def subject(self) -> Descriptor | None:
        raw = self.document.get("subject")
        return None if raw is None else parse_descriptor(raw, "subject")

    @property
    def artifact_type(self) -> str | None:
        """``artifactType``, else (OCI image manifests) the config's media type, as the referrers API reports it."""
        value = self.document.get("artifactType")
        if isinstance(value, str):
            return value
        config = self.config
        return config.media_type if config is not None and self.media_type == OCI_MANIFEST else None

    @property
    def annotations(self) -> tuple[tuple[str, str], ...]:
        return _annotations(self.document.get("annotations"), "annotations")

    def descriptors(self) -> tuple[Descriptor, ...]:
        """Everything this manifest points to: config then layers, or the index's manifests."""
        if self.is_index:
            return self.manifests
        config = self.config
        if config is None:
            raise BadArchive("image manifest has no config")
        return (config, *self.layers)


def _choose_type(content_type: str | None, declared: str | None, document: Mapping[str, Any], what: str) -> str:
    header = (content_type or "").split(";", 1)[0].strip()
    if header in DOCKER_SCHEMA1 or declared in DOCKER_SCHEMA1:
        raise UnsupportedImage(f"{what}: Docker schema 1 manifests are not supported")
    if header in MANIFEST_TYPES:
        if declared is not None and declared != header:
            raise BadArchive(f"{what}: served as {header} but declares mediaType {declared}")
        return header
    if declared in MANIFEST_TYPES:
        return str(declared)
    if declared is None and header in ("", "application/json", "application/octet-stream"):
        return OCI_INDEX if "manifests" in document else OCI_MANIFEST  # OCI allows omitting mediaType
    raise UnsupportedImage(f"{what}: unsupported manifest media type {header or declared!r}")


def parse_descriptor(raw: object, where: str) -> Descriptor:
    if not isinstance(raw, dict):
        raise BadArchive(f"manifest {where}: expected a descriptor object")
    media_type, digest, size = raw.get("mediaType"), raw.get("digest"), raw.get("size")
    if not isinstance(media_type, str) or not media_type:
        raise BadArchive(f"manifest {where}.mediaType: missing or not a string")
    if not isinstance(digest, str):
        raise BadArchive(f"manifest {where}.digest: missing or not a string")
    try:
        check_digest(digest)
    except UsageError:
        raise BadArchive(f"manifest {where}.digest: invalid digest {digest[:80]!r}") from None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise BadArchive(f"manifest {where}.size: missing or not a non-negative integer")
    artifact_type = raw.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise BadArchive(f"manifest {where}.artifactType: not a string")
    return Descriptor(
        media_type,
        digest,
        size,
        annotations=_annotations(raw.get("annotations"), f"{where}.annotations"),
        artifact_type=artifact_type,
        platform=_platform(raw.get("platform"), f"{where}.platform"),
    )


def _descriptors(raw: object, where: str) -> tuple[Descriptor, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise BadArchive(f"manifest {where}: expected a list")
    return tuple(parse_descriptor(item, f"{where}[{n}]") for n, item in enumerate(raw))


def _annotations(raw: object, where: str) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise BadArchive(f"manifest {where}: expected an object of strings")
    return tuple(sorted(raw.items()))


def _platform(raw: object, where: str) -> Platform | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise BadArchive(f"manifest {where}: expected an object")
    os_name, arch = raw.get("os"), raw.get("architecture")
    variant, os_version = raw.get("variant"), raw.get("os.version")
    if not isinstance(os_name, str) or not isinstance(arch, str):
        raise BadArchive(f"manifest {where}: os and architecture must be strings")
    if not isinstance(variant, str | None) or not isinstance(os_version, str | None):
        raise BadArchive(f"manifest {where}: variant and os.version must be strings")
    return Platform(os_name, arch, variant, os_version)


def select_platform(index: Manifest, os: str, architecture: str, variant: str | None = None) -> Descriptor:
    """The index entry for a platform (a missing variant in the request matches any); else ImageNotFound."""
    for entry in index.manifests:
        platform = entry.platform
        if platform is None or platform.os != os or platform.architecture != architecture:
            continue
        if variant is None or platform.variant == variant:
            return entry
    wanted = "/".join(part for part in (os, architecture, variant) if part)
    raise ImageNotFound(f"index {index.digest} has no manifest for platform {wanted}")
