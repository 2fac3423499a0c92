"""BlobStore: blobs stored as files, and blobs kept by reference to a byte range of a file on disk."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import pytest

from harden.errors import BadArchive
from harden.image.blobs import BlobStore, RangeReader

PAYLOAD = b"HEAD" + b"hello world" + b"x" * 70_000 + b"TAIL"
HELLO = (4, 11)
BIG = (15, 70_000)


def stored_files(blobs: BlobStore) -> list[Path]:
    return [p for p in blobs.root.rglob("*") if p.is_file()]


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    path = tmp_path / "archive.bin"
    path.write_bytes(PAYLOAD)
    return path


def test_ranges_are_hashed_where_they_lie_and_read_back(archive: Path, blobs: BlobStore) -> None:
    with blobs.regions(archive) as source:
        hello, size = source.put(*HELLO)
        big, big_size = source.put(*BIG)
    assert (hello, size) == (hashlib.sha256(b"hello world").hexdigest(), 11)
    assert big_size == 70_000 and big == hashlib.sha256(b"x" * 70_000).hexdigest()
    assert hello in blobs and big in blobs and "0" * 64 not in blobs
    assert blobs.size(hello) == 11 and blobs.size(big) == 70_000
    assert blobs.read(hello) == b"hello world" and blobs.read(big) == b"x" * 70_000
    with blobs.open(hello) as stream:
        assert stream.read(5) == b"hello"
        stream.seek(1)
        assert stream.read() == b"ello world"
    with blobs.open(big) as stream:
        assert len(stream.read(70_001)) == 70_000 and stream.read(1) == b""
    assert stored_files(blobs) == []  # nothing was copied


def test_path_copies_a_referenced_blob_into_the_store_once(archive: Path, blobs: BlobStore) -> None:
    with blobs.regions(archive) as source:
        big, _ = source.put(*BIG)
    path = blobs.path(big)
    assert path.read_bytes() == b"x" * 70_000 and path.parent.parent == blobs.root
    assert blobs.path(big) == path and stored_files(blobs) == [path]
    assert blobs.read(big) == b"x" * 70_000


def test_a_subset_reads_what_it_was_given_and_pickles_without_the_rest(archive: Path, blobs: BlobStore) -> None:
    with blobs.regions(archive) as source:
        hello, _ = source.put(*HELLO)
        big, _ = source.put(*BIG)
    stored, _ = blobs.put_bytes(b"stored as a file")
    part = pickle.loads(pickle.dumps(blobs.subset([hello, stored])))
    assert part.read(hello) == b"hello world" and part.read(stored) == b"stored as a file"
    assert big not in part and big in blobs
    assert len(pickle.dumps(part)) < len(pickle.dumps(blobs))


def test_a_file_put_as_bytes_and_by_reference_is_one_blob(archive: Path, blobs: BlobStore) -> None:
    digest, _ = blobs.put_bytes(b"hello world")
    with blobs.regions(archive) as source:
        assert source.put(*HELLO)[0] == digest
    assert blobs.path(digest).read_bytes() == b"hello world"
    assert len(stored_files(blobs)) == 1


def test_empty_ranges_are_blobs_too(archive: Path, blobs: BlobStore) -> None:
    with blobs.regions(archive) as source:
        digest, size = source.put(3, 0)
    assert size == 0 and blobs.read(digest) == b"" and blobs.path(digest).read_bytes() == b""


def test_a_range_past_the_end_of_the_file_is_a_bad_archive(archive: Path, blobs: BlobStore) -> None:
    with blobs.regions(archive) as source, pytest.raises(BadArchive, match="unexpected end"):
        source.put(len(PAYLOAD) - 3, 10)


def test_a_file_that_changed_after_it_was_read_is_refused(archive: Path, blobs: BlobStore) -> None:
    with blobs.regions(archive) as source:
        hello, _ = source.put(*HELLO)
        big, _ = source.put(*BIG)
    with archive.open("ab") as out:
        out.write(b"appended")
    for use in (blobs.open, blobs.read, blobs.path):
        with pytest.raises(BadArchive, match="changed while harden was reading it"):
            use(hello)
    archive.unlink()
    with pytest.raises(FileNotFoundError):
        blobs.read(big)


def test_range_reader_reads_seeks_and_stops_like_a_file(archive: Path) -> None:
    fd = os.open(archive, os.O_RDONLY)
    try:
        reader = RangeReader(fd, 4, 11, "test")
        assert reader.seekable() and reader.readable()
        assert reader.read(5) == b"hello" and reader.tell() == 5
        assert reader.seek(-5, os.SEEK_END) == 6 and reader.read() == b"world"
        assert reader.read(3) == b""
        assert reader.seek(2) == 2 and reader.readall() == b"llo world"
        reader.seek(100)
        assert reader.read(1) == b""
        with pytest.raises(OSError):
            reader.seek(-1)
        short = RangeReader(fd, len(PAYLOAD) - 2, 10, "short")
        with pytest.raises(BadArchive, match="shorter than its index"):
            short.readall()
    finally:
        os.close(fd)
