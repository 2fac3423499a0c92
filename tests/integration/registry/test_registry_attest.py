"""``harden image --sign-key --output docker://…`` against a real registry (distribution 2.8, no referrers API),
with no engine: the referrers are pushed under the referrers tag schema (``sha256-<hex>``, an OCI index), and
are read back here with plain HTTP requests (not harden's client), their envelopes verified by openssl, their
subject the digest of the manifest the registry serves for the tag. Then ``harden attest verify docker://…``:
0 with the key, 1 with another."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import deb_python
import pytest
import requests
from harden_child import HardenRun
from registry_server import RegistryServer

from cli.attest_checks import KINDS, assert_no_secret, key_secrets, make_key, sha256, verified_statement

pytestmark = pytest.mark.registry
Harden = Callable[..., HardenRun]
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DSSE = "application/vnd.dsse.envelope.v1+json"


def fetch(server: RegistryServer, path: str, accept: str = "") -> requests.Response:
    return requests.get(f"http://{server.host}/v2/{path}", headers={"Accept": accept} if accept else {},
                        timeout=30)


def manifest(server: RegistryServer, repository: str, reference: str, accept: str) -> tuple[bytes, dict[str, Any]]:
    response = fetch(server, f"{repository}/manifests/{reference}", accept)
    assert response.status_code == 200, (reference, response.status_code, response.text)
    return response.content, json.loads(response.content)


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(deb_python.FAST_POLICY)
    return path


@pytest.mark.parametrize("kind", KINDS)
def test_signed_attestations_are_pushed_as_referrers_and_verify(
    deb_images: None, plain_registry: RegistryServer, harden: Harden, policy: Path, tmp_path: Path, kind: str
) -> None:
    source = deb_python.single_platform_layout(tmp_path / "src")
    private, public = make_key(tmp_path / "keys", kind)
    _, other = make_key(tmp_path / "keys", kind, name="other")
    repository = f"attest/{kind}"
    dest = f"docker://{plain_registry.host}/{repository}:1"
    reports = tmp_path / "reports"
    run = harden("image", f"oci:{source}:1", "--policy", str(policy), "--runner", "sandbox", "--jobs", "1",
                 "--output", dest, "--sign-key", str(private), "--report-dir", str(reports))
    assert run.code == 0, run.stderr
    assert "attested: provenance.dsse.json, vsa.dsse.json, sbom.dsse.json" in run.stdout

    # the manifest the registry serves for the tag, and its referrers under the tag schema (no API on 2.8)
    data, _ = manifest(plain_registry, repository, "1", OCI_MANIFEST)
    digest = sha256(data)
    assert fetch(plain_registry, f"{repository}/referrers/{digest}", OCI_INDEX).status_code == 404
    _, index = manifest(plain_registry, repository, "sha256-" + digest.removeprefix("sha256:"), OCI_INDEX)
    assert index["mediaType"] == OCI_INDEX
    assert {entry["artifactType"] for entry in index["manifests"]} == {
        "application/vnd.cyclonedx+json", "application/vnd.in-toto.provenance+dsse",
        "application/vnd.in-toto.vsa+dsse", "application/vnd.in-toto.cyclonedx+dsse"}

    kinds = set()
    for entry in index["manifests"]:
        raw, artifact = manifest(plain_registry, repository, entry["digest"], OCI_MANIFEST)
        assert sha256(raw) == entry["digest"]
        assert artifact["subject"]["digest"] == digest and artifact["artifactType"] == entry["artifactType"]
        for layer in artifact["layers"]:
            blob = fetch(plain_registry, f"{repository}/blobs/{layer['digest']}")
            assert blob.status_code == 200 and sha256(blob.content) == layer["digest"]
            if layer["mediaType"] != DSSE:
                continue
            envelope = json.loads(blob.content)
            statement = verified_statement(envelope, public, kind, tmp_path / "openssl")
            assert statement["subject"] == [{"name": dest, "digest": {"sha256": digest.removeprefix("sha256:")}}]
            title = layer["annotations"]["org.opencontainers.image.title"]
            assert json.loads((reports / title).read_text()) == envelope
            assert base64.b64decode(envelope["payload"])
            kinds.add(statement["predicateType"])
    assert kinds == {"https://slsa.dev/provenance/v1", "https://slsa.dev/verification_summary/v1",
                     "https://cyclonedx.org/bom"}

    verified = harden("attest", "verify", dest, "--key", str(public))
    assert verified.code == 0, verified.stdout + verified.stderr
    assert "the referrers tag" in verified.stdout and f"verified: every attestation of {dest}" in verified.stdout
    refused = harden("attest", "verify", dest, "--key", str(other))
    assert refused.code == 1, refused.stdout + refused.stderr
    assert "no signature verifies with the given key" in refused.stderr
    assert_no_secret(key_secrets(private), reports, texts=[run.stdout, run.stderr])
