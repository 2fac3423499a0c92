"""Referrers against distribution 2.8, which has no referrers API (``GET /v2/NAME/referrers/DIGEST`` is a 404):
these tests exercise the referrers tag schema fallback (``sha256-<hex>`` tags holding an OCI index)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from registry_images import build_image, write_blob
from registry_server import RecordingSession, RegistryServer

from harden.errors import UsageError
from harden.image.registry import (
    EMPTY_DESCRIPTOR,
    EMPTY_JSON,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    Manifest,
    RegistryClient,
    get_manifest,
    list_referrers,
    push_blob,
    push_manifest,
    push_referrer,
    read_blob,
    referrers_tag,
)

pytestmark = pytest.mark.registry
Connect = Callable[..., RegistryClient]
REPORT_TYPE = "application/vnd.harden.report.v1+json"
SBOM_TYPE = "application/spdx+json"


def artifact(
    client: RegistryClient, repository: str, folder: Path, subject: Descriptor, kind: str, body: bytes
) -> Manifest:
    """An OCI artifact manifest (empty config, one blob) whose subject is ``subject``."""
    digest, path = write_blob(folder, body)
    push_blob(client, repository, path)
    push_blob(client, repository, lambda: io.BytesIO(EMPTY_JSON))
    return Manifest.build(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": kind,
            "config": EMPTY_DESCRIPTOR.to_json(),
            "layers": [{"mediaType": kind, "digest": digest, "size": len(body)}],
            "subject": subject.to_json(),
            "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
        }
    )


def test_referrers_fall_back_to_the_tag_schema(
    plain_registry: RegistryServer, connect: Connect, tmp_path: Path
) -> None:
    session = RecordingSession()
    client = connect(plain_registry, session=session)
    image = build_image(tmp_path / "img", name="referred", layers=1)
    for path in image.blobs.values():
        push_blob(client, "ref/app", path)
    push_manifest(client, "ref/app", image.manifest, tag="v1")
    subject = image.manifest.descriptor

    empty = list_referrers(client, "ref/app", subject.digest)
    assert empty.manifests == () and empty.source == "tag-schema"
    assert ("GET", f"/v2/ref/app/referrers/{subject.digest}", 404) in session.seen  # no API on 2.8

    report = artifact(client, "ref/app", tmp_path, subject, REPORT_TYPE, b'{"findings": []}')
    pushed = push_referrer(client, "ref/app", report)
    assert pushed.digest == report.digest and pushed.fallback_tag == referrers_tag(subject.digest)
    sbom = artifact(client, "ref/app", tmp_path, subject, SBOM_TYPE, b'{"spdxVersion": "SPDX-2.3"}')
    push_referrer(client, "ref/app", sbom)
    push_referrer(client, "ref/app", sbom)  # idempotent: not listed twice

    found = list_referrers(client, "ref/app", subject.digest)
    assert found.source == "tag-schema"
    assert [(m.digest, m.artifact_type) for m in found.manifests] == [
        (report.digest, REPORT_TYPE),
        (sbom.digest, SBOM_TYPE),
    ]
    assert found.manifests[0].annotations == (("org.opencontainers.image.created", "2024-01-01T00:00:00Z"),)
    only = list_referrers(client, "ref/app", subject.digest, artifact_type=SBOM_TYPE)
    assert [m.digest for m in only.manifests] == [sbom.digest]

    index = get_manifest(client, "ref/app", referrers_tag(subject.digest))
    assert index.media_type == OCI_INDEX
    assert json.loads(index.data)["manifests"][1]["artifactType"] == SBOM_TYPE
    pulled = get_manifest(client, "ref/app", report.digest)
    assert pulled.subject == subject and pulled.artifact_type == REPORT_TYPE
    assert read_blob(client, "ref/app", pulled.layers[0]) == b'{"findings": []}'


def test_push_referrer_needs_a_subject(plain_registry: RegistryServer, connect: Connect, tmp_path: Path) -> None:
    image = build_image(tmp_path, name="nosubject", layers=1)
    with pytest.raises(UsageError, match="has no subject"):
        push_referrer(connect(plain_registry), "ref/app", image.manifest)
