"""Blobs stream: pushing and pulling a 24 MiB blob keeps Python's peak allocation to a few chunks."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from registry_images import incompressible
from registry_server import RegistryServer

from harden.image.registry import RegistryClient, fetch_blob, push_blob
from harden.image.registry.digests import digest_file

pytestmark = pytest.mark.registry
Connect = Callable[..., RegistryClient]
BLOB_BYTES = 24 << 20
PEAK_LIMIT = 6 << 20  # a few 1 MiB chunks and the HTTP client's buffers; a 24 MiB blob in memory would exceed it


@contextmanager
def peak_allocation(record: list[int]) -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        record.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


@pytest.fixture(scope="module")
def big_blob(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "blob"
    with path.open("wb") as out:
        for n in range(BLOB_BYTES >> 20):
            out.write(incompressible(f"big-{n}", 1 << 20))
    return path


@pytest.mark.parametrize("chunk_size", [None, 8 << 20], ids=["monolithic", "chunked"])
def test_push_and_pull_stream(
    plain_registry: RegistryServer, connect: Connect, big_blob: Path, tmp_path: Path, chunk_size: int | None
) -> None:
    digest, size = digest_file(big_blob)
    client = connect(plain_registry)
    client.base_url  # noqa: B018 - probe before measuring
    repository = f"stream/{'chunked' if chunk_size else 'monolithic'}"
    peaks: list[int] = []
    with peak_allocation(peaks):
        pushed = push_blob(client, repository, big_blob, digest=digest, size=size, chunk_size=chunk_size)
    assert pushed.action == "uploaded"
    out = tmp_path / "pulled"
    with peak_allocation(peaks):
        assert fetch_blob(client, repository, digest, out) == BLOB_BYTES
    assert digest_file(out) == (digest, size)
    assert max(peaks) < PEAK_LIMIT, f"peak Python allocation {peaks} bytes"
