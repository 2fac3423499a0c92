"""The dynamic information of every file of some root filesystems, read with LIEF in worker processes into a
``DynamicCache``. A ``Linker`` over that cache reads nothing itself, so harden's own process does not import LIEF
(~49 MB resident for the rest of its life, which would stand beside the verification probes' peak)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from harden.elf.dynamic import DynamicCache, DynamicInfo, dynamic_of
from harden.image.blobs import BlobStore
from harden.image.model import Rootfs
from harden.workers import StartedChunks, start_chunks

_CHUNK = 512
"""Files per task: LIEF reads one in ~0.2 ms, so a task is worth its round trip."""

_Found = list[tuple[str, "DynamicInfo | str | None"]]


def read_ahead(cache: DynamicCache, rootfses: Iterable[Rootfs], blobs: BlobStore) -> None:
    """Fill ``cache`` with every content digest of ``rootfses`` it lacks, in one worker process (never this one).
    An error names the first path (in rootfs order) holding that content.

    One worker, not one per core: LIEF holds the whole file it parses in memory (the image's largest library,
    ~60 MB for pyarrow's), and reading takes about a second on the deps image, so a second worker would add its
    peak to the run's for little time saved."""
    start_read_ahead(cache, rootfses, blobs).wait()


class ReadingAhead:
    """A ``read_ahead`` under way: the worker reads while this process does other work; ``wait()`` fills the
    cache, ``cancel()`` stops the worker (one of the two must be called)."""

    def __init__(self, cache: DynamicCache, started: StartedChunks[tuple[str, DynamicInfo | str | None]]) -> None:
        self._cache = cache
        self._started = started

    def wait(self) -> None:
        self._cache.update(self._started.results())

    def cancel(self) -> None:
        self._started.cancel()


def start_read_ahead(cache: DynamicCache, rootfses: Iterable[Rootfs], blobs: BlobStore) -> ReadingAhead:
    """``read_ahead`` started: its worker reads while the caller goes on until ``wait()``."""
    todo: dict[str, str] = {}
    for rootfs in rootfses:
        for entry in rootfs:
            digest = entry.digest
            if (entry.has_content and digest is not None and digest not in cache and digest not in todo
                    and digest in blobs):
                todo[digest] = f"/{entry.path}"
    return ReadingAhead(cache, start_chunks(1, _read_chunk, list(todo.items()), _CHUNK, blobs.subset(todo)))


def _read_chunk(blobs: BlobStore, tasks: Sequence[tuple[str, str]]) -> _Found:
    """In a worker process: the dynamic information of one chunk of blobs."""
    found: _Found = []
    for digest, what in tasks:
        with blobs.open(digest) as stream:
            found.append((digest, dynamic_of(stream, what)))
    return found
