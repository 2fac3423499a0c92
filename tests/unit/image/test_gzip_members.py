"""Layers compressed on every core: gzip members of a fixed size, the same bytes whatever the thread count."""

from __future__ import annotations

import gzip
import hashlib
import io
import random
import subprocess

from harden.image.transports._layers import GZIP_BLOCK, gzip_members


def _data() -> bytes:
    rng = random.Random(7)
    return bytes(rng.getrandbits(8) for _ in range(300_000)) * 8 + bytes(3 * GZIP_BLOCK + 123)


def test_the_blob_is_the_same_on_one_core_or_several() -> None:
    data = _data()
    blobs = set()
    for workers in (1, 2, 5):
        out = io.BytesIO()
        gzip_members(io.BytesIO(data), out, 6, workers=workers)
        blobs.add(hashlib.sha256(out.getvalue()).hexdigest())
    assert len(blobs) == 1


def test_independent_readers_get_the_layer_back() -> None:
    data = _data()
    out = io.BytesIO()
    gzip_members(io.BytesIO(data), out, 6, workers=2)
    blob = out.getvalue()
    assert blob.count(b"\x1f\x8b\x08\x00\x00\x00\x00\x00") >= len(data) // GZIP_BLOCK  # one member per block
    assert gzip.decompress(blob) == data
    unzipped = subprocess.run(["gzip", "-dc"], input=blob, capture_output=True, check=True).stdout
    assert unzipped == data


def test_an_empty_layer_is_an_empty_blob_that_reads_back_empty() -> None:
    out = io.BytesIO()
    gzip_members(io.BytesIO(b""), out, 6)
    assert out.getvalue()[:2] == b"\x1f\x8b"  # one member: an empty file is not gzip to every reader
    assert subprocess.run(["gzip", "-dc"], input=out.getvalue(), capture_output=True, check=True).stdout == b""
