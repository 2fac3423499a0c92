"""Engine-side memory of harden's verification probes: they run as containers under the engine (podman's conmon
and the container's processes are not descendants of harden), so harden's process tree does not hold them.

While a harden run lasts, the engine's event stream (filtered on harden's probe label) names every probe container
it creates, and the sampler reads the memory cgroup of every live container at each tick of the process sampler:
its own peak (v1 ``memory.max_usage_in_bytes``, v2 ``memory.peak``), current usage and anonymous memory. A probe
that lives less than one sampling interval can be missed: the result says how many probes were caught.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from imagebench.model import ContainerMemory

log = logging.getLogger(__name__)

PROBE_LABEL = "io.github.harden.verify=probe"
"""The label harden's verifier puts on its probe containers (harden.verify.runners.LABEL)."""

CGROUP_DIRS: tuple[tuple[str, str], ...] = (
    ("v1", "/sys/fs/cgroup/memory/libpod_parent/libpod-*"),
    ("v1", "/sys/fs/cgroup/memory/machine.slice/libpod-*.scope"),
    ("v1", "/sys/fs/cgroup/memory/docker/*"),
    ("v2", "/sys/fs/cgroup/machine.slice/libpod-*.scope"),
    ("v2", "/sys/fs/cgroup/libpod_parent/libpod-*"),
    ("v2", "/sys/fs/cgroup/system.slice/docker-*.scope"),
)
"""Where podman (cgroupfs or systemd manager) and Docker put a container's memory cgroup, v1 and v2."""

_FILES = {
    "v1": ("memory.usage_in_bytes", "memory.max_usage_in_bytes", "rss"),
    "v2": ("memory.current", "memory.peak", "anon"),
}


def container_id(directory: str) -> str | None:
    """The container id a cgroup directory is named after (``libpod-<id>``, ``libpod-<id>.scope``,
    ``docker-<id>.scope``, ``<id>``); None for conmon's and other non-container directories."""
    name = os.path.basename(directory.rstrip("/"))
    name = name.removesuffix(".scope")
    for prefix in ("libpod-", "docker-"):
        name = name.removeprefix(prefix)
    if "conmon" in name or len(name) < 12 or any(c not in "0123456789abcdef" for c in name):
        return None
    return name


def stat_value(memory_stat: str, key: str) -> int | None:
    """One ``key value`` line of a cgroup's memory.stat."""
    for line in memory_stat.splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return None


@dataclass(frozen=True, slots=True)
class Reading:
    usage: int
    peak: int | None
    anon: int | None


def read_cgroup(directory: str, version: str) -> Reading | None:
    usage_file, peak_file, anon_key = _FILES[version]
    try:
        usage = int(Path(directory, usage_file).read_text())
    except (OSError, ValueError):
        return None
    try:
        peak: int | None = int(Path(directory, peak_file).read_text())
    except (OSError, ValueError):
        peak = None
    try:
        anon = stat_value(Path(directory, "memory.stat").read_text(), anon_key)
    except (OSError, ValueError):
        anon = None
    return Reading(usage, peak, anon)


def parse_events(lines: Iterable[str]) -> set[str]:
    """Container ids from the engine's JSON event lines (podman: ``ID``; docker: ``id`` / ``Actor.ID``)."""
    ids = set()
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        ident = event.get("ID") or event.get("id") or (event.get("Actor") or {}).get("ID")
        if ident:
            ids.add(str(ident))
    return ids


@dataclass
class Samples:
    """Every reading, by tick: (container id, reading) pairs."""

    version: str = ""
    ticks: list[list[tuple[str, Reading]]] = field(default_factory=list)


