"""The transports table and its API, without an engine or a network: one table (every transport's syntax in the
help, parsed by its own module), what an index names, platform choice, the one-platform outputs, deterministic
gzip and zstd, annotations carried over or not, an index round trip through every file transport, and output
permissions that follow the umask."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harden.errors import BadArchive, ImageNotFound, UsageError
from harden.image.blobs import BlobStore
from harden.image.merge import merge_layers
from harden.image.model import Image, ImageConfig, ImageSet, Layer, Platform
from harden.image.transports import (
    TRANSPORTS,
    Compression,
    WriteContext,
    check_platforms,
    help_text,
    moving_tag,
    open_image,
    open_source,
    output_annotations,
    parse_output,
    parse_reference,
    publish,
    transport_of,
)
from harden.image.transports._common import Entry, select_entries
from harden.image.transports._layers import compress_stream
from imagefactory import default_config, diff_id, directory, file, make_layer_tar

INDEX = "application/vnd.oci.image.index.v1+json"


# -- the table -------------------------------------------------------------------------------------------------
def test_every_transport_is_in_the_help_and_parses_its_own_syntax() -> None:
    text = help_text()
    assert [t.name for t in TRANSPORTS] == ["registry", "docker-archive", "oci-archive", "oci", "daemon"]
    examples = {
        "registry": "docker://127.0.0.1:5000/team/app:1",
        "docker-archive": "docker-archive:/tmp/a.tar:team/app:1",
        "oci-archive": "oci-archive:/tmp/a.tar:1",
        "oci": "oci:/tmp/layout:1",
        "daemon": "docker-daemon:team/app:1",
    }
    for transport in TRANSPORTS:
        assert transport.syntax in text
        ref = parse_reference(examples[transport.name])
        assert transport_of(ref) is transport
        assert parse_reference(ref.text) == ref, "the canonical text reads back"
    assert parse_reference("team/app:1").transport == "daemon", "a bare name is an engine image"


def test_outputs_need_a_prefix_and_a_writing_transport() -> None:
    assert parse_output("docker://localhost:5000/app:1").transport == "registry"
    assert parse_output("docker-daemon:app:hardened").transport == "daemon"
    for text in ("app:1", "out.tar"):
        with pytest.raises(UsageError, match="--output takes docker://"):
            parse_output(text)


@pytest.mark.parametrize(("reference", "moving"), [
    ("app", True), ("app:latest", True), ("app:1", False), ("app@sha256:" + "a" * 64, False),
    ("docker://localhost:5000/app", True), ("docker://localhost:5000/app:2", False),
    ("oci:/tmp/x", False), ("docker-archive:/tmp/x.tar", False), ("registry:5000/team/app", True),
    ("not a reference", False),
])
def test_moving_tags_are_the_transports_to_say(reference: str, moving: bool) -> None:
    assert moving_tag(reference) is moving


# -- platforms -------------------------------------------------------------------------------------------------
def test_platform_parsing_and_matching() -> None:
    assert Platform.parse("linux/aarch64") == Platform("linux", "arm64")
    assert str(Platform.parse("linux/arm/v7")) == "linux/arm/v7" and Platform.parse("linux/arm/v7").slug == \
        "linux-arm-v7"
    assert Platform("linux", "arm64", "v8").matches(Platform.parse("linux/arm64"))
    assert Platform("linux", "arm64").matches(Platform.parse("linux/arm64/v8")), "arm64 is v8"
    assert not Platform("linux", "arm", "v6").matches(Platform.parse("linux/arm/v7"))
    for bad in ("linux", "linux/", "a/b/c/d", "Linux/AMD64 x"):
        with pytest.raises(ValueError, match="not a platform"):
            Platform.parse(bad)


def entry(arch: str, group: int, names: tuple[str, ...] = (), parent: dict[str, Any] | None = None) -> Entry:
    return Entry({"digest": "sha256:" + arch[0] * 64, "platform": {"os": "linux", "architecture": arch}},
                 names, group, parent)


def test_what_a_reference_names_in_an_index() -> None:
    nested = {"mediaType": INDEX, "annotations": {"org.opencontainers.image.source": "x"}}
    top: dict[str, Any] = {"annotations": {"top": "1"}}
    both = [entry("amd64", 0, ("1",), nested), entry("arm64", 0, ("1",), nested)]
    chosen = select_entries(both, top, selector="1", index=None, where="w")
    assert chosen.is_index and len(chosen.entries) == 2 and chosen.annotations == (
        ("org.opencontainers.image.source", "x"),)
    one = select_entries(both, top, selector=None, index=1, where="w")
    assert not one.is_index and one.entries[0].platform == Platform("linux", "arm64")
    side_by_side = select_entries([entry("amd64", 0), entry("arm64", 1)], top, selector=None, index=None,
                                  where="w")
    assert side_by_side.is_index and side_by_side.annotations == (("top", "1"),)
    single = select_entries([entry("amd64", 0, ("v1",))], top, selector="v1", index=None, where="w")
    assert not single.is_index
    with pytest.raises(UsageError, match="holds 2 images"):
        select_entries([entry("amd64", 0, ("a",)), entry("amd64", 1, ("b",))], top, selector=None, index=None,
                       where="w")
    with pytest.raises(ImageNotFound, match="no image named v9"):
        select_entries(both, top, selector="v9", index=None, where="w")
    with pytest.raises(BadArchive, match="lists no image"):
        select_entries([], top, selector=None, index=None, where="w")


# -- an index through the file transports -----------------------------------------------------------------------
LAYERS = {arch: make_layer_tar([directory("app"), file("app/arch", arch.encode()), file("app/main.py", b"0\n")])
          for arch in ("amd64", "arm64")}


def image(arch: str, tmp_path: Path) -> Image:
    config = default_config([diff_id(LAYERS[arch])], User="1000")
    config["architecture"] = arch
    path = tmp_path / f"{arch}.tar"
    path.write_bytes(LAYERS[arch])
    layer = Layer(diff_id(LAYERS[arch]), lambda: path.open("rb"), size=len(LAYERS[arch]))
    return Image(ImageConfig.from_bytes(json.dumps(config).encode()), (layer,),
                 annotations=(("org.opencontainers.image.title", arch),))


@pytest.fixture
def two(tmp_path: Path) -> ImageSet:
    return ImageSet((image("amd64", tmp_path), image("arm64", tmp_path)), "test", True,
                    annotations=(("org.opencontainers.image.source", "https://example.invalid"),))


@pytest.mark.parametrize("compression", ["gzip", "zstd:19"])
@pytest.mark.parametrize("prefix", ["oci:", "oci-archive:"])
def test_an_index_round_trips_through_the_file_transports(
    two: ImageSet, tmp_path: Path, prefix: str, compression: str
) -> None:
    target = tmp_path / "out"
    ctx = WriteContext(tmp_path / "ws", Compression.parse(compression), tag_name="app:hard")
    assert publish([parse_output(f"{prefix}{target}")], two, ctx) == [f"{prefix}{target}"]
    read = open_source(f"{prefix}{target}", tmp_path / "read")
    assert read.is_index and [str(p) for p in read.platforms] == ["linux/amd64", "linux/arm64"]
    assert read.annotations == (("org.opencontainers.image.source", "https://example.invalid"),)
    assert [i.annotations for i in read.images] == [(("org.opencontainers.image.title", "amd64"),),
                                                     (("org.opencontainers.image.title", "arm64"),)]
    kind = compression.partition(":")[0]
    assert all(layer.media_type.endswith("+" + kind) for i in read.images for layer in i.layers)
    for arch, got in zip(("amd64", "arm64"), read.images, strict=True):
        rootfs = merge_layers(got.layers, BlobStore(tmp_path / f"blobs-{arch}")).rootfs
        assert rootfs.get("app/arch") is not None
    arm = open_source(f"{prefix}{target}", tmp_path / "read2", platforms=[Platform.parse("linux/arm64")])
    assert arm.is_index and [str(p) for p in arm.platforms] == ["linux/arm64"]
    with pytest.raises(UsageError) as caught:
        open_source(f"{prefix}{target}", tmp_path / "read3", platforms=[Platform.parse("linux/ppc64le")])
    assert "no image for --platform linux/ppc64le: it has: linux/amd64, linux/arm64" in caught.value.one_line()
    host_one = open_image(f"{prefix}{target}", tmp_path / "read4")
    assert host_one.runs_on is not None and host_one.runs_on.architecture in ("amd64", "arm64")


def test_one_platform_outputs_refuse_several_platforms(two: ImageSet) -> None:
    with pytest.raises(UsageError, match=r"holds one platform.*choose one with --platform"):
        check_platforms([parse_output("docker-archive:/tmp/x.tar")], two, compression=None)
    with pytest.raises(UsageError, match="holds one platform"):
        check_platforms([parse_output("docker-daemon:app:1")], two, compression=None)
    check_platforms([parse_output("oci:/tmp/x"), parse_output("docker://localhost/app:1")], two, compression=None)
    with pytest.raises(UsageError, match="--compression applies to"):
        check_platforms([parse_output("docker-archive:/tmp/x.tar")], ImageSet(two.images[:1]),
                        compression=Compression.parse("zstd"))


# -- compression -----------------------------------------------------------------------------------------------
def test_compression_parsing() -> None:
    assert Compression.parse("gzip") == Compression("gzip", 6)
    assert Compression.parse("zstd") == Compression("zstd", 3) and str(Compression.parse("ZSTD:19")) == "zstd:19"
    for bad in ("xz", "gzip:0", "gzip:10", "zstd:23", "zstd:", "zstd:-1"):
        with pytest.raises(UsageError):
            Compression.parse(bad)


@pytest.mark.parametrize("text", ["gzip", "gzip:1", "gzip:9", "zstd", "zstd:1", "zstd:19"])
def test_compression_is_deterministic(tmp_path: Path, text: str) -> None:
    import gzip
    import io

    import zstandard

    data = b"".join(b"line %d of a layer tar\n" % n for n in range(50_000))
    outputs = []
    for _ in range(2):
        out = io.BytesIO()
        compress_stream(io.BytesIO(data), out, Compression.parse(text), len(data))
        outputs.append(out.getvalue())
    assert outputs[0] == outputs[1]
    back = gzip.decompress(outputs[0]) if text.startswith("gzip") else \
        zstandard.ZstdDecompressor().decompress(outputs[0])
    assert back == data


def test_the_same_image_gives_the_same_digests(two: ImageSet, tmp_path: Path) -> None:
    digests = []
    for n in (1, 2):
        publish([parse_output(f"oci:{tmp_path / f'l{n}'}:1")], two, WriteContext(tmp_path / f"ws{n}",
                                                                                  Compression.parse("zstd")))
        digests.append(json.loads((tmp_path / f"l{n}" / "index.json").read_text())["manifests"][0]["digest"])
    assert digests[0] == digests[1]


# -- annotations -----------------------------------------------------------------------------------------------
def test_annotations_that_no_longer_apply_are_named() -> None:
    kept, dropped = output_annotations((
        ("org.opencontainers.image.source", "s"), ("org.opencontainers.image.created", "c"),
        ("org.opencontainers.image.base.digest", "d"), ("vnd.docker.reference.type", "attestation-manifest"),
        ("org.opencontainers.image.revision", "r"),
    ))
    assert kept == (("org.opencontainers.image.source", "s"), ("org.opencontainers.image.revision", "r"))
    assert len(dropped) == 3 and all(": " in line for line in dropped)


# -- permissions -----------------------------------------------------------------------------------------------
@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def modes(root: Path) -> set[tuple[str, int]]:
    found = {("dir" if root.is_dir() else "file", stat.S_IMODE(root.stat().st_mode))}
    if root.is_dir():
        found |= {("dir" if p.is_dir() else "file", stat.S_IMODE(p.stat().st_mode)) for p in root.rglob("*")}
    return found


@pytest.mark.parametrize(("mask", "dirs", "files"), [(0o022, 0o755, 0o644), (0o027, 0o750, 0o640)])
def test_outputs_get_ordinary_permissions(two: ImageSet, tmp_path: Path, mask: int, dirs: int, files: int) -> None:
    """Like skopeo's (and cp's): 0777/0666 less the umask, for the layout, its folders and every blob, and
    for archive files; never the 0700/0600 of a private temp path."""
    one = ImageSet(two.images[:1])
    with umask(mask):
        publish([parse_output(f"oci:{tmp_path / 'layout'}"), parse_output(f"oci:{tmp_path / 'index'}")],
                two, WriteContext(tmp_path / "ws"))
        publish([parse_output(f"oci-archive:{tmp_path / 'a.tar'}"),
                 parse_output(f"docker-archive:{tmp_path / 'd.tar'}")], one, WriteContext(tmp_path / "ws2"))
    for layout in (tmp_path / "layout", tmp_path / "index"):
        assert modes(layout) == {("dir", dirs), ("file", files)}, layout
    assert modes(tmp_path / "a.tar") == {("file", files)} and modes(tmp_path / "d.tar") == {("file", files)}
    with tarfile.open(tmp_path / "a.tar") as tar:
        assert {m.mode for m in tar.getmembers()} <= {0o755, 0o644}, "inside the archive: fixed modes"
