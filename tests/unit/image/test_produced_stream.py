"""``produced``: what a writer thread writes, as chunks while it writes them."""

from __future__ import annotations

import threading
from typing import IO

import pytest

from harden.image._streams import CHUNK, produced


def test_every_byte_arrives_in_order_in_bounded_chunks() -> None:
    data = bytes(range(256)) * (3 * CHUNK // 256 + 7)

    def fill(out: IO[bytes]) -> None:
        for start in range(0, len(data), 1000):
            out.write(data[start : start + 1000])

    chunks = list(produced(fill))
    assert b"".join(chunks) == data
    assert max(len(c) for c in chunks) < CHUNK + 1000


def test_an_error_in_the_writer_reaches_the_reader_after_what_was_written() -> None:
    def fill(out: IO[bytes]) -> None:
        out.write(b"x" * (CHUNK + 1))
        raise OSError("layer unreadable")

    received = []
    with pytest.raises(OSError, match="layer unreadable"):
        for chunk in produced(fill):
            received.append(chunk)
    assert sum(map(len, received)) >= CHUNK


def test_a_reader_that_stops_early_stops_the_writer() -> None:
    writes = []
    finished = threading.Event()

    def fill(out: IO[bytes]) -> None:
        try:
            for _ in range(1000):
                out.write(b"y" * CHUNK)
                writes.append(1)
        finally:
            finished.set()

    stream = produced(fill, depth=2)
    next(stream)
    stream.close()
    assert finished.wait(10)
    assert len(writes) < 10  # it stopped at its next write, not after writing everything
