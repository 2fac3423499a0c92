"""Sources: docker-archive (all layouts), oci layout, oci-archive; selection; hostile and broken inputs."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tarfile
from pathlib import Path, PurePosixPath

import pytest

from harden.errors import (
    BadArchive,
    EngineUnavailable,
    ImageNotFound,
    InputError,
    UsageError,
)
from harden.image.blobs import BlobStore
from harden.image.merge import merge_layers
from harden.image.model import Image
from harden.image.transports import open_image
from imagefactory import (
    default_config,
    diff_id,
    directory,
    file,
    gzip_bytes,
    make_layer_tar,
    whiteout,
    write_docker_archive,
    write_oci_archive,
    write_oci_layout,
)

BASE = make_layer_tar([directory("etc"), file("etc/os-release", b"ID=debian\n"), file("etc/motd", b"hi")])
TOP = make_layer_tar([whiteout("etc/motd"), file("app.py", b"print(1)\n", mode=0o755)])


def merged_paths(image: Image, blobs: BlobStore) -> dict[str, bytes]:
    rootfs = merge_layers(image.layers, blobs).rootfs
    return {str(e.path): blobs.read(e.digest) if e.digest else b"" for e in rootfs}


EXPECTED = {"app.py": b"print(1)\n", "etc": b"", "etc/os-release": b"ID=debian\n"}


@pytest.mark.parametrize(
    ("layout", "compress", "dedupe"),
    [
        ("legacy", False, False),
        ("podman", False, False),
        ("blobs", False, False),
        ("blobs", True, False),
        ("legacy", False, True),
    ],
)
def test_docker_archive_layouts(
    tmp_path: Path, workdir: Path, blobs: BlobStore, layout: str, compress: bool, dedupe: bool
) -> None:
    layers = [BASE, TOP, BASE] if dedupe else [BASE, TOP]
    archive = write_docker_archive(
        tmp_path / "img.tar", layers, layout=layout, compress=compress, dedupe_with_symlinks=dedupe
    )
    image = open_image(f"docker-archive:{archive}", workdir)
    assert image.repo_tags == ("test/image:latest",)
    assert image.config.diff_ids == tuple(diff_id(layer) for layer in layers)
    assert image.config_digest.startswith("sha256:")
    contents = merged_paths(image, blobs)
    assert contents == (EXPECTED | {"etc/motd": b"hi"} if dedupe else EXPECTED)
    assert {layer.media_type.endswith("+gzip") for layer in image.layers} == {compress}


def test_layers_can_be_read_again(tmp_path: Path, workdir: Path, blobs: BlobStore) -> None:
    image = open_image(f"docker-archive:{write_docker_archive(tmp_path / 'i.tar', [BASE, TOP])}", workdir)
    assert merged_paths(image, blobs) == merged_paths(image, blobs) == EXPECTED


def test_gzipped_docker_archive(tmp_path: Path, workdir: Path, blobs: BlobStore) -> None:
    plain = write_docker_archive(tmp_path / "img.tar", [BASE, TOP])
    packed = tmp_path / "img.tar.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    image = open_image(f"docker-archive:{packed}", workdir)
    assert merged_paths(image, blobs) == EXPECTED


def test_selecting_one_of_several_images(tmp_path: Path, workdir: Path, blobs: BlobStore) -> None:
    other = make_layer_tar([file("other", b"o")])
    archive = write_docker_archive(
        tmp_path / "multi.tar",
        [BASE, TOP],
        repo_tags=["demo:1"],
        extra_images=[([other], ["registry.local/x:2"])],
    )
    with pytest.raises(UsageError) as caught:
        open_image(f"docker-archive:{archive}", workdir)
    assert any("demo:1" in d for d in caught.value.details)
    assert merged_paths(open_image(f"docker-archive:{archive}:registry.local/x:2", workdir), blobs) == {
        "other": b"o"
    }
    assert merged_paths(open_image(f"docker-archive:{archive}:@1", workdir), blobs) == {"other": b"o"}
    assert (
        merged_paths(open_image(f"docker-archive:{archive}:docker.io/library/demo:1", workdir), blobs)
        == EXPECTED
    )
    with pytest.raises(ImageNotFound):
        open_image(f"docker-archive:{archive}:demo:2", workdir)
    with pytest.raises(ImageNotFound):
        open_image(f"docker-archive:{archive}:@5", workdir)


def test_missing_archive_and_missing_manifest(tmp_path: Path, workdir: Path) -> None:
    with pytest.raises(ImageNotFound):
        open_image(f"docker-archive:{tmp_path / 'nope.tar'}", workdir)
    archive = write_docker_archive(tmp_path / "img.tar", [BASE])
    stripped = tmp_path / "stripped.tar"
    with tarfile.open(archive) as src, tarfile.open(stripped, "w") as dst:
        for member in src.getmembers():
            if member.name != "manifest.json":
                dst.addfile(member, src.extractfile(member) if member.isreg() else None)
    with pytest.raises(BadArchive, match=r"missing manifest\.json"):
        open_image(f"docker-archive:{stripped}", workdir)


def test_not_a_tar_is_a_bad_archive(tmp_path: Path, workdir: Path) -> None:
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"this is not a tar archive at all" * 100)
    with pytest.raises(BadArchive):
        open_image(f"docker-archive:{junk}", workdir)


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9, -1])
def test_truncated_archive_is_a_bad_archive(
    tmp_path: Path, workdir: Path, blobs: BlobStore, keep: float
) -> None:
    big = make_layer_tar([file(f"f{i}", bytes([i]) * 4000) for i in range(20)])
    archive = write_docker_archive(tmp_path / "img.tar", [big, TOP])
    data = archive.read_bytes()
    if keep == -1:  # one byte short of the last member's end (the manifest)
        with tarfile.open(archive) as tar:
            last = tar.getmembers()[-1]
        end = last.offset_data + last.size - 1
    else:
        end = int(len(data) * keep)
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[:end])
    with pytest.raises(BadArchive):
        merge_layers(open_image(f"docker-archive:{cut}", workdir).layers, blobs)


def test_missing_end_of_archive_padding_is_accepted(tmp_path: Path, workdir: Path, blobs: BlobStore) -> None:
    archive = write_docker_archive(tmp_path / "img.tar", [BASE, TOP])
    with tarfile.open(archive) as tar:
        last = tar.getmembers()[-1]
    cut = tmp_path / "cut.tar"
    end = (
        last.offset_data + -(-last.size // 512) * 512
    )  # the last member with its block padding, no end marker
    cut.write_bytes(archive.read_bytes()[:end])
    assert merged_paths(open_image(f"docker-archive:{cut}", workdir), blobs) == EXPECTED


def test_diff_id_mismatch_is_detected_while_streaming(
    tmp_path: Path, workdir: Path, blobs: BlobStore
) -> None:
    wrong = default_config([diff_id(BASE), diff_id(BASE)])
    archive = write_docker_archive(tmp_path / "img.tar", [BASE, TOP], wrong)
    image = open_image(f"docker-archive:{archive}", workdir)
    with pytest.raises(BadArchive) as caught:
        merge_layers(image.layers, blobs)
    assert "layer 1" in caught.value.message and "diff_id" in caught.value.message
    assert caught.value.exit_code == 3


def test_diff_id_count_mismatch(tmp_path: Path, workdir: Path) -> None:
    archive = write_docker_archive(tmp_path / "img.tar", [BASE, TOP], default_config([diff_id(BASE)]))
    with pytest.raises(BadArchive, match="2 layers but the config lists 1"):
        open_image(f"docker-archive:{archive}", workdir)


def test_truncated_and_corrupt_gzip_layers(tmp_path: Path, workdir: Path, blobs: BlobStore) -> None:
    config = default_config([diff_id(BASE)])
    for name, payload in [("cut", gzip_bytes(BASE)[:-40]), ("flip", _flip(gzip_bytes(BASE), 30))]:
        archive = write_docker_archive(tmp_path / f"{name}.tar", [payload], config, layout="podman")
        with pytest.raises(BadArchive):
            merge_layers(open_image(f"docker-archive:{archive}", workdir).layers, blobs)


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


def test_tampered_config_name_digest(tmp_path: Path, workdir: Path) -> None:
    archive = write_docker_archive(tmp_path / "img.tar", [BASE])
    tampered = tmp_path / "tampered.tar"
    with tarfile.open(archive) as src, tarfile.open(tampered, "w") as dst:
        for member in src.getmembers():
            stream = src.extractfile(member) if member.isreg() else None
            if member.name.endswith(".json") and member.name != "manifest.json" and stream is not None:
                data = json.loads(stream.read())
                data["config"]["User"] = "root"
                blob = json.dumps(data).encode()
                member.size = len(blob)
                stream = io.BytesIO(blob)
            dst.addfile(member, stream)
    with pytest.raises(BadArchive, match="does not match its digest"):
        open_image(f"docker-archive:{tampered}", workdir)


def test_zstd_layers_are_read_and_corrupt_ones_refused(tmp_path: Path, workdir: Path, blobs: BlobStore) -> None:
    import zstandard

    packed = zstandard.ZstdCompressor(level=3).compress(BASE)
    archive = write_docker_archive(tmp_path / "z.tar", [packed], default_config([diff_id(BASE)]), layout="podman")
    image = open_image(f"docker-archive:{archive}", workdir)
    assert image.layers[0].media_type.endswith("+zstd")
    assert merge_layers(image.layers, blobs).rootfs
    corrupt = packed[:8] + bytes(b ^ 0xFF for b in packed[8:40]) + packed[40:]
    broken = write_docker_archive(tmp_path / "bad.tar", [corrupt], default_config([diff_id(BASE)]), layout="podman")
    with pytest.raises(BadArchive):
        merge_layers(open_image(f"docker-archive:{broken}", workdir).layers, BlobStore(tmp_path / "b2"))


# -- OCI ----------------------------------------------------------------------------------------------------
def test_oci_layout_and_archive(tmp_path: Path, workdir: Path, blobs: BlobStore) -> None:
    layout = write_oci_layout(tmp_path / "layout", [BASE, TOP], ref_name="1.0")
    image = open_image(f"oci:{layout}", workdir)
    assert merged_paths(image, blobs) == EXPECTED
    assert image.repo_tags == ("1.0",)
    assert merged_paths(open_image(f"oci:{layout}:1.0", workdir), blobs) == EXPECTED
    with pytest.raises(ImageNotFound):
        open_image(f"oci:{layout}:2.0", workdir)
    archive = write_oci_archive(tmp_path / "img.oci.tar", [BASE, TOP], compress=False)
    assert merged_paths(open_image(f"oci-archive:{archive}", workdir), blobs) == EXPECTED


def test_oci_nested_index_picks_the_host_platform(tmp_path: Path, workdir: Path, blobs: BlobStore) -> None:
    import platform

    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    other = "arm64" if arch != "arm64" else "amd64"
    layout = write_oci_layout(
        tmp_path / "multi", [BASE, TOP], nested_index=True, platforms=(f"linux/{other}", f"linux/{arch}")
    )
    image = open_image(f"oci:{layout}", workdir)
    assert image.config.architecture == arch
    assert open_image(f"oci:{layout}:@0", workdir).config.architecture == other


def test_oci_layout_problems(tmp_path: Path, workdir: Path) -> None:
    layout = write_oci_layout(tmp_path / "layout", [BASE])
    (layout / "oci-layout").unlink()
    with pytest.raises(BadArchive, match="oci-layout"):
        open_image(f"oci:{layout}", workdir)

    sneaky = write_oci_layout(tmp_path / "sneaky", [BASE])
    index = json.loads((sneaky / "index.json").read_text())
    index["manifests"][0]["digest"] = "sha256:../../../../etc/passwd"
    (sneaky / "index.json").write_text(json.dumps(index))
    with pytest.raises(BadArchive, match="invalid digest"):
        open_image(f"oci:{sneaky}", workdir)

    tampered = write_oci_layout(tmp_path / "tampered", [BASE])
    manifest_digest = json.loads((tampered / "index.json").read_text())["manifests"][0]["digest"]
    blob = tampered / "blobs" / "sha256" / manifest_digest.partition(":")[2]
    blob.write_bytes(blob.read_bytes().replace(b'"schemaVersion": 2', b'"schemaVersion":  2'))
    with pytest.raises(BadArchive, match="does not match its digest"):
        open_image(f"oci:{tampered}", workdir)

    with pytest.raises(ImageNotFound):
        open_image(f"oci:{tmp_path / 'absent'}", workdir)
    not_dir = tmp_path / "file"
    not_dir.write_text("x")
    with pytest.raises(InputError):
        open_image(f"oci:{not_dir}", workdir)


def test_oci_blob_symlink_out_of_the_layout_is_refused(
    tmp_path: Path, workdir: Path, blobs: BlobStore
) -> None:
    layout = write_oci_layout(tmp_path / "layout", [BASE], compress=False)
    manifest_digest = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
    manifest = json.loads((layout / "blobs" / "sha256" / manifest_digest.partition(":")[2]).read_text())
    layer_blob = layout / "blobs" / "sha256" / manifest["layers"][0]["digest"].partition(":")[2]
    outside = tmp_path / "outside.tar"
    shutil.move(layer_blob, outside)
    layer_blob.symlink_to(outside)
    with pytest.raises(BadArchive, match="outside the layout"):
        open_image(f"oci:{layout}", workdir)


def test_workspace_subdirectory_is_created(tmp_path: Path, blobs: BlobStore) -> None:
    archive = write_docker_archive(tmp_path / "img.tar", [BASE, TOP])
    image = open_image(f"docker-archive:{archive}", tmp_path / "work" / "deeper")
    assert {str(p) for p in merge_layers(image.layers, blobs).rootfs.entries} == set(EXPECTED) | {"etc"}
    assert PurePosixPath("etc/motd") not in merge_layers(image.layers, blobs).rootfs


def test_engine_down_is_engine_unavailable(tmp_path: Path, workdir: Path) -> None:
    import docker

    client = docker.DockerClient(base_url=f"unix://{tmp_path / 'no-engine.sock'}", version="1.41", timeout=5)
    with pytest.raises(EngineUnavailable) as caught:
        open_image("python:3.11", workdir, engine=client)
    assert caught.value.exit_code == 3
