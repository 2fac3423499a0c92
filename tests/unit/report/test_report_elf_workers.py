"""The ELF table is the same whether the inspections run here or in worker processes."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_support import build_image

from harden.image.blobs import BlobStore
from harden.report import analysis
from harden.report.analysis import ElfCache, scan_elf
from imagefactory import file

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "elf"


def test_workers_give_the_same_rows_and_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elves = sorted(p for p in FIXTURES.iterdir() if p.is_file() and p.suffix != ".py")
    assert len(elves) >= 8
    entries = [file(f"usr/lib/copy{i}/{p.name}", p.read_bytes(), mode=0o755) for i in range(3) for p in elves]
    entries.append(file("usr/lib/truncated.so", elves[0].read_bytes()[:80]))
    entries.append(file("usr/bin/script", b"#!/bin/sh\n", mode=0o755))
    blobs = BlobStore(tmp_path / "blobs")
    _, rootfs = build_image([entries], blobs)

    serial_cache: ElfCache = {}
    serial = scan_elf(rootfs, blobs, serial_cache, jobs=1)
    monkeypatch.setattr(analysis, "PARALLEL_MIN", 1)
    monkeypatch.setattr(analysis, "_CHUNK", 3)
    parallel_cache: ElfCache = {}
    parallel = scan_elf(rootfs, blobs, parallel_cache, jobs=2)
    assert parallel == serial and parallel_cache == serial_cache
    assert any(row.error for row in serial) and len(serial) > len(elves)
    assert len(serial_cache) == len(elves) + 1  # one inspection per content, copies shared (script too small)


def test_a_scan_ahead_fills_the_same_cache_and_a_failed_one_leaves_it_empty(tmp_path: Path) -> None:
    elves = sorted(p for p in FIXTURES.iterdir() if p.is_file() and p.suffix != ".py")
    entries = [file(f"usr/lib/copy{i}/{p.name}", p.read_bytes(), mode=0o755) for i in range(2) for p in elves]
    blobs = BlobStore(tmp_path / "blobs")
    _, rootfs = build_image([entries], blobs)
    here: ElfCache = {}
    scan_elf(rootfs, blobs, here, jobs=1)
    assert analysis.ElfScanAhead(rootfs, blobs, 2).cache() == here and len(here) == len(elves)
    assert analysis.ElfScanAhead(None, blobs, 2).cache() == {}  # type: ignore[arg-type]  # it raises inside
