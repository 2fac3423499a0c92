"""The engine source writes the save stream on a second thread: same bytes, errors from either side raised."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator

import pytest

from harden.image.transports.daemon import write_while_receiving


def chunks(count: int, *, fail_at: int | None = None) -> Iterator[bytes]:
    for index in range(count):
        if index == fail_at:
            raise ConnectionError("engine went away")
        yield bytes([index % 256]) * (1000 + index)


def test_every_chunk_is_written_in_order() -> None:
    out = io.BytesIO()
    write_while_receiving(chunks(50), out)
    assert out.getvalue() == b"".join(chunks(50))


def test_a_failing_receiver_stops_the_writer() -> None:
    out = io.BytesIO()
    before = threading.active_count()
    with pytest.raises(ConnectionError, match="went away"):
        write_while_receiving(chunks(50, fail_at=20), out)
    assert out.getvalue() == b"".join(chunks(20)) and threading.active_count() == before


class FullDisk(io.BytesIO):
    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self.tell() > 5000:
            raise OSError(28, "No space left on device")
        return super().write(data)


def test_a_failing_writer_is_raised_and_the_receiver_does_not_hang() -> None:
    received: list[int] = []

    def counted() -> Iterator[bytes]:
        for index, chunk in enumerate(chunks(500)):
            received.append(index)
            yield chunk

    with pytest.raises(OSError, match="No space left"):
        write_while_receiving(counted(), FullDisk())
    assert len(received) < 500  # it stopped early instead of reading everything