def summarise(samples: Samples, probes: set[str]) -> ContainerMemory:
    """Peaks over the probe containers (``probes``: ids from the event stream, full or abbreviated)."""

    def is_probe(ident: str) -> bool:
        return any(ident.startswith(p) or p.startswith(ident) for p in probes)

    peak: dict[str, int] = {}
    usage_peak = anon_peak = 0
    anon_known = False
    others: set[str] = set()
    for tick in samples.ticks:
        usage = anon = 0
        for ident, reading in tick:
            if not is_probe(ident):
                others.add(ident)
                continue
            peak[ident] = max(peak.get(ident, 0), reading.peak if reading.peak is not None else reading.usage)
            usage += reading.usage
            if reading.anon is not None:
                anon += reading.anon
                anon_known = True
        usage_peak, anon_peak = max(usage_peak, usage), max(anon_peak, anon)
    note = ""
    if not samples.version:
        note = "no container memory cgroup found on this machine (paths tried: bench/imagebench/containers.py)"
    elif not probes:
        note = "the engine reported no probe container (verification ran elsewhere, e.g. in the sandbox)"
    return ContainerMemory(
        cgroup=samples.version,
        probes_started=len(probes),
        probes_sampled=len(peak),
        largest_peak_bytes=max(peak.values()) if peak else None,
        concurrent_usage_peak_bytes=usage_peak if peak else None,
        concurrent_anon_peak_bytes=anon_peak if peak and anon_known else None,
        others_seen=len(others),
        note=note,
    )


def probe_ticks(samples: Samples, probes: set[str]) -> list[int]:
    """The probe containers' memory at each tick: anonymous memory where the cgroup reports it (comparable to a
    process's RSS without the page cache a cgroup also charges), else the cgroup's usage."""
    totals = []
    for tick in samples.ticks:
        totals.append(sum(r.anon if r.anon is not None else r.usage
                          for ident, r in tick if any(ident.startswith(p) or p.startswith(ident) for p in probes)))
    return totals


def combined_peak(tree_ticks: Sequence[int], probes: Sequence[int]) -> int:
    """The largest sum, at one tick, of harden's process tree and its probe containers (ticks line up: the watcher
    samples inside each tick of the process sampler)."""
    return max((tree + (probes[i] if i < len(probes) else 0) for i, tree in enumerate(tree_ticks)), default=0)


class ContainerWatch:
    """``with ContainerWatch(client, env) as watch:`` run harden with ``also_sample=watch.sample``; then
    ``watch.result()``."""

    def __init__(self, client: tuple[str, ...], env: Mapping[str, str]) -> None:
        self.client = client
        self.env = dict(env)
        self.samples = Samples()
        self.lock = threading.Lock()
        self.events: subprocess.Popen[bytes] | None = None
        self.events_file: IO[bytes] | None = None

    def __enter__(self) -> ContainerWatch:
        since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.events_file = tempfile.TemporaryFile()
        argv = [*self.client, "events", "--since", since, "--filter", f"label={PROBE_LABEL}",
                "--filter", "type=container", "--format", "{{json .}}"]
        try:
            self.events = subprocess.Popen(argv, env=self.env, stdout=self.events_file,
                                           stderr=subprocess.DEVNULL)
        except OSError as exc:
            log.warning("no engine event stream (%s): probe containers cannot be identified", exc)
        return self

    def sample(self) -> None:
        tick: list[tuple[str, Reading]] = []
        for version, pattern in CGROUP_DIRS:
            for directory in glob.glob(pattern):
                ident = container_id(directory)
                if ident is None:
                    continue
                reading = read_cgroup(directory, version)
                if reading is not None:
                    tick.append((ident, reading))
                    self.samples.version = self.samples.version or version
        with self.lock:
            self.samples.ticks.append(tick)

    def __exit__(self, *exc: object) -> None:
        if self.events is not None:
            self.events.terminate()  # this one process, started above
            try:
                self.events.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.events.kill()
                self.events.wait(timeout=10)

    def result(self, tree_ticks: Sequence[int] = ()) -> tuple[ContainerMemory, int]:
        """The probes' memory, and the combined peak of ``tree_ticks`` (the process sampler's) and the probes."""
        probes: set[str] = set()
        if self.events_file is not None:
            self.events_file.seek(0)
            probes = parse_events(self.events_file.read().decode(errors="replace").splitlines())
            self.events_file.close()
        with self.lock:
            return summarise(self.samples, probes), combined_peak(tree_ticks, probe_ticks(self.samples, probes))
