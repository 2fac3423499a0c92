"""harden.image.space: sizes, how the image size limit is resolved, counting while layers stream (merge and the
outer archive), and the one-line disk-full error."""

from __future__ import annotations

import errno
import gzip
import io
import os
import tarfile
from collections import namedtuple
from pathlib import Path

import pytest

from harden.errors import ImageTooLarge, NoSpace, UsageError
from harden.image._streams import MeteredReader
from harden.image.blobs import BlobStore
from harden.image.merge import merge_layers
from harden.image.model import Layer
from harden.image.space import (
    DEFAULT_CAP,
    ImageBudget,
    SizeLimit,
    limit_for,
    limited_chunks,
    no_space_error,
    parse_size,
    requested_limit,
    short_digest,
)
from harden.image.transports._archive import TarArchive
from imagefactory import big_file, file, gzip_bytes, make_layer_tar, memory_layers, sha256_digest

MIB = 1 << 20
GIB = 1 << 30


# -- sizes ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, size", [
    ("1048576", MIB), ("500M", 500 * MIB), ("20G", 20 * GIB), ("20g", 20 * GIB), ("64k", 64 << 10),
    ("1.5G", 3 * GIB // 2), ("10MiB", 10 * MIB), ("10MB", 10 * MIB), (" 2T ", 2 << 40), ("7b", 7), ("1 G", GIB),
])
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["12Q", "-5", "0", "0M", "", " ", "1.5.3", "G", "5 GB of it", "1e9", "0.0001k"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(text)


# -- resolving the limit --------------------------------------------------------------------------------------
def test_requested_limit_explicit_wins_over_the_environment() -> None:
    assert requested_limit(5 * MIB, {"HARDEN_MAX_IMAGE_BYTES": "1K"}) == SizeLimit(5 * MIB, "set explicitly")


def test_requested_limit_from_the_environment() -> None:
    assert requested_limit(None, {"HARDEN_MAX_IMAGE_BYTES": "2G"}) == SizeLimit(2 * GIB, "from HARDEN_MAX_IMAGE_BYTES")
    assert requested_limit(None, {"HARDEN_MAX_IMAGE_BYTES": " "}) is None
    assert requested_limit(None, {}) is None


@pytest.mark.parametrize("environ, explicit", [({"HARDEN_MAX_IMAGE_BYTES": "huge"}, None), ({}, 0), ({}, -1)])
def test_requested_limit_refuses_bad_values(environ: dict[str, str], explicit: int | None) -> None:
    with pytest.raises(UsageError):
        requested_limit(explicit, environ)


Usage = namedtuple("Usage", "total used free")


@pytest.mark.parametrize("free, expected, cap", [
    (100 * GIB, DEFAULT_CAP, True),  # plenty of room: the cap
    (20 * GIB, 19 * GIB, False),  # the margin is 1 GiB at most
    (500 * MIB, 450 * MIB, False),  # a tenth of a small disk
    (0, 0, False),
])
def test_default_limit_from_free_space(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, free: int, expected: int,
                                       cap: bool) -> None:
    monkeypatch.setattr("shutil.disk_usage", lambda path: Usage(free * 2, free, free))
    limit = limit_for(None, tmp_path / "not" / "created" / "yet")
    assert limit.max_bytes == expected
    assert limit.from_free_space is not cap
    assert (limit.origin == "the default cap") is cap


def test_a_requested_limit_is_kept(tmp_path: Path) -> None:
    asked = SizeLimit(123, "set explicitly")
    assert limit_for(asked, tmp_path) is asked


# -- counting -------------------------------------------------------------------------------------------------
def test_meter_message_names_layer_sizes_limit_and_remedy() -> None:
    meter = ImageBudget(SizeLimit(100, "set explicitly")).layer(2, "sha256:" + "ab" * 32, 7)
    meter.charge(60)
    with pytest.raises(ImageTooLarge) as caught:
        meter.charge(41)
    assert caught.value.one_line() == (
        "layer 2 (sha256:abababababab) expanded to 101 B (101 bytes) so far from 7 B compressed: over the 100 B "
        "limit on an image's uncompressed size (set explicitly); raise it with --max-image-size SIZE or "
        "HARDEN_MAX_IMAGE_BYTES")
    assert caught.value.exit_code == 3


def test_budget_is_shared_by_the_layers_and_entries_are_checked_against_what_is_left() -> None:
    budget = ImageBudget(SizeLimit(100, "set explicitly"))
    budget.layer(1, "sha256:" + "1" * 64, None).charge(70)
    second = budget.layer(0, "sha256:" + "0" * 64, None)
    second.check_entry("fits", 30)
    with pytest.raises(ImageTooLarge, match=r"layer 0 .* \(after 70 B from the layers read before it\), and its "
                                            r"entry 'big' declares 31 B"):
        second.check_entry("big", 31)


def test_no_limit_counts_but_never_stops() -> None:
    meter = ImageBudget(None).layer(0, "sha256:" + "0" * 64, None)
    meter.charge(1 << 50)
    meter.check_entry("x", 1 << 60)
    assert meter.expanded == 1 << 50


def test_metered_reader_stops_before_handing_on_the_bytes_that_cross() -> None:
    charged: list[int] = []

    def charge(count: int) -> None:
        charged.append(count)
        if sum(charged) > 10:
            raise ImageTooLarge("over")

    reader = MeteredReader(io.BytesIO(b"x" * 100), charge)
    assert reader.read(6) == b"x" * 6
    with pytest.raises(ImageTooLarge):
        reader.read(6)
    reader = MeteredReader(io.BytesIO(b"x" * 100), charge)
    with pytest.raises(ImageTooLarge):
        reader.read()  # read-all goes in chunks, each charged


def test_limited_chunks() -> None:
    limit = SizeLimit(10, "set explicitly")
    assert list(limited_chunks([b"12345", b"12345"], "it", limit)) == [b"12345", b"12345"]
    handed: list[bytes] = []
    with pytest.raises(ImageTooLarge, match="it expanded to 11 B"):
        handed.extend(limited_chunks([b"12345", b"12345", b"1"], "it", limit))
    assert handed == [b"12345", b"12345"]


def test_short_digest() -> None:
    assert short_digest("sha256:" + "0123456789abcdef" * 4) == "sha256:0123456789ab"


# -- the merge ------------------------------------------------------------------------------------------------
def layers_of(*sizes: int) -> list[bytes]:
    return [make_layer_tar([big_file(f"f{i}.bin", size, fill=bytes([i + 1]))]) for i, size in enumerate(sizes)]


def test_merge_stops_at_the_limit_and_leaves_no_partial_blob(blobs: BlobStore) -> None:
    layers = layers_of(3 * MIB, 3 * MIB)
    total = sum(map(len, layers))
    merge_layers(memory_layers(layers), blobs, limit=SizeLimit(total, "set explicitly"))  # inclusive
    fresh = BlobStore(blobs.root.parent / "fresh")
    with pytest.raises(ImageTooLarge, match="layer 0"):
        merge_layers(memory_layers(layers), fresh, limit=SizeLimit(total - 1, "set explicitly"))
    assert [p.name for p in fresh.root.rglob("*") if p.name.startswith(".incoming")] == []


def test_merge_counts_decompressed_bytes(blobs: BlobStore) -> None:
    """A gzip layer counts what it expands to, not its compressed size."""
    raw = make_layer_tar([big_file("zeros.bin", 4 * MIB, fill=b"\0")])
    packed = gzip_bytes(raw)
    layer = Layer(diff_id=sha256_digest(raw), open=lambda: gzip.GzipFile(fileobj=io.BytesIO(packed)),
                  size=len(packed))
    with pytest.raises(ImageTooLarge) as caught:
        merge_layers([layer], blobs, limit=SizeLimit(len(packed) * 10, "set explicitly"))
    assert f"from {len(packed) / 1024:.1f} KiB compressed" in caught.value.message


def test_an_entry_too_big_for_what_is_left_is_refused_before_it_is_read(blobs: BlobStore) -> None:
    layers = [make_layer_tar([file("small", b"s" * 100), big_file("big.bin", 8 * MIB)])]
    read: list[int] = []
    data = layers[0]

    class Counting(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            chunk = super().read(size)
            read.append(len(chunk))
            return chunk

    layer = Layer(diff_id=sha256_digest(data), open=lambda: Counting(data))
    with pytest.raises(ImageTooLarge, match=r"its entry 'big\.bin' declares 8\.0 MiB"):
        merge_layers([layer], blobs, limit=SizeLimit(4 * MIB, "set explicitly"))
    assert sum(read) < 64 << 10, "nothing of the big entry was read"


# -- the compressed outer archive -----------------------------------------------------------------------------
def test_a_compressed_archive_stops_decompressing_at_the_limit(tmp_path: Path) -> None:
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w") as tar:
        info = tarfile.TarInfo("big")
        info.size = 4 * MIB
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(gzip_bytes(inner.getvalue()))
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(ImageTooLarge, match=r"^docker-archive x expanded to 2\.0 MiB .* from [\d.]+ KiB compressed"):
        TarArchive.open(archive, work, "docker-archive x", limit=SizeLimit(MIB, "set explicitly"))
    assert list(work.iterdir()) == [], "the partial copy is removed"
    assert TarArchive.open(archive, work, "docker-archive x", limit=SizeLimit(5 * MIB, "set explicitly")).exists("big")


# -- a full disk ----------------------------------------------------------------------------------------------
def test_no_space_error_names_the_filesystem_the_step_and_the_remedy(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    monkeypatch.setenv("HARDEN_WORKDIR", str(tmp_path / "work"))
    monkeypatch.setattr("shutil.disk_usage", lambda path: Usage(10 * GIB, 0, 3 * MIB))
    monkeypatch.setattr("os.path.ismount", lambda path: str(path) == str(tmp_path))
    error = no_space_error(OSError(errno.ENOSPC, "No space left on device"), "merge 3 layers")
    assert isinstance(error, NoSpace) and error.exit_code == 3
    assert error.one_line() == (
        f"no space left on {tmp_path} while writing under {tmp_path / 'work'} (step 'merge 3 layers'): 3.0 MiB free; "
        "set HARDEN_WORKDIR to a larger disk or lower --max-image-size")


def test_no_space_error_with_a_file_name_and_a_quota(tmp_path: Path) -> None:
    target = tmp_path / "out" / "x.tar"
    error = no_space_error(OSError(errno.EDQUOT, os.strerror(errno.EDQUOT), str(target)))
    assert error.one_line().startswith("disk quota exceeded on /")
    assert f"while writing {target}: " in error.one_line()
