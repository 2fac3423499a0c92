"""The same machine state before every timed sample of the I/O comparison.

Measured on the bench machine (ext4, 2 cores): four ``podman load`` runs of the deps archive into empty storages,
one after the other, took 11.7, 17.8, 26.9 and 32.6 s, then 12.7 s right after the kernel's page cache was dropped
(a slow load timed on its own: 30.8 s of system time in 31.7 s). A profile of a slow load spent its kernel time
in ext4's inode allocation (``find_inode_bit`` → ``recently_deleted`` → ``find_get_block``) looking through cached
inode-table blocks of the files earlier samples had created and deleted. Waiting (35 s after ``sync``) did not
help; dropping the page cache did. So every sample, floor or harden, starts from: ``sync``, page cache dropped,
then the source image read once through a discarded engine save and harden's and the engine client's files read,
so neither side starts with cold code or a cold image that the other did not.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

DROP_CACHES = Path("/proc/sys/vm/drop_caches")
DESCRIPTION = ("before each sample: sync, the kernel's page cache dropped (`echo 1 > /proc/sys/vm/drop_caches`), "
               "then the image read once through a discarded save and harden's and podman's files read once")


class Saves(Protocol):
    def save(self, reference: str, archive: Path) -> tuple[float, float | None]: ...


@dataclass(frozen=True, slots=True)
class Settled:
    dropped: bool
    """Whether the page cache was dropped (it needs root); False: ``note`` says why."""
    seconds: float
    note: str = ""


def code_paths(harden_argv: Iterable[str]) -> list[Path]:
    """What a harden run and the floor's podman client read as code: the venv the harden program lives in (a
    ``pyvenv.cfg`` beside its ``bin``; nothing when it is a system Python, whose prefix holds far more than harden
    reads) and the podman binary."""
    argv = list(harden_argv)
    venv = Path(argv[0]).absolute().parent.parent if argv else None
    podman = shutil.which("podman")
    return [*([venv] if venv and (venv / "pyvenv.cfg").is_file() else []), *([Path(podman)] if podman else [])]


def settle(engine: Saves, reference: str, scratch: Path, code: Iterable[Path]) -> Settled:
    started = time.perf_counter()
    os.sync()
    dropped, note = True, ""
    try:
        DROP_CACHES.write_text("1\n")
    except OSError as exc:
        dropped, note = False, f"page cache not dropped: {exc.strerror or exc}"
    archive = scratch / "settle-warm.tar"
    try:
        engine.save(reference, archive)
    finally:
        archive.unlink(missing_ok=True)
    for path in code:
        _read(path)
    os.sync()
    return Settled(dropped, time.perf_counter() - started, note)


def _read(path: Path) -> None:
    files = [path] if path.is_file() else (p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    for file in files:
        try:
            with open(file, "rb", buffering=0) as f:
                while f.read(1 << 20):
                    pass
        except OSError:
            continue
