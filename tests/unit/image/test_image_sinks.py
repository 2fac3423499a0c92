"""Writers: round trips through every file transport, deterministic bytes, atomic outputs."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

import pytest

from harden.errors import InternalError, UsageError
from harden.image.blobs import BlobStore
from harden.image.merge import merge_layers
from harden.image.model import FileEntry, Image, ImageConfig, ImageSet, Rootfs
from harden.image.transports import WriteContext, open_image, parse_output, publish
from harden.image.transports import oci_layout as oci_layout_sink
from harden.image.transports._layers import LayerBlob, reopened
from harden.image.transports.docker_archive import write_docker_archive
from harden.image.transports.oci_archive import write_oci_archive
from harden.image.transports.oci_layout import write_oci_layout
from harden.image.writer import WrittenLayer, with_written_layers, write_layer
from imagefactory import (
    default_config,
    diff_id,
    directory,
    file,
    hardlink,
    make_layer_tar,
    opaque,
    symlink,
    whiteout,
)
from imagefactory import (
    write_docker_archive as factory_docker_archive,
)

LAYERS = [
    make_layer_tar(
        [
            directory("usr"),
            directory("usr/bin"),
            file("usr/bin/python3.11", b"\x7fELF", mode=0o755),
            hardlink("usr/bin/python3", "usr/bin/python3.11"),
            symlink("usr/bin/python", "python3"),
            file("usr/bin/passwd", b"\x7fELF", mode=0o4755),
            directory("var/cache/apt"),
            file("var/cache/apt/pkgcache.bin", b"cache" * 100),
        ]
    ),
    make_layer_tar([directory("var/cache/apt"), opaque("var/cache/apt"), whiteout("usr/bin/passwd")]),
    make_layer_tar([file("app/main.py", b"print('hi')\n", uid=1000, gid=1000)]),
]


def squashed(tmp_path: Path, workdir: Path, blobs: BlobStore) -> tuple[ImageConfig, WrittenLayer, Rootfs]:
    """A docker-archive in, merged and squashed into one layer (`harden image` minus the stages)."""
    source_config = default_config(
        [diff_id(layer) for layer in LAYERS],
        User="1000:1000",
        Entrypoint=["/usr/bin/python3", "-m", "app"],
        Cmd=["--serve"],
        WorkingDir="/app",
        Env=["PATH=/usr/bin", "PYTHONDONTWRITEBYTECODE=1"],
        Labels={"org.opencontainers.image.source": "https://example.invalid/app"},
        Healthcheck={"Test": ["CMD", "/usr/bin/python3", "-c", "0"], "Interval": 30_000_000_000},
        ExposedPorts={"8080/tcp": {}},
    )
    archive = factory_docker_archive(
        tmp_path / "in.tar", LAYERS, source_config, repo_tags=["demo:1"], layout="blobs", compress=True
    )
    image = open_image(f"docker-archive:{archive}", workdir)
    rootfs = merge_layers(image.layers, blobs).rootfs
    layer = write_layer(rootfs, blobs, workdir / "layer.tar", clamp_mtime=0)
    config = with_written_layers(image.config, [layer], created_by="test", epoch=0)
    return config, layer, rootfs


def normalized(rootfs: Rootfs) -> set[FileEntry]:
    return {entry.evolve(mtime=0) for entry in rootfs}


@pytest.mark.parametrize(
    ("target", "expected_names"),
    [
        ("docker-archive:{dir}/out.tar", ("demo:hardened",)),
        ("oci-archive:{dir}/out.oci.tar", ("demo:hardened",)),
        ("oci:{dir}/layout", ("demo:hardened",)),
        ("oci:{dir}/layout:v2", ("v2",)),
    ],
)
def test_round_trip_through_every_transport(
    tmp_path: Path, workdir: Path, blobs: BlobStore, target: str, expected_names: tuple[str, ...]
) -> None:
    config, layer, rootfs = squashed(tmp_path, workdir, blobs)
    out_ref = target.format(dir=tmp_path)
    hardened = ImageSet.single(Image(config, (reopened(layer, "hardened layer"),)))
    assert publish([parse_output(out_ref)], hardened, WriteContext(workdir / "out", tag_name="demo:hardened")) \
        == [out_ref]
    image = open_image(out_ref.removesuffix(":v2"), workdir)
    assert image.config.to_dict() == config.to_dict()
    assert image.config.user == "1000:1000" and image.config.entrypoint == ("/usr/bin/python3", "-m", "app")
    assert image.config.healthcheck is not None and image.config.labels and image.config.working_dir == "/app"
    assert len(image.config.history) == 4 and image.config.history[-1]["created_by"] == "test"
    assert image.config.diff_ids == (layer.diff_id,)
    assert image.repo_tags == expected_names
    again = merge_layers(image.layers, BlobStore(tmp_path / "other-blobs")).rootfs
    assert normalized(again) == normalized(rootfs)
    assert [str(e.path) for e in again] == [
        "app",
        "app/main.py",
        "usr",
        "usr/bin",
        "usr/bin/python",
        "usr/bin/python3",
        "usr/bin/python3.11",
        "var",
        "var/cache",
        "var/cache/apt",
    ]


def test_untagged_docker_archive_has_null_repo_tags(tmp_path: Path, workdir: Path, blobs: BlobStore) -> None:
    config, layer, _ = squashed(tmp_path, workdir, blobs)
    archive = write_docker_archive(config, [layer], tmp_path / "untagged.tar")
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    hex_id = layer.diff_id.partition(":")[2]
    assert manifest == [{"Config": names[0], "RepoTags": None, "Layers": [f"{hex_id}/layer.tar"]}]
    assert names == [names[0], hex_id, f"{hex_id}/layer.tar", "manifest.json"]
    tagged = write_docker_archive(config, [layer], tmp_path / "tagged.tar", ["demo"])
    assert open_image(f"docker-archive:{tagged}", workdir).repo_tags == ("demo:latest",)


def test_outputs_are_deterministic(tmp_path: Path, workdir: Path, blobs: BlobStore) -> None:
    config, layer, _ = squashed(tmp_path, workdir, blobs)
    docker = [write_docker_archive(config, [layer], tmp_path / f"d{i}.tar", ["x:1"]) for i in (1, 2)]
    assert docker[0].read_bytes() == docker[1].read_bytes()
    oci = [write_oci_archive(config, [layer], tmp_path / f"o{i}.tar", ref_name="1") for i in (1, 2)]
    assert oci[0].read_bytes() == oci[1].read_bytes()
    one = write_oci_layout(config, [layer], tmp_path / "l1")
    two = write_oci_layout(config, [layer], tmp_path / "l2", compress=True)
    assert (one / "index.json").read_bytes() == (two / "index.json").read_bytes()
    index = json.loads((one / "index.json").read_text())
    assert index["manifests"][0]["platform"] == {"architecture": "amd64", "os": "linux"}


def test_uncompressed_oci_layout(tmp_path: Path, workdir: Path, blobs: BlobStore) -> None:
    config, layer, _ = squashed(tmp_path, workdir, blobs)
    layout = write_oci_layout(config, [layer], tmp_path / "plain", compress=False)
    manifest_digest = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
    manifest = json.loads((layout / "blobs/sha256" / manifest_digest.partition(":")[2]).read_text())
    assert manifest["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar"
    assert manifest["layers"][0]["digest"] == layer.diff_id
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"


def test_config_must_match_the_layers(tmp_path: Path, workdir: Path, blobs: BlobStore) -> None:
    config, layer, _ = squashed(tmp_path, workdir, blobs)
    stale = config.with_rootfs(["sha256:" + "0" * 64], {"created_by": "stale"})
    for write in (write_docker_archive, write_oci_archive, write_oci_layout):
        with pytest.raises(InternalError, match="diff_ids"):
            write(stale, [layer], tmp_path / "never")
    assert not (tmp_path / "never").exists()


class _Exploding:
    """A layer whose stream fails after some bytes (a disk error, Ctrl-C)."""

    def __init__(self, layer: WrittenLayer, error: BaseException) -> None:
        self.layer = layer
        self.error = error

    @property
    def diff_id(self) -> str:
        return self.layer.diff_id

    def open(self) -> IO[bytes]:
        data = self.layer.path.read_bytes()[:1024]
        error = self.error

        class Stream(io.BytesIO):
            def read(self, size: int | None = -1) -> bytes:
                chunk = super().read(size)
                if not chunk:
                    raise error
                return chunk

        return Stream(data)


@pytest.mark.parametrize("error", [OSError("disk on fire"), KeyboardInterrupt()])
@pytest.mark.parametrize("kind", ["docker-archive", "oci-archive", "oci"])
def test_failed_writes_leave_no_partial_output(
    tmp_path: Path, workdir: Path, blobs: BlobStore, kind: str, error: BaseException
) -> None:
    config, layer, _ = squashed(tmp_path, workdir, blobs)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    dest = out_dir / "image"
    writers: dict[str, Callable[[ImageConfig, Sequence[LayerBlob], Path], Path]] = {
        "docker-archive": write_docker_archive,
        "oci-archive": write_oci_archive,
        "oci": write_oci_layout,
    }
    write = writers[kind]
    write(config, [layer], dest)  # a previous good output
    before = sorted(p.relative_to(out_dir) for p in out_dir.rglob("*"))
    snapshot = {p: p.read_bytes() for p in out_dir.rglob("*") if p.is_file()}
    with pytest.raises(type(error)):
        write(config, [_Exploding(layer, error)], dest)
    assert sorted(p.relative_to(out_dir) for p in out_dir.rglob("*")) == before
    assert {p: p.read_bytes() for p in out_dir.rglob("*") if p.is_file()} == snapshot


def test_failure_inside_the_layout_writer_leaves_nothing(
    tmp_path: Path, workdir: Path, blobs: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, layer, _ = squashed(tmp_path, workdir, blobs)

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(oci_layout_sink, "canonical_json", boom)
    with pytest.raises(KeyboardInterrupt):
        write_oci_layout(config, [layer], tmp_path / "layout")
    with pytest.raises(KeyboardInterrupt):
        write_oci_archive(config, [layer], tmp_path / "archive.tar")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blobs", "in.tar", "work"]


def test_an_unrelated_directory_is_never_replaced(tmp_path: Path, workdir: Path, blobs: BlobStore) -> None:
    config, layer, _ = squashed(tmp_path, workdir, blobs)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(UsageError, match="not an OCI image layout"):
        write_oci_layout(config, [layer], precious)
    assert (precious / "thesis.tex").read_text() == "years of work"
    with pytest.raises(UsageError, match="is a directory"):
        write_docker_archive(config, [layer], precious)


def test_an_output_needs_a_transport_prefix() -> None:
    """A bare name as --output would silently become an engine tag: refused (the engine is --tag's, or
    docker-daemon:NAME:TAG)."""
    with pytest.raises(UsageError, match="--tag"):
        parse_output("demo:latest")
    assert parse_output("docker-daemon:demo:latest").transport == "daemon"
