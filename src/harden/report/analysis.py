"""Analyse one image state: sizes by category, largest files, installed packages, ELF hardening, findings.

ELF files are inspected once per content digest (``ElfCache``), so the hardened side re-reads only what a
stage rewrote (stripped binaries), not every unchanged library. Many inspections are spread over worker
processes (pyelftools is pure Python); the rows do not depend on how they were computed.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import PurePosixPath

from harden.elf.hardening import ElfHardening, inspect_elf, is_elf
from harden.image.blobs import BlobStore
from harden.image.files import image_path
from harden.image.model import EntryType, FileEntry, ImageConfig, Rootfs
from harden.ospkg import detect_all
from harden.report.categories import size_by_category
from harden.report.findings import find_issues
from harden.report.inventory import inventory, os_info
from harden.report.model import SideAnalysis, SizeCount
from harden.workers import map_chunks

log = logging.getLogger(__name__)

ElfCache = dict[tuple[str, bool], ElfHardening | None]
"""(content digest, named like a .so) → the inspected row (path left empty), or None when not ELF."""

TOP_FILES = 20
_MIN_ELF_SIZE = 52  # the smallest ELF header (32-bit)
PARALLEL_MIN = 128
"""Fewer inspections than this run in this process: starting workers would cost more than it saves."""
_CHUNK = 16


def _elf_candidate(entry: FileEntry) -> bool:
    if entry.type is not EntryType.FILE or entry.digest is None or entry.size < _MIN_ELF_SIZE:
        return False
    return bool(entry.mode & 0o111) or ".so" in entry.path.name


def scan_elf(rootfs: Rootfs, blobs: BlobStore, cache: ElfCache | None = None, *,
             jobs: int | None = None) -> list[ElfHardening]:
    """Hardening rows for every executable and shared object (and unreadable ELF files), in path order.

    ``jobs`` worker processes (default: one per CPU) share the inspections when there are many."""
    cache = {} if cache is None else cache
    found: list[tuple[FileEntry, tuple[str, bool]]] = []
    todo: dict[tuple[str, bool], str] = {}  # key → the name of its first file (path order), as inspected
    for entry in rootfs:
        if not _elf_candidate(entry) or entry.digest is None or entry.digest not in blobs:
            continue
        key = (entry.digest, ".so" in entry.path.name)
        found.append((entry, key))
        if key not in cache and key not in todo:
            todo[key] = entry.path.name
    cache.update(_inspect_all(blobs, list(todo.items()), jobs or os.cpu_count() or 1))
    rows: list[ElfHardening] = []
    for entry, key in found:
        row = cache[key]
        if row is not None and (row.is_linked_program or row.error is not None):
            rows.append(replace(row, path=image_path(entry.path)))
    return rows


class ElfScanAhead:
    """``scan_elf`` of one rootfs on a background thread (its inspections run in worker processes), started while
    the stages plan on this one: the report's analysis of that rootfs then finds every file in its cache. A scan
    that failed leaves the cache empty, and the analysis inspects the files itself."""

    def __init__(self, rootfs: Rootfs, blobs: BlobStore, jobs: int) -> None:
        self._cache: ElfCache = {}
        self._thread = threading.Thread(target=self._scan, args=(rootfs, blobs, jobs), name="harden-elf-ahead",
                                        daemon=True)
        self._thread.start()

    def _scan(self, rootfs: Rootfs, blobs: BlobStore, jobs: int) -> None:
        cache: ElfCache = {}
        try:
            scan_elf(rootfs, blobs, cache, jobs=jobs)
        except Exception as exc:  # the analysis repeats the work on its own thread, where errors surface
            log.debug("scanning ELF files ahead failed: %s", exc)
            return
        self._cache = cache

    def wait(self) -> None:
        """Until the scan, and the worker pool it runs on, has ended."""
        self._thread.join()

    def cache(self) -> ElfCache:
        """What the scan found (waits for it)."""
        self.wait()
        return self._cache


_Task = tuple[tuple[str, bool], str]
_Result = tuple[tuple[str, bool], ElfHardening | None]


def _inspect_all(blobs: BlobStore, tasks: list[_Task], jobs: int) -> Iterable[_Result]:
    if jobs <= 1 or len(tasks) < PARALLEL_MIN:
        return [(key, _inspect_blob(blobs, key[0], name)) for key, name in tasks]
    needed = blobs.subset(key[0] for key, _ in tasks)  # what the workers read, pickled once per worker
    return map_chunks(jobs, _inspect_chunk, tasks, _CHUNK, needed)


def _inspect_blob(blobs: BlobStore, digest: str, name: str) -> ElfHardening | None:
    with blobs.open(digest) as stream:
        return inspect_elf(stream, name) if is_elf(stream) else None


def _inspect_chunk(blobs: BlobStore, tasks: Sequence[_Task]) -> list[_Result]:
    """In a worker process: inspect one chunk of blobs."""
    return [(key, _inspect_blob(blobs, key[0], name)) for key, name in tasks]


def largest_files(rootfs: Rootfs, top: int = TOP_FILES) -> tuple[tuple[str, int], ...]:
    files = sorted((e for e in rootfs.files()), key=lambda e: (-e.size, str(e.path)))
    return tuple((image_path(e.path), e.size) for e in files[:top])


def analyze_side(rootfs: Rootfs, config: ImageConfig, blobs: BlobStore, *, elf_cache: ElfCache | None = None,
                 reference: str | None = None) -> SideAnalysis:
    elf_rows = scan_elf(rootfs, blobs, elf_cache)
    debug = {PurePosixPath(r.path.lstrip("/")): r.debug_bytes for r in elf_rows if r.debug_bytes}
    files = sum(1 for e in rootfs.entries.values() if not e.is_dir)
    databases = detect_all(rootfs, blobs)
    return SideAnalysis(
        total=SizeCount(files, rootfs.content_bytes()),
        categories=size_by_category(rootfs, debug),
        largest_files=largest_files(rootfs),
        components=inventory(rootfs, blobs, databases),
        elf=tuple(elf_rows),
        findings=tuple(find_issues(rootfs, config, blobs, elf=elf_rows, reference=reference)),
        os=os_info(databases, rootfs, blobs),
    )
