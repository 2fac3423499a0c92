"""Helpers for the verify unit tests: tiny module trees on disk, the walker's JSON lines, a local runner."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import pytest

from harden.verify.runners import Confinement, RunResult

ScriptCall = Callable[..., "subprocess.CompletedProcess[str]"]
"""The ``run_script`` fixture: ``run_script("walk", COMMAND, CONFIG, path=DIR, env=…, cwd=…)``."""


PID = "import os\nopen(os.path.join(os.environ['HOME'], __name__), 'w').write(str(os.getpid()))\n"
"""A module that writes the pid of the process importing it to $HOME/<its name>."""


def missing(reason: str) -> NoReturn:
    """Skip with the reason, or fail under CI: CI must never pass by skipping the sandbox tests."""
    if os.environ.get("CI"):
        pytest.fail(f"the sandbox tests cannot run under CI: {reason}", pytrace=False)
    pytest.skip(reason)


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def lines(stdout: str) -> list[dict[str, Any]]:
    """Every JSON line the script printed (each must parse: nothing else may reach stdout)."""
    return [json.loads(line) for line in stdout.splitlines()]


def modules(stdout: str, interpreter: str | None = None) -> dict[str, dict[str, Any]]:
    """The ``module`` lines by module name (of one interpreter, when given); each module reported once."""
    found: dict[str, dict[str, Any]] = {}
    for line in lines(stdout):
        if line["type"] == "module" and (interpreter is None or line["interpreter"] == interpreter):
            assert line["module"] not in found, f"{line['module']} reported twice"
            found[line["module"]] = line
    return found


def of_type(stdout: str, kind: str) -> list[dict[str, Any]]:
    return [line for line in lines(stdout) if line["type"] == kind]


def config(**values: Any) -> str:
    return json.dumps(values)


class LocalRunner:
    """A real ProbeRunner for the host itself: runs argv directly with a fixed environment and directory (the
    walker needs a Python; the host's stands in for an image's). Confinement is recorded, not enforced."""

    kind = "local"

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = env
        self.cwd = cwd
        self.calls: list[tuple[list[str], Confinement]] = []
        self._active: set[subprocess.Popen[str]] = set()
        self._lock = threading.Lock()

    def run(self, argv: Sequence[str], *, timeout: float,
            confinement: Confinement = Confinement.STANDARD) -> RunResult:
        self.calls.append((list(argv), confinement))
        try:
            process = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, env=self.env, cwd=self.cwd,
                                       start_new_session=True)
        except FileNotFoundError as exc:  # what a container runtime reports as exit code 127
            return RunResult(127, "", str(exc))
        with self._lock:
            self._active.add(process)
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
            return RunResult(None, out, err, True)
        finally:
            with self._lock:
                self._active.discard(process)
        return RunResult(process.returncode, out, err)

    def stop(self) -> None:
        with self._lock:
            running = list(self._active)
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
