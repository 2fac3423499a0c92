"""Push tiny real images to a real registry (distribution 2.8) and pull them back, byte for byte."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from registry_images import TinyImage, build_image
from registry_server import RecordingSession, RegistryServer, free_port

from harden.errors import BadArchive, ImageNotFound, ImageTooLarge, InputError
from harden.image.registry import (
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    Manifest,
    RegistryClient,
    fetch_blob,
    get_manifest,
    head_manifest,
    push_blob,
    push_manifest,
    read_blob,
    select_platform,
)

pytestmark = pytest.mark.registry
Connect = Callable[..., RegistryClient]


def push_image(client: RegistryClient, repository: str, image: TinyImage, tag: str | None = None, **kw: object) -> str:
    for digest, path in image.blobs.items():
        push_blob(client, repository, path, digest=digest, size=path.stat().st_size, **kw)  # type: ignore[arg-type]
    return push_manifest(client, repository, image.manifest, tag=tag)


def test_push_then_pull_is_byte_identical(plain_registry: RegistryServer, connect: Connect, tmp_path: Path) -> None:
    image = build_image(tmp_path / "src", name="roundtrip", layers=3, layer_bytes=300_000)
    client = connect(plain_registry)
    digest = push_image(client, "tests/roundtrip", image, tag="v1")
    assert digest == image.manifest.digest

    manifest = get_manifest(client, "tests/roundtrip", "v1")
    assert manifest.data == image.manifest.data
    assert manifest.media_type == OCI_MANIFEST
    assert get_manifest(client, "tests/roundtrip", digest).data == image.manifest.data
    out = tmp_path / "pulled"
    out.mkdir()
    for blob in manifest.descriptors():
        target = out / blob.digest.replace(":", "_")
        assert fetch_blob(client, "tests/roundtrip", blob, target) == blob.size
        assert target.read_bytes() == image.blobs[blob.digest].read_bytes()
    assert sorted(p.name for p in out.iterdir()) == sorted(d.replace(":", "_") for d in image.blobs)  # no leftovers
    config = read_blob(client, "tests/roundtrip", image.config)
    assert config == image.blobs[image.config.digest].read_bytes()
    head = head_manifest(client, "tests/roundtrip", "v1")
    assert head == Descriptor(OCI_MANIFEST, digest, len(image.manifest.data))


def test_fetch_blob_streams_to_a_writer(plain_registry: RegistryServer, connect: Connect, tmp_path: Path) -> None:
    image = build_image(tmp_path, name="writer", layers=1, layer_bytes=2_500_000)
    client = connect(plain_registry)
    push_image(client, "tests/writer", image, tag="v1")
    layer = image.manifest.layers[0]
    writes: list[int] = []

    class Sink(io.RawIOBase):
        def __init__(self) -> None:
            self.hasher = hashlib.sha256()

        def write(self, data: bytes) -> int:  # type: ignore[override]
            writes.append(len(data))
            self.hasher.update(data)
            return len(data)

    sink = Sink()
    assert fetch_blob(client, "tests/writer", layer, sink) == layer.size
    assert "sha256:" + sink.hasher.hexdigest() == layer.digest
    assert max(writes) <= 1 << 20  # streamed in chunks, never the whole blob at once


def test_docker_schema2_manifest(plain_registry: RegistryServer, connect: Connect, tmp_path: Path) -> None:
    image = build_image(tmp_path, name="dockerv2", docker=True)
    client = connect(plain_registry)
    push_image(client, "tests/dockerv2", image, tag="latest")
    manifest = get_manifest(client, "tests/dockerv2", "latest")
    assert manifest.media_type == DOCKER_MANIFEST
    assert manifest.digest == image.manifest.digest


def test_index_with_two_platforms(plain_registry: RegistryServer, connect: Connect, tmp_path: Path) -> None:
    client = connect(plain_registry)
    entries = []
    images = {}
    for arch in ("amd64", "arm64"):
        image = build_image(tmp_path / arch, name=f"multi-{arch}", architecture=arch)
        push_image(client, "tests/multi", image)  # by digest, untagged
        images[arch] = image
        entries.append({**image.manifest.descriptor.to_json(), "platform": {"os": "linux", "architecture": arch}})
    index = Manifest.build({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
    assert push_manifest(client, "tests/multi", index, tag="1.0") == index.digest

    pulled = get_manifest(client, "tests/multi", "1.0")
    assert pulled.is_index and pulled.data == index.data
    for arch, image in images.items():
        entry = select_platform(pulled, "linux", arch)
        child = get_manifest(client, "tests/multi", entry.digest)
        assert child.data == image.manifest.data
    with pytest.raises(ImageNotFound, match="linux/s390x"):
        select_platform(pulled, "linux", "s390x")


def test_existing_blobs_are_not_uploaded_again(
    plain_registry: RegistryServer, connect: Connect, tmp_path: Path
) -> None:
    image = build_image(tmp_path, name="skip", layers=2)
    session = RecordingSession()
    client = connect(plain_registry, session=session)
    first = [push_blob(client, "tests/skip", path).action for path in image.blobs.values()]
    assert first == ["uploaded"] * 3
    uploads = session.count("PUT", "/blobs/uploads/")
    assert uploads == 3
    again = [push_blob(client, "tests/skip", path).action for path in image.blobs.values()]
    assert again == ["exists"] * 3
    assert session.count("PUT", "/blobs/uploads/") == uploads  # nothing sent again: only HEADs
    assert session.count("POST", "/blobs/uploads/") == 3
    assert session.count("HEAD", "/blobs/") == 6


def test_cross_repository_mount(plain_registry: RegistryServer, connect: Connect, tmp_path: Path) -> None:
    image = build_image(tmp_path, name="mount", layers=1)
    session = RecordingSession()
    client = connect(plain_registry, session=session)
    push_image(client, "tests/mount-from", image, tag="v1")
    actions = [
        push_blob(client, "tests/mount-to", p, mount_from="tests/mount-from").action for p in image.blobs.values()
    ]
    assert actions == ["mounted", "mounted"]
    assert session.count("PUT", "/tests/mount-to/blobs/uploads/") == 0
    assert push_manifest(client, "tests/mount-to", image.manifest, tag="v1") == image.manifest.digest


def test_chunked_upload(plain_registry: RegistryServer, connect: Connect, tmp_path: Path) -> None:
    image = build_image(tmp_path, name="chunked", layers=1, layer_bytes=700_000)
    session = RecordingSession()
    client = connect(plain_registry, session=session)
    layer = image.manifest.layers[0]
    pushed = push_blob(client, "tests/chunked", image.blobs[layer.digest], chunk_size=64 * 1024)
    assert pushed.action == "uploaded" and pushed.digest == layer.digest
    assert session.count("PATCH") == -(-layer.size // (64 * 1024))
    out = tmp_path / "out"
    fetch_blob(client, "tests/chunked", layer, out)
    assert out.read_bytes() == image.blobs[layer.digest].read_bytes()


def test_push_from_a_stream_factory(plain_registry: RegistryServer, connect: Connect) -> None:
    data = b"streamed blob " * 5000
    client = connect(plain_registry)
    pushed = push_blob(client, "tests/stream", lambda: io.BytesIO(data))
    assert pushed.digest == "sha256:" + hashlib.sha256(data).hexdigest() and pushed.size == len(data)
    assert read_blob(client, "tests/stream", pushed.digest) == data


def test_size_limit_is_refused_before_download(
    plain_registry: RegistryServer, connect: Connect, tmp_path: Path
) -> None:
    image = build_image(tmp_path, name="limit", layers=1, layer_bytes=100_000)
    session = RecordingSession()
    client = connect(plain_registry, session=session)
    push_image(client, "tests/limit", image, tag="v1")
    layer = image.manifest.layers[0]
    gets = session.count("GET", "/blobs/")
    with pytest.raises(ImageTooLarge, match=f"blob {layer.digest}.*limit of 1000"):
        fetch_blob(client, "tests/limit", layer, tmp_path / "out", max_bytes=1000)
    assert session.count("GET", "/blobs/") == gets  # refused from the descriptor, nothing downloaded
    with pytest.raises(ImageTooLarge, match="limit of 1000"):
        fetch_blob(client, "tests/limit", layer.digest, tmp_path / "out", max_bytes=1000)  # from Content-Length
    with pytest.raises(ImageTooLarge):
        get_manifest(client, "tests/limit", "v1", max_bytes=100)
    assert not (tmp_path / "out").exists()


def test_tampered_blob_is_detected(plain_registry: RegistryServer, connect: Connect, tmp_path: Path) -> None:
    image = build_image(tmp_path, name="tamper", layers=1, layer_bytes=50_000)
    client = connect(plain_registry)
    push_image(client, "tests/tamper", image, tag="v1")
    layer = image.manifest.layers[0]
    stored = plain_registry.blob_file(layer.digest)
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte changed, on the registry's disk
    stored.write_bytes(bytes(data))
    out = tmp_path / "out"
    with pytest.raises(BadArchive, match=rf"repository tests/tamper: blob {layer.digest}: content does not match"):
        fetch_blob(client, "tests/tamper", layer, out)
    assert not out.exists() and list(tmp_path.glob(".out*")) == []  # nothing unverified left behind


def test_short_descriptor_is_detected(plain_registry: RegistryServer, connect: Connect, tmp_path: Path) -> None:
    image = build_image(tmp_path, name="short", layers=1)
    client = connect(plain_registry)
    push_image(client, "tests/short", image)
    layer = image.manifest.layers[0]
    lying = Descriptor(layer.media_type, layer.digest, layer.size - 10)
    with pytest.raises(BadArchive, match="descriptor says"):
        fetch_blob(client, "tests/short", lying, tmp_path / "out")


def test_tampered_manifest_is_detected(plain_registry: RegistryServer, connect: Connect, tmp_path: Path) -> None:
    image = build_image(tmp_path, name="tamper-manifest", layers=1)
    client = connect(plain_registry)
    push_image(client, "tests/tamper-manifest", image, tag="v1")
    stored = plain_registry.blob_file(image.manifest.digest)
    stored.write_bytes(stored.read_bytes().replace(b'"schemaVersion":2', b'"schemaVersion": 2'))
    with pytest.raises(BadArchive, match=f"manifest v1: content does not match its digest {image.manifest.digest}"):
        get_manifest(client, "tests/tamper-manifest", "v1")
    with pytest.raises(BadArchive, match="does not match"):
        get_manifest(client, "tests/tamper-manifest", image.manifest.digest)


def test_not_found_names_registry_repository_and_what(plain_registry: RegistryServer, connect: Connect) -> None:
    client = connect(plain_registry)
    with pytest.raises(ImageNotFound) as caught:
        get_manifest(client, "tests/nothing-here", "v9")
    message = caught.value.one_line()
    assert message.startswith(f"registry {plain_registry.host}, repository tests/nothing-here: manifest v9: not found")
    assert "\n" not in message
    assert head_manifest(client, "tests/nothing-here", "v9") is None
    with pytest.raises(ImageNotFound, match=r"blob sha256:0{64}: not found"):
        read_blob(client, "tests/nothing-here", "sha256:" + "0" * 64)


def test_connection_refused_names_the_host(connect: Connect) -> None:
    port = free_port()  # nothing listens there
    client = connect(f"127.0.0.1:{port}")
    with pytest.raises(InputError, match=f"cannot connect to 127.0.0.1:{port}: connection refused") as caught:
        get_manifest(client, "tests/x", "v1")
    assert "\n" not in caught.value.one_line()
