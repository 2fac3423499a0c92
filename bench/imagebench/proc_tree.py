"""Run one command and measure it: wall time, exit code, and the memory of its whole process tree.

Every ``SAMPLE_SECONDS`` a thread walks /proc from the command's pid down to every live descendant and sums
their RSS (/proc/PID/statm) and PSS (/proc/PID/smaps_rollup); the peaks of both sums are kept, with the most
processes seen at once. ``wait4``'s ``ru_maxrss`` adds the exact peak of the largest single process. The engine
service's RSS (podman system service: it exports and loads images for harden, and is not in harden's tree) is
sampled alongside when its pid is found.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from imagebench.model import Memory

PAGE = os.sysconf("SC_PAGE_SIZE")
SAMPLE_SECONDS = 0.2


@dataclass(frozen=True, slots=True)
class Measured:
    wall_seconds: float
    exit_code: int
    memory: Memory
    stderr_tail: str
    tree_rss_ticks: tuple[int, ...] = ()
    """The tree's summed RSS at each sample, in order (the container watcher's ticks line up with these)."""


def parse_ppid(stat: str) -> int:
    """The parent pid from a /proc/PID/stat line (the command name may hold spaces and parentheses)."""
    return int(stat[stat.rindex(")") + 2:].split()[1])


def children_map(proc: Path = Path("/proc")) -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        children.setdefault(parse_ppid(stat), []).append(int(entry.name))
    return children


def descendants(root: int, children: Mapping[int, Iterable[int]]) -> list[int]:
    """``root`` and every pid below it."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def tree_total(root: int, children: Mapping[int, Iterable[int]], size_of: Callable[[int], int]) -> tuple[int, int]:
    """(summed ``size_of`` over ``root`` and every descendant, how many processes): one sample of the tree."""
    pids = descendants(root, children)
    return sum(size_of(pid) for pid in pids), len(pids)


def parse_pss(smaps_rollup: str) -> int | None:
    for line in smaps_rollup.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return None


def rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, ValueError, IndexError):
        return 0


def pss(pid: int) -> int:
    try:
        value = parse_pss(Path(f"/proc/{pid}/smaps_rollup").read_text())
    except OSError:
        value = None
    return rss(pid) if value is None else value


def engine_service_pid(proc: Path = Path("/proc")) -> int | None:
    """The pid of a ``podman system service`` process, if one runs on this machine."""
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        try:
            argv = Path(entry.path, "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"podman") and b"system" in argv and b"service" in argv:
            return int(entry.name)
    return None


class TreeSampler(threading.Thread):
    def __init__(self, pid: int, *, service_pid: int | None, interval: float = SAMPLE_SECONDS,
                 extra: Callable[[], None] | None = None) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.service_pid = service_pid
        self.interval = interval
        self.extra = extra
        self.samples = 0
        self.rss_ticks: list[int] = []
        self.rss_peak = self.pss_peak = self.processes_peak = 0
        self.service_peak: int | None = None
        self.stop = threading.Event()

    def sample(self) -> None:
        children = children_map()
        total, processes = tree_total(self.pid, children, rss)
        self.rss_ticks.append(total)
        self.rss_peak = max(self.rss_peak, total)
        self.pss_peak = max(self.pss_peak, tree_total(self.pid, children, pss)[0])
        self.processes_peak = max(self.processes_peak, processes)
        if self.service_pid is not None and (value := rss(self.service_pid)):
            self.service_peak = max(self.service_peak or 0, value)
        if self.extra is not None:
            self.extra()
        self.samples += 1

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            self.sample()


def run_measured(argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
                 log_file: Path | None = None, also_sample: Callable[[], None] | None = None) -> Measured:
    """Run ``argv`` to completion; stdout and stderr go to ``log_file`` (else are discarded). ``also_sample`` is
    called at every sample (the container watcher hooks in there)."""
    service = engine_service_pid()
    sink = log_file.open("wb") if log_file else open(os.devnull, "wb")  # noqa: SIM115
    with sink:
        started = time.perf_counter()
        process = subprocess.Popen(list(argv), env=dict(env) if env is not None else None, cwd=cwd,
                                   stdout=sink, stderr=subprocess.STDOUT)
        sampler = TreeSampler(process.pid, service_pid=service, extra=also_sample)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        sampler.stop.set()
        sampler.join()
        process.returncode = os.waitstatus_to_exitcode(status)
    tail = ""
    if log_file and log_file.exists():
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-15:])
    memory = Memory(
        samples=sampler.samples,
        interval_seconds=sampler.interval,
        tree_rss_peak_bytes=sampler.rss_peak,
        tree_pss_peak_bytes=sampler.pss_peak,
        largest_process_bytes=usage.ru_maxrss * 1024,
        processes_peak=sampler.processes_peak,
        engine_service_rss_peak_bytes=sampler.service_peak,
    )
    return Measured(wall_seconds=wall, exit_code=process.returncode, memory=memory, stderr_tail=tail,
                    tree_rss_ticks=tuple(sampler.rss_ticks))
