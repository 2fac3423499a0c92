"""The machine a result was measured on: date, cores, memory, CPU, kernel, engine and its storage, versions,
commit."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from imagebench.engine_cli import ROOT, EngineCli
from imagebench.model import Machine


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _commit() -> str:
    done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        return "unknown"
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, check=False).stdout.strip()
    return done.stdout.strip() + (" (with uncommitted changes)" if dirty else "")


def _harden_version(python: str) -> str:
    done = subprocess.run([python, "-c", "import harden; print(harden.__version__)"], capture_output=True,
                          text=True, check=False)
    return done.stdout.strip() or "unknown"


def describe_machine(engine: EngineCli, python: str) -> Machine:
    return Machine(
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        cores=os.cpu_count() or 1,
        memory_bytes=_memory_bytes(),
        cpu_model=_cpu_model(),
        kernel=platform.release(),
        engine=engine.version(),
        storage=engine.storage(),
        python=subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True,
                              text=True, check=False).stdout.strip(),
        harden_version=_harden_version(python),
        commit=_commit(),
    )
