"""Run one command and measure it: wall time, exit code, and peak memory of its whole process tree.

Two peaks: the largest single process (``wait4``'s ``ru_maxrss``, exact, covers every descendant that was waited
for) and the largest sum of PSS over the live tree, sampled from /proc/PID/smaps_rollup (a page shared by N
processes counts 1/N in each, so forked workers sum to what the tree really holds).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")
SAMPLE_SECONDS = 0.25


@dataclass(frozen=True, slots=True)
class Measured:
    wall_seconds: float
    exit_code: int
    peak_rss_process_bytes: int
    peak_pss_tree_bytes: int
    stderr_tail: str


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _pss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, ValueError, IndexError):
        return 0


def tree_pss(root: int) -> int:
    children = _children_map()
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, ()))
        total += _pss(pid)
    return total


class _Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(SAMPLE_SECONDS):
            self.peak = max(self.peak, tree_pss(self.pid))


def run_measured(argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
                 log_file: Path | None = None) -> Measured:
    """Run ``argv`` to completion; stdout and stderr go to ``log_file`` (else are discarded)."""
    sink = log_file.open("wb") if log_file else open(os.devnull, "wb")  # noqa: SIM115
    with sink:
        started = time.perf_counter()
        process = subprocess.Popen(list(argv), env=dict(env) if env is not None else None, cwd=cwd,
                                   stdout=sink, stderr=subprocess.STDOUT)
        sampler = _Sampler(process.pid)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        sampler.stop.set()
        sampler.join()
        process.returncode = os.waitstatus_to_exitcode(status)
    tail = ""
    if log_file and log_file.exists():
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-15:])
    return Measured(
        wall_seconds=wall,
        exit_code=process.returncode,
        peak_rss_process_bytes=usage.ru_maxrss * 1024,
        peak_pss_tree_bytes=sampler.peak,
        stderr_tail=tail,
    )
