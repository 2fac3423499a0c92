"""Referrers (OCI distribution 1.1): what points at a manifest through its ``subject`` (signatures, SBOMs, reports).

Listing asks ``GET /v2/NAME/referrers/DIGEST``; a registry without that API answers 404, and then the referrers
tag schema is read instead: an OCI index tagged ``sha256-<hex>`` (the subject's digest with ``-`` for ``:``).
Pushing a manifest with a ``subject`` keeps that fallback index up to date whenever the registry does not say
(``OCI-Subject``) that it indexed the subject itself. Updating the fallback index is read-modify-write: two
writers at once can lose an entry, as the specification warns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from harden.errors import BadArchive, ImageNotFound, UsageError

from .client import RegistryClient, pull_scope
from .media import OCI_INDEX, Descriptor, Manifest
from .pull import MAX_MANIFEST_BYTES, get_manifest
from .push import put_manifest
from .reference import check_digest


@dataclass(frozen=True, slots=True)
class Referrers:
    subject: str
    manifests: tuple[Descriptor, ...]
    source: Literal["api", "tag-schema"]
    """Where the list came from: the referrers API, or the fallback tag (registries without the API)."""


@dataclass(frozen=True, slots=True)
class PushedReferrer:
    digest: str
    fallback_tag: str | None
    """The referrers tag that was updated, or None when the registry indexed the subject itself."""


def referrers_tag(digest: str) -> str:
    """``sha256:abc…`` → ``sha256-abc…`` (the referrers tag schema, cut to a tag's 128 characters)."""
    check_digest(digest)
    return digest.replace(":", "-", 1)[:128]


def list_referrers(
    client: RegistryClient, repository: str, subject: str, *, artifact_type: str | None = None
) -> Referrers:
    """The manifests whose ``subject`` is ``subject`` (a digest), optionally of one artifact type only."""
    check_digest(subject)
    response = client.request(
        "GET",
        repository,
        f"/referrers/{subject}",
        what=f"referrers of {subject}",
        scopes=[pull_scope(repository)],
        headers={"Accept": OCI_INDEX},
        params={"artifactType": artifact_type} if artifact_type else None,
        missing_ok=True,
    )
    if response is None:
        index = _fallback_index(client, repository, subject)
        found = index.manifests if index is not None else ()
        return Referrers(subject, _only(found, artifact_type), "tag-schema")
    with response:
        data = response.raw.read(MAX_MANIFEST_BYTES + 1, decode_content=True)
        content_type = response.headers.get("Content-Type")
    label = f"registry {client.host}, repository {repository}: referrers of {subject}"
    if len(data) > MAX_MANIFEST_BYTES:
        raise BadArchive(f"{label}: the referrers index is larger than {MAX_MANIFEST_BYTES} bytes")
    index = Manifest.parse(data, content_type, label)
    if index.media_type != OCI_INDEX:
        raise BadArchive(f"{label}: the registry answered {index.media_type}, not an OCI index")
    return Referrers(subject, _only(index.manifests, artifact_type), "api")


def push_referrer(client: RegistryClient, repository: str, manifest: Manifest) -> PushedReferrer:
    """Push a manifest that has a ``subject`` (by digest) and, when the registry does not index subjects
    itself, add it to the subject's referrers tag index."""
    subject = manifest.subject
    if subject is None:
        raise UsageError(f"manifest {manifest.digest} has no subject, so it refers to nothing")
    pushed = put_manifest(client, repository, manifest)
    if pushed.subject is not None:
        return PushedReferrer(pushed.digest, None)
    tag = referrers_tag(subject.digest)
    current = _fallback_index(client, repository, subject.digest)
    entries: list[dict[str, Any]] = []
    if current is not None:
        raw = current.document.get("manifests") or []
        entries = [dict(entry) for entry in raw if isinstance(entry, dict)]
        if any(entry.get("digest") == manifest.digest for entry in entries):
            return PushedReferrer(pushed.digest, tag)
    entry = manifest.descriptor.to_json()
    if manifest.artifact_type:
        entry["artifactType"] = manifest.artifact_type
    if manifest.annotations:
        entry["annotations"] = dict(manifest.annotations)
    entries.append(entry)
    index = Manifest.build({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
    put_manifest(client, repository, index, tag=tag)
    return PushedReferrer(pushed.digest, tag)


def _fallback_index(client: RegistryClient, repository: str, subject: str) -> Manifest | None:
    try:
        return get_manifest(client, repository, referrers_tag(subject), accept=(OCI_INDEX,))
    except ImageNotFound:
        return None


def _only(manifests: tuple[Descriptor, ...], artifact_type: str | None) -> tuple[Descriptor, ...]:
    if artifact_type is None:
        return manifests
    return tuple(m for m in manifests if m.artifact_type == artifact_type)
