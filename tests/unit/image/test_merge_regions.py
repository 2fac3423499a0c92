"""Merging layers that lie uncompressed in an archive on disk: seeked through, contents kept by reference.

The result must be exactly what streaming the same layers gives (the path every compressed layer takes),
nothing may be copied into the blob store, and the diff_id is still checked.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harden.errors import BadArchive
from harden.image.blobs import BlobStore
from harden.image.merge import merge_layers
from harden.image.model import Rootfs
from harden.image.transports import open_image
from harden.report.efficiency import layer_efficiency
from imagefactory import (
    TarEntry,
    big_file,
    directory,
    file,
    hardlink,
    make_layer_tar,
    memory_layers,
    opaque,
    symlink,
    whiteout,
    write_docker_archive,
)

LOWER = make_layer_tar([
    directory("etc"),
    file("etc/original", b"lower content"),
    hardlink("etc/linked", "etc/original"),
    file("etc/gone", b"deleted above"),
    directory("opt"),
    file("opt/old", b"hidden by the opaque dir"),
    big_file("opt/big.bin", 3 << 20),
])
UPPER = make_layer_tar([
    directory("etc"),
    file("etc/original", b"upper content"),
    whiteout("etc/gone"),
    opaque("opt"),
    file("opt/new", b"new"),
    symlink("opt/link", "new"),
])


def contents(rootfs: Rootfs, blobs: BlobStore) -> dict[str, tuple[object, ...]]:
    return {
        str(e.path): (e.type, e.mode, e.size, e.digest, e.linkname, blobs.read(e.digest) if e.digest else None)
        for e in rootfs
    }


def test_region_merge_equals_streamed_merge_and_copies_nothing(tmp_path: Path, workdir: Path) -> None:
    archive = write_docker_archive(tmp_path / "img.tar", [LOWER, UPPER], layout="podman")
    image = open_image(f"docker-archive:{archive}", workdir)
    assert all(layer.region is not None for layer in image.layers)
    by_reference = BlobStore(tmp_path / "referenced")
    streamed = BlobStore(tmp_path / "streamed")
    merged = merge_layers(image.layers, by_reference).rootfs
    expected = merge_layers(memory_layers([LOWER, UPPER]), streamed).rootfs
    assert contents(merged, by_reference) == contents(expected, streamed)
    # the hardlink's file is hidden above, so its content came from a second pass over the lower layer
    assert by_reference.read(merged.entries[PurePosixPath("etc/linked")].digest or "") == b"lower content"
    assert [p for p in by_reference.root.rglob("*") if p.is_file()] == []
    assert layer_efficiency(image.layers) == layer_efficiency(memory_layers([LOWER, UPPER]))


def test_compressed_layers_are_still_copied(tmp_path: Path, workdir: Path, blobs: BlobStore) -> None:
    archive = write_docker_archive(tmp_path / "img.tar", [LOWER, UPPER], layout="blobs", compress=True)
    image = open_image(f"docker-archive:{archive}", workdir)
    assert all(layer.region is None for layer in image.layers)
    merged = merge_layers(image.layers, blobs).rootfs
    assert blobs.read(merged.entries[PurePosixPath("opt/new")].digest or "") == b"new"
    assert any(p.is_file() for p in blobs.root.rglob("*"))


def test_a_changed_byte_inside_a_file_fails_the_diff_id_check(tmp_path: Path, workdir: Path,
                                                               blobs: BlobStore) -> None:
    archive = write_docker_archive(tmp_path / "img.tar", [LOWER, UPPER], layout="podman")
    data = bytearray(archive.read_bytes())
    at = data.index(b"upper content")
    data[at] = ord("U")
    archive.write_bytes(bytes(data))
    image = open_image(f"docker-archive:{archive}", workdir)
    with pytest.raises(BadArchive) as caught:
        merge_layers(image.layers, blobs)
    assert "layer 1" in caught.value.message and "diff_id" in caught.value.message


def test_a_layer_that_is_not_a_tar_is_a_bad_archive(tmp_path: Path, workdir: Path, blobs: BlobStore) -> None:
    archive = write_docker_archive(tmp_path / "img.tar", [b"not a tar at all" * 64], layout="podman")
    image = open_image(f"docker-archive:{archive}", workdir)
    with pytest.raises(BadArchive, match="not a readable tar"):
        merge_layers(image.layers, blobs)


_names = st.sampled_from(["a", "b", "a/x", "a/y", "b/z"])
_members = st.one_of(
    st.builds(lambda n, d: ("file", n, d), _names, st.binary(max_size=700)),
    st.builds(lambda n: ("dir", n, b""), st.sampled_from(["a", "b"])),
    st.builds(lambda n, t: ("link", n, t.encode()), _names, _names),
    st.builds(lambda n, t: ("symlink", n, t.encode()), _names, _names),
    st.builds(lambda n: ("whiteout", n, b""), _names),
    st.builds(lambda n: ("opaque", n, b""), st.sampled_from(["a", "b"])),
)


def _tar(members: list[tuple[str, str, bytes]]) -> bytes:
    entries: list[TarEntry] = []
    for kind, name, data in members:
        if kind == "file":
            entries.append(file(name, data))
        elif kind == "dir":
            entries.append(directory(name))
        elif kind == "link":
            entries.append(hardlink(name, data.decode()))
        elif kind == "symlink":
            entries.append(symlink(name, data.decode()))
        elif kind == "whiteout":
            entries.append(whiteout(name))
        else:
            entries.append(opaque(name))
    return make_layer_tar(entries)


def _outcome(layers: object, blobs: BlobStore) -> object:
    try:
        result = merge_layers(layers, blobs, sanitize=True)  # type: ignore[arg-type]
    except BadArchive as exc:
        return ("bad", exc.message)
    return contents(result.rootfs, blobs), result.dropped


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stack=st.lists(st.lists(_members, max_size=8), min_size=1, max_size=3))
def test_random_stacks_merge_the_same_either_way(stack: list[list[tuple[str, str, bytes]]], tmp_path: Path) -> None:
    tars = [_tar(members) for members in stack]
    case = tmp_path / f"case-{abs(hash(tuple(tars)))}"
    case.mkdir()
    archive = write_docker_archive(case / "img.tar", tars, layout="podman")
    image = open_image(f"docker-archive:{archive}", case / "work")
    assert _outcome(image.layers, BlobStore(case / "a")) == _outcome(memory_layers(tars), BlobStore(case / "b"))


def test_the_fixture_hides_a_hardlink_target() -> None:
    """The fixture layers really contain what the tests above rely on (a hidden hardlink target)."""
    with tarfile.open(fileobj=io.BytesIO(LOWER)) as tar:
        names = tar.getnames()
    assert names.index("etc/original") < names.index("etc/linked")


def test_the_merge_hands_its_listings_to_the_efficiency_figure(tmp_path: Path, workdir: Path,
                                                               blobs: BlobStore) -> None:
    """The headers the merge read come back with its result (no process-wide cache) and give the same figure as
    reading the tars again."""
    archive = write_docker_archive(tmp_path / "img.tar", [LOWER, UPPER], layout="podman")
    image = open_image(f"docker-archive:{archive}", workdir)
    expected = layer_efficiency(memory_layers([LOWER, UPPER]))
    assert layer_efficiency(image.layers) == expected  # read from the tars
    merged = merge_layers(image.layers, blobs)
    assert set(merged.listings) == {layer.diff_id for layer in image.layers}
    with tarfile.open(fileobj=io.BytesIO(LOWER)) as tar:
        assert [m.name for m in merged.listings[image.layers[0].diff_id]] == tar.getnames()
    assert layer_efficiency(image.layers, merged.listings) == expected  # from the listings
    fake = {diff: () for diff in merged.listings}
    assert layer_efficiency(image.layers, fake) != expected  # the listings really are what it reads


def test_a_loaded_image_keeps_the_efficiency_figure_and_not_the_headers(tmp_path: Path, workdir: Path,
                                                                        blobs: BlobStore) -> None:
    """The run keeps the figure (computed from the headers as the merge read them), not one header object per
    member of every layer through stages, verification and reports; the figure is the one reading the tars
    again gives."""
    from harden.image.transports import parse_reference
    from harden.job.load import Loaded, merge_image
    from harden.progress import SilentProgress

    archive = write_docker_archive(tmp_path / "img.tar", [LOWER, UPPER], layout="podman")
    image = open_image(f"docker-archive:{archive}", workdir)
    loaded = merge_image(parse_reference(f"docker-archive:{archive}"), image, blobs, SilentProgress())
    assert loaded.efficiency == layer_efficiency(memory_layers([LOWER, UPPER]))
    assert loaded.efficiency is not None and loaded.efficiency.layers  # a figure of these two layers
    assert "listings" not in Loaded.__slots__


def test_a_merge_asked_not_to_list_keeps_no_headers_and_merges_the_same(tmp_path: Path, workdir: Path) -> None:
    """``harden verify`` shows no efficiency figure: its merges list no headers and the root filesystem is the
    one a listing merge makes."""
    from harden.image.transports import parse_reference
    from harden.job.load import merge_image
    from harden.progress import SilentProgress

    archive = write_docker_archive(tmp_path / "img.tar", [LOWER, UPPER], layout="podman")
    image = open_image(f"docker-archive:{archive}", workdir)
    unlisted = merge_layers(image.layers, BlobStore(tmp_path / "a"), list_members=False)
    listed = merge_layers(image.layers, BlobStore(tmp_path / "b"))
    assert unlisted.listings == {} and listed.listings
    assert list(unlisted.rootfs) == list(listed.rootfs)
    loaded = merge_image(parse_reference(f"docker-archive:{archive}"), image, BlobStore(tmp_path / "c"),
                         SilentProgress(), measure_efficiency=False)
    assert loaded.efficiency is None
