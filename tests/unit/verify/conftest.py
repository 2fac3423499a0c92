"""Fixtures for the verify unit tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from verify_support import ProbeCall

from harden.verify.probes import probe_source


@pytest.fixture
def run_probe(tmp_path: Path) -> ProbeCall:
    """``run_probe(*args, path=DIR, env=…)``: the probe as the runners pass it (``python -c SOURCE ARGS``),
    with DIR on PYTHONPATH, from a scratch working directory."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()

    def call(*args: str, path: Path | None = None, env: dict[str, str] | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
        environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
        if path is not None:
            environ["PYTHONPATH"] = str(path)
        environ.update(env or {})
        return subprocess.run([sys.executable, "-c", probe_source(), *args], capture_output=True, text=True,
                              cwd=cwd, env=environ, timeout=timeout, check=False)

    return call
