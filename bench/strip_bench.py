"""Measure the segment-preserving stripper on real shared libraries: bytes saved, files skipped, time.

    python bench/strip_bench.py [DIR ...] [--jobs N] [--top K]

DIR defaults to this interpreter's site-packages. Each ``*.so``/``*.so.*`` file is stripped into a temporary
directory (the originals are never touched); identical files are counted once. Prints a plain-text summary.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from fnmatch import fnmatchcase
from pathlib import Path

from harden.elf import StripResult, strip_file

PATTERNS = ("*.so", "*.so.*")


def _strip(args: tuple[str, str]) -> tuple[str, StripResult, float]:
    src, out_dir = args
    fd, tmp = tempfile.mkstemp(dir=out_dir)
    os.close(fd)
    started = time.perf_counter()
    try:
        result = strip_file(Path(src), Path(tmp))
    finally:
        Path(tmp).unlink(missing_ok=True)
    return src, result, time.perf_counter() - started


def _digest(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def _candidates(roots: list[Path]) -> list[Path]:
    seen: set[str] = set()
    out = []
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_symlink() or not path.is_file():
                continue
            if not any(fnmatchcase(path.name, p) for p in PATTERNS):
                continue
            digest = _digest(path)
            if digest not in seen:
                seen.add(digest)
                out.append(path)
    return out


def _mb(value: int) -> str:
    return f"{value / 1e6:9.2f} MB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", nargs="*", type=Path)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--top", type=int, default=10)
    options = parser.parse_args()
    roots = options.roots or [Path(sysconfig.get_paths()["purelib"])]

    files = _candidates(roots)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out_dir, ProcessPoolExecutor(max_workers=options.jobs) as pool:
        rows = list(pool.map(_strip, [(str(f), out_dir) for f in files], chunksize=4))
    elapsed = time.perf_counter() - started

    before = sum(r.bytes_before for _, r, _ in rows)
    after = sum(r.bytes_after for _, r, _ in rows)
    changed = [row for row in rows if row[1].changed]
    reasons = Counter((r.skipped_reason or "").split(":")[0] for _, r, _ in rows if not r.changed)
    print(f"roots:            {', '.join(map(str, roots))}")
    print(f"distinct files:   {len(rows)} ({len(changed)} stripped, {len(rows) - len(changed)} left alone)")
    print(f"bytes before:     {_mb(before)}")
    print(f"bytes after:      {_mb(after)}")
    saved = before - after
    print(f"saved:            {_mb(saved)} ({100 * saved / max(before, 1):.1f} %)")
    print(f"wall time:        {elapsed:9.2f} s with {options.jobs} processes")
    print(f"cpu time summed:  {sum(t for _, _, t in rows):9.2f} s")
    for reason, count in reasons.most_common():
        print(f"  left alone: {count:5} x {reason}")
    print(f"largest savings (top {options.top}):")
    for src, result, seconds in sorted(changed, key=lambda row: -row[1].saved)[: options.top]:
        print(f"  {_mb(result.saved)}  of {_mb(result.bytes_before)}  {seconds:6.2f} s  {src}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
