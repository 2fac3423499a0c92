"""An independent client agrees: skopeo inspects and copies what harden pushed, and harden pulls what skopeo
pushed, byte for byte."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from registry_images import TinyImage, build_image
from registry_server import RegistryServer

from harden.image.registry import (
    OCI_INDEX,
    Manifest,
    RegistryClient,
    fetch_blob,
    get_manifest,
    push_blob,
    push_manifest,
)

pytestmark = pytest.mark.registry
Connect = Callable[..., RegistryClient]
SKOPEO_TIMEOUT_S = 120


def run_skopeo(skopeo: str, *args: str) -> str:
    proc = subprocess.run(
        [skopeo, "--insecure-policy", *args], capture_output=True, text=True, timeout=SKOPEO_TIMEOUT_S, check=False
    )
    assert proc.returncode == 0, f"skopeo {' '.join(args)} failed: {proc.stderr.strip()}"
    return proc.stdout


def push_image(client: RegistryClient, repository: str, image: TinyImage, tag: str | None) -> str:
    for path in image.blobs.values():
        push_blob(client, repository, path)
    return push_manifest(client, repository, image.manifest, tag=tag)


def write_oci_layout(folder: Path, image: TinyImage, tag: str) -> None:
    blobs = folder / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    for digest, path in image.blobs.items():
        (blobs / digest.split(":", 1)[1]).write_bytes(path.read_bytes())
    (blobs / image.manifest.digest.split(":", 1)[1]).write_bytes(image.manifest.data)
    entry: dict[str, Any] = image.manifest.descriptor.to_json()
    entry["annotations"] = {"org.opencontainers.image.ref.name": tag}
    (folder / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (folder / "index.json").write_text(json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]}))


def test_skopeo_inspects_and_copies_what_harden_pushed(
    plain_registry: RegistryServer, connect: Connect, skopeo: str, tmp_path: Path
) -> None:
    client = connect(plain_registry)
    image = build_image(tmp_path / "img", name="skopeo-ours", layers=2, layer_bytes=200_000)
    digest = push_image(client, "skopeo/ours", image, tag="v1")
    ref = f"docker://{plain_registry.host}/skopeo/ours:v1"

    info = json.loads(run_skopeo(skopeo, "inspect", "--tls-verify=false", ref))
    assert info["Digest"] == digest
    assert info["Layers"] == [layer.digest for layer in image.manifest.layers]
    assert info["Architecture"] == "amd64" and info["Os"] == "linux"
    assert run_skopeo(skopeo, "inspect", "--tls-verify=false", "--raw", ref).encode() == image.manifest.data

    layout = tmp_path / "layout"
    run_skopeo(skopeo, "copy", "--src-tls-verify=false", ref, f"oci:{layout}:v1")
    for blob_digest, path in image.blobs.items():
        assert (layout / "blobs/sha256" / blob_digest.split(":", 1)[1]).read_bytes() == path.read_bytes()

    copied = f"docker://{plain_registry.host}/skopeo/copied:v1"
    run_skopeo(skopeo, "copy", "--src-tls-verify=false", "--dest-tls-verify=false", ref, copied)
    assert get_manifest(client, "skopeo/copied", "v1").digest == digest


def test_skopeo_copies_a_multi_platform_index(
    plain_registry: RegistryServer, connect: Connect, skopeo: str, tmp_path: Path
) -> None:
    client = connect(plain_registry)
    entries = []
    for arch in ("amd64", "arm64"):
        image = build_image(tmp_path / arch, name=f"skopeo-multi-{arch}", architecture=arch, layers=1)
        push_image(client, "skopeo/multi", image, tag=None)
        entries.append({**image.manifest.descriptor.to_json(), "platform": {"os": "linux", "architecture": arch}})
    index = Manifest.build({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
    push_manifest(client, "skopeo/multi", index, tag="v1")
    src = f"docker://{plain_registry.host}/skopeo/multi:v1"
    raw = run_skopeo(skopeo, "inspect", "--tls-verify=false", "--raw", src)
    assert raw.encode() == index.data
    dest = f"docker://{plain_registry.host}/skopeo/multi-copy:v1"
    run_skopeo(skopeo, "copy", "--all", "--src-tls-verify=false", "--dest-tls-verify=false", src, dest)
    copied = get_manifest(client, "skopeo/multi-copy", "v1")
    # skopeo 1.9 re-serializes the index it copies (same entries, other bytes): compare what it points to
    assert copied.is_index
    assert [(m.digest, m.platform) for m in copied.manifests] == [(m.digest, m.platform) for m in index.manifests]
    for entry in copied.manifests:
        assert get_manifest(client, "skopeo/multi-copy", entry.digest).digest == entry.digest


def test_harden_pulls_what_skopeo_pushed(
    plain_registry: RegistryServer, connect: Connect, skopeo: str, tmp_path: Path
) -> None:
    image = build_image(tmp_path / "img", name="skopeo-theirs", layers=2, layer_bytes=150_000)
    layout = tmp_path / "layout"
    write_oci_layout(layout, image, "v1")
    ref = f"docker://{plain_registry.host}/skopeo/theirs:v1"
    run_skopeo(skopeo, "copy", "--dest-tls-verify=false", f"oci:{layout}:v1", ref)

    client = connect(plain_registry)
    manifest = get_manifest(client, "skopeo/theirs", "v1")
    assert [d.digest for d in manifest.descriptors()] == [d.digest for d in image.manifest.descriptors()]
    for blob in manifest.descriptors():
        out = tmp_path / blob.digest.replace(":", "_")
        fetch_blob(client, "skopeo/theirs", blob, out)
        assert out.read_bytes() == image.blobs[blob.digest].read_bytes()


def test_skopeo_with_basic_auth_reads_the_same_auth_file(
    basic_registry: RegistryServer, connect: Connect, skopeo: str, tmp_path: Path
) -> None:
    from registry_server import BASIC_PASSWORD, BASIC_USER
    from test_registry_auth import basic_auths, docker_config

    env = docker_config(tmp_path / "cfg", basic_auths(basic_registry.host, BASIC_USER, BASIC_PASSWORD))
    client = connect(basic_registry, env=env)
    image = build_image(tmp_path / "img", name="skopeo-auth", layers=1)
    digest = push_image(client, "skopeo/auth", image, tag="v1")
    ref = f"docker://{basic_registry.host}/skopeo/auth:v1"
    authfile = str(tmp_path / "cfg" / "config.json")
    info = json.loads(run_skopeo(skopeo, "inspect", "--tls-verify=false", "--authfile", authfile, ref))
    assert info["Digest"] == digest
