"""Manifests, descriptors and digest checking of the registry transport: strict parsing, no network."""

from __future__ import annotations

import hashlib
import io
import json

import pytest

from harden.errors import BadArchive, ImageNotFound, ImageTooLarge, UnsupportedImage
from harden.image.registry import (
    DOCKER_LIST,
    EMPTY_DESCRIPTOR,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    Manifest,
    Platform,
    select_platform,
)
from harden.image.registry.digests import DigestSink

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def image_doc(**extra: object) -> dict[str, object]:
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": D1, "size": 10},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": D2, "size": 20}],
        **extra,
    }


def test_manifest_round_trip() -> None:
    manifest = Manifest.build(image_doc())
    assert manifest.digest == "sha256:" + hashlib.sha256(manifest.data).hexdigest()
    assert [d.digest for d in manifest.descriptors()] == [D1, D2]
    assert Manifest.parse(manifest.data, OCI_MANIFEST, "x") == manifest
    assert manifest.descriptor == Descriptor(OCI_MANIFEST, manifest.digest, len(manifest.data))
    assert EMPTY_DESCRIPTOR.digest == "sha256:" + hashlib.sha256(b"{}").hexdigest() and EMPTY_DESCRIPTOR.size == 2


def test_media_type_from_the_document_when_the_header_is_generic() -> None:
    doc = image_doc()
    del doc["mediaType"]
    assert Manifest.parse(json.dumps(doc).encode(), "application/json", "x").media_type == OCI_MANIFEST
    index = {"schemaVersion": 2, "manifests": []}
    assert Manifest.parse(json.dumps(index).encode(), None, "x").media_type == OCI_INDEX


@pytest.mark.parametrize(
    ("data", "content_type", "error", "fragment"),
    [
        (b"{not json", OCI_MANIFEST, BadArchive, "not valid JSON"),
        (b"[]", OCI_MANIFEST, BadArchive, "must be a JSON object"),
        (json.dumps(image_doc()).encode(), OCI_INDEX, BadArchive, "declares mediaType"),
        (json.dumps(image_doc(schemaVersion=1)).encode(), OCI_MANIFEST, UnsupportedImage, "schemaVersion 1"),
        (b'{"schemaVersion": 1}', "application/vnd.docker.distribution.manifest.v1+prettyjws", UnsupportedImage,
         "schema 1"),
        (json.dumps(image_doc(mediaType="text/plain")).encode(), None, UnsupportedImage, "unsupported manifest media"),
        (json.dumps(image_doc(layers=[{"mediaType": "x", "digest": "sha256:12", "size": 1}])).encode(), None,
         BadArchive, r"layers\[0\].digest: invalid digest"),
        (json.dumps(image_doc(layers=[{"mediaType": "x", "digest": D1, "size": -1}])).encode(), None,
         BadArchive, r"layers\[0\].size"),
        (json.dumps(image_doc(subject={"mediaType": "x", "digest": D1})).encode(), None, BadArchive, "subject.size"),
    ],
)  # fmt: skip
def test_strict_parsing(data: bytes, content_type: str | None, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error, match=fragment):
        Manifest.parse(data, content_type, "manifest v1")


def test_select_platform() -> None:
    entries = [
        {"mediaType": OCI_MANIFEST, "digest": D1, "size": 1, "platform": {"os": "linux", "architecture": "arm64",
                                                                           "variant": "v8"}},
        {"mediaType": OCI_MANIFEST, "digest": D2, "size": 1, "platform": {"os": "linux", "architecture": "amd64"}},
    ]  # fmt: skip
    index = Manifest.build({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": entries})
    assert index.is_index and index.config is None and index.layers == ()
    assert select_platform(index, "linux", "arm64").digest == D1
    assert select_platform(index, "linux", "arm64", "v8").platform == Platform("linux", "arm64", "v8")
    with pytest.raises(ImageNotFound, match="linux/arm64/v7"):
        select_platform(index, "linux", "arm64", "v7")


def sink_for(data: bytes, **kw: int) -> tuple[DigestSink, io.BytesIO]:
    out = io.BytesIO()
    return DigestSink(out, "sha256:" + hashlib.sha256(data).hexdigest(), "blob X", **kw), out


def test_digest_sink() -> None:
    data = b"x" * 100
    sink, out = sink_for(data, size=100)
    sink.write(data[:60])
    sink.write(data[60:])
    sink.finish()
    assert out.getvalue() == data
    sink, _ = sink_for(data, size=50)
    with pytest.raises(BadArchive, match="more bytes than the 50"):
        sink.write(data)
    sink, _ = sink_for(data, max_bytes=99)
    with pytest.raises(ImageTooLarge, match="limit of 99"):
        sink.write(data)
    sink, _ = sink_for(data, size=100)
    sink.write(data[:10])
    with pytest.raises(BadArchive, match="truncated"):
        sink.finish()
    sink, _ = sink_for(data)
    sink.write(b"y" * 100)
    with pytest.raises(BadArchive, match="blob X: content does not match its digest"):
        sink.finish()
