"""Helpers for the verify unit tests: tiny module trees on disk, probe output parsing, a local runner."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harden.verify.runners import RunResult

ProbeCall = Callable[..., "subprocess.CompletedProcess[str]"]
"""The ``run_probe`` fixture: ``run_probe(*args, path=DIR, env=…)``."""


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def json_lines(stdout: str) -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    return {row["module"]: row for row in rows}


class LocalRunner:
    """A real ProbeRunner for the host itself: runs argv directly with a fixed environment and directory.
    (The probe needs a Python; the host's stands in for an image's.)"""

    kind = "local"

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = env
        self.cwd = cwd
        self.calls: list[list[str]] = []

    def run(self, argv: Sequence[str], *, timeout: float, writable: bool = False) -> RunResult:
        self.calls.append(list(argv))
        try:
            done = subprocess.run(list(argv), capture_output=True, text=True, env=self.env, cwd=self.cwd,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            return RunResult(None, str(exc.stdout or ""), str(exc.stderr or ""), True)
        except FileNotFoundError as exc:  # what a container runtime reports as exit code 127
            return RunResult(127, "", str(exc))
        return RunResult(done.returncode, done.stdout, done.stderr)
