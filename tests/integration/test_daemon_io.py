"""The engine as source and sink: save → merge, and write → load (untagged) → tag → read back."""

from __future__ import annotations

import contextlib
import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harden.errors import ImageNotFound
from harden.image.blobs import BlobStore
from harden.image.merge import merge_layers
from harden.image.model import FileEntry, Rootfs
from harden.image.transports import open_image
from harden.image.transports.daemon import remove_image, tag_image
from harden.image.transports.docker_archive import write_docker_archive
from harden.image.writer import with_written_layers, write_layer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from imagefactory import (
    default_config,
    diff_id,
    directory,
    file,
    hardlink,
    load_archive,
    make_layer_tar,
    symlink,
    whiteout,
)
from imagefactory import write_docker_archive as factory_docker_archive

pytestmark = pytest.mark.engine

TEST_TAG = "localhost/harden-test/daemon-io:1"
LAYERS = [
    make_layer_tar(
        [
            directory("usr/bin"),
            file("usr/bin/tool", b"#!tool", mode=0o755),
            hardlink("usr/bin/tool2", "usr/bin/tool"),
            symlink("usr/bin/t", "tool"),
            file("usr/bin/suid", b"s", mode=0o4755),
            directory("home/app", uid=1000, gid=1000),
            file("etc/removed", b"gone"),
        ]
    ),
    make_layer_tar([whiteout("etc/removed"), file("app/main.py", b"print('hi')\n", uid=1000, gid=1000)]),
]


def normalized(rootfs: Rootfs) -> set[FileEntry]:
    return {entry.evolve(mtime=0, uname="", gname="") for entry in rootfs}


@pytest.fixture
def cleanup(docker_client: Any) -> Iterator[list[str]]:
    created: list[str] = []
    yield created
    for ref in reversed(created):
        with contextlib.suppress(Exception):
            docker_client.images.remove(ref, force=True)


def test_load_untagged_then_tag_then_read_back(
    docker_client: Any, tmp_path: Path, cleanup: list[str]
) -> None:
    config = default_config([diff_id(layer) for layer in LAYERS], User="1000", Entrypoint=["/usr/bin/tool"])
    source = factory_docker_archive(tmp_path / "src.tar", LAYERS, config, repo_tags=None)
    blobs = BlobStore(tmp_path / "blobs")
    original = merge_layers(open_image(f"docker-archive:{source}", tmp_path / "ws").layers, blobs).rootfs

    image_id = load_archive(source, docker_client)
    cleanup.append(image_id)
    assert docker_client.images.get(image_id).tags == []  # loading never tags

    tag_image(image_id, TEST_TAG, client=docker_client)
    cleanup.insert(0, TEST_TAG)
    image = open_image(TEST_TAG, tmp_path / "ws2", engine=docker_client)
    assert image.config.user == "1000" and image.config.entrypoint == ("/usr/bin/tool",)
    assert any(t.endswith("harden-test/daemon-io:1") for t in image.repo_tags)
    again = merge_layers(image.layers, BlobStore(tmp_path / "blobs2")).rootfs
    assert normalized(again) == normalized(original)
    assert "etc/removed" not in {str(e.path) for e in again}


def test_missing_image_is_image_not_found(docker_client: Any, tmp_path: Path) -> None:
    with pytest.raises(ImageNotFound) as caught:
        open_image("harden-test/does-not-exist:nope", tmp_path, engine=docker_client)
    assert caught.value.exit_code == 3
    remove_image("sha256:" + "0" * 64, client=docker_client)  # removing a missing image is not an error


def test_real_image_round_trip(
    docker_client: Any, python_base_image: str, tmp_path: Path, cleanup: list[str]
) -> None:
    """The base image: engine save → merge → squash → docker-archive → load → save → merge → same tree."""
    blobs = BlobStore(tmp_path / "blobs")
    image = open_image(python_base_image, tmp_path / "ws", engine=docker_client)
    result = merge_layers(image.layers, blobs)
    assert result.dropped == ()
    rootfs = result.rootfs
    assert any(e.setid for e in rootfs)
    layer = write_layer(rootfs, blobs, tmp_path / "layer.tar", clamp_mtime=0)
    config = with_written_layers(image.config, [layer], created_by="harden test", epoch=0)
    archive = write_docker_archive(config, [layer], tmp_path / "squashed.tar")
    image_id = load_archive(archive, docker_client)
    cleanup.append(image_id)
    loaded = open_image(image_id, tmp_path / "ws2", engine=docker_client)
    assert loaded.config.diff_ids == (layer.diff_id,)
    again = merge_layers(loaded.layers, BlobStore(tmp_path / "blobs2")).rootfs
    assert normalized(again) == normalized(rootfs)
    remove_image(image_id, client=docker_client)
    cleanup.clear()


