"""Analyse one image state: sizes by category, largest files, installed packages, ELF hardening, findings.

ELF files are inspected once per content digest (``ElfCache``), so the hardened side re-reads only what a
stage rewrote (stripped binaries), not every unchanged library.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import PurePosixPath

from harden.elf.hardening import ElfHardening, inspect_elf, is_elf
from harden.image.blobs import BlobStore
from harden.image.model import EntryType, FileEntry, ImageConfig, Rootfs
from harden.pipeline import content_bytes
from harden.report.categories import size_by_category
from harden.report.findings import find_issues
from harden.report.imagefiles import image_path
from harden.report.inventory import inventory
from harden.report.model import SideAnalysis, SizeCount

ElfCache = dict[tuple[str, bool], ElfHardening | None]
"""(content digest, named like a .so) → the inspected row (path left empty), or None when not ELF."""

TOP_FILES = 20
_MIN_ELF_SIZE = 52  # the smallest ELF header (32-bit)


def _elf_candidate(entry: FileEntry) -> bool:
    if entry.type is not EntryType.FILE or entry.digest is None or entry.size < _MIN_ELF_SIZE:
        return False
    return bool(entry.mode & 0o111) or ".so" in entry.path.name


def scan_elf(rootfs: Rootfs, blobs: BlobStore, cache: ElfCache | None = None) -> list[ElfHardening]:
    """Hardening rows for every executable and shared object (and unreadable ELF files), in path order."""
    cache = {} if cache is None else cache
    rows: list[ElfHardening] = []
    for entry in rootfs:
        if not _elf_candidate(entry) or entry.digest is None or entry.digest not in blobs:
            continue
        key = (entry.digest, ".so" in entry.path.name)
        if key not in cache:
            with blobs.open(entry.digest) as stream:
                cache[key] = inspect_elf(stream, entry.path.name) if is_elf(stream) else None
        row = cache[key]
        if row is not None and (row.is_linked_program or row.error is not None):
            rows.append(replace(row, path=image_path(entry.path)))
    return rows


def largest_files(rootfs: Rootfs, top: int = TOP_FILES) -> tuple[tuple[str, int], ...]:
    files = sorted((e for e in rootfs.files()), key=lambda e: (-e.size, str(e.path)))
    return tuple((image_path(e.path), e.size) for e in files[:top])


def analyze_side(rootfs: Rootfs, config: ImageConfig, blobs: BlobStore, *, elf_cache: ElfCache | None = None,
                 reference: str | None = None) -> SideAnalysis:
    elf_rows = scan_elf(rootfs, blobs, elf_cache)
    debug = {PurePosixPath(r.path.lstrip("/")): r.debug_bytes for r in elf_rows if r.debug_bytes}
    files = sum(1 for e in rootfs.entries.values() if not e.is_dir)
    return SideAnalysis(
        total=SizeCount(files, content_bytes(rootfs)),
        categories=size_by_category(rootfs, debug),
        largest_files=largest_files(rootfs),
        components=inventory(rootfs, blobs),
        elf=tuple(elf_rows),
        findings=tuple(find_issues(rootfs, config, blobs, elf=elf_rows, reference=reference)),
    )