def test_a_load_stream_that_fails_midway_leaves_no_image(docker_client: Any, tmp_path: Path) -> None:
    """The hardened image is streamed to the engine as it is made: when reading its layer fails halfway, the
    error is harden's and the engine keeps nothing."""
    from harden.errors import HardenError
    from harden.image._streams import produced
    from harden.image.transports._tarball import DeterministicTar
    from harden.image.transports.daemon import load_stream

    blobs = BlobStore(tmp_path / "blobs")
    big = make_layer_tar([file("data/blob", bytes(range(256)) * 40_000)])
    source = factory_docker_archive(tmp_path / "src.tar", [big], default_config([diff_id(big)]), repo_tags=None)
    image = open_image(f"docker-archive:{source}", tmp_path / "ws")
    rootfs = merge_layers(image.layers, blobs).rootfs
    layer = write_layer(rootfs, blobs, tmp_path / "layer.tar", clamp_mtime=0)
    config = with_written_layers(image.config, [layer], created_by="harden test", epoch=0)

    def fill(out: Any) -> None:
        with DeterministicTar(fileobj=out) as tar:
            tar.add_bytes("config.json", config.to_bytes())
            with layer.path.open("rb") as stream:
                out.write(stream.read(layer.size // 2))
            raise OSError("the layer became unreadable")

    with pytest.raises((OSError, HardenError)):
        load_stream(produced(fill), None, "a half-written image", client=docker_client)

    made = "sha256:" + hashlib.sha256(config.to_bytes()).hexdigest()
    assert made not in {listed.id for listed in docker_client.images.list(all=True)}


def _streamable(tmp_path: Path) -> tuple[BlobStore, Any, Any]:
    """A small image to harden-write: its blob store, merged rootfs and config."""
    blobs = BlobStore(tmp_path / "blobs")
    big = make_layer_tar([file("data/blob", bytes(range(256)) * 40_000), *LAYER_EXTRAS])
    source = factory_docker_archive(tmp_path / "src.tar", [big], default_config([diff_id(big)]), repo_tags=None)
    image = open_image(f"docker-archive:{source}", tmp_path / "ws")
    return blobs, merge_layers(image.layers, blobs).rootfs, image.config


LAYER_EXTRAS = [directory("usr/bin"), file("usr/bin/tool", b"#!tool", mode=0o755), symlink("usr/bin/t", "tool")]


def test_a_layer_sent_as_it_is_written_is_the_image_the_engine_loads(docker_client: Any, tmp_path: Path) -> None:
    """The layer goes into the engine's load in the pass that writes it (daemon_stream): the engine's image is
    the config written after it, its one layer that diff_id; ``load_image`` waits for it, ``forget_loaded``
    removes it."""
    from harden.image.model import Image
    from harden.image.transports import WriteContext, forget_loaded, load_into_engine, reopened, stream_into_engine
    from harden.image.writer import plan_layer, write_planned

    blobs, rootfs, config = _streamable(tmp_path)
    plan = plan_layer(rootfs, clamp_mtime=0)
    ctx = WriteContext(tmp_path)
    load = stream_into_engine("a streamed test image")
    with load.layer(plan.size(blobs)) as stream:
        layer = write_planned(plan, blobs, tmp_path / "layer.tar", copy_to=stream, size=plan.size(blobs))
    image = Image(with_written_layers(config, [layer], created_by="harden test", epoch=0),
                  (reopened(layer, "test layer"),))
    load.finish(image, ctx.streaming)
    try:
        image_id = load_into_engine(image, ctx)
        made = docker_client.images.get(image_id)
        assert made.attrs["RootFS"]["Layers"] == [layer.diff_id]
        assert image_id == "sha256:" + hashlib.sha256(image.config.to_bytes()).hexdigest()
    finally:
        forget_loaded(ctx)
    assert image_id not in {listed.id for listed in docker_client.images.list(all=True)}


def test_a_layer_cut_short_while_sent_leaves_no_image(docker_client: Any, tmp_path: Path) -> None:
    """An error halfway through the write (here: half the layer, then the run stops): ``abort`` ends the
    request body short, the engine refuses it, and no image appears."""
    from harden.image.transports import stream_into_engine
    from harden.image.writer import plan_layer, write_planned

    blobs, rootfs, _ = _streamable(tmp_path)
    plan = plan_layer(rootfs, clamp_mtime=0)
    layer = write_planned(plan, blobs, tmp_path / "whole.tar")
    before = {listed.id for listed in docker_client.images.list(all=True)}
    load = stream_into_engine("a cut test image")
    with pytest.raises(OSError, match="stopped"):
        try:
            with load.layer(layer.size) as stream:
                stream.write(layer.path.read_bytes()[: layer.size // 2])
                raise OSError("the run stopped")
        except BaseException:
            load.abort()
            raise
    assert load.error is not None, "the load of a cut archive did not fail"
    assert load.image_id is None
    assert {listed.id for listed in docker_client.images.list(all=True)} == before
