"""Fixtures for the verify unit tests: the in-image scripts run as the runners run them (``python -c SOURCE
COMMAND ...``) by an interpreter of the host standing in for an image's, against tiny module trees."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from verify_support import ScriptCall, missing

from harden.verify.runners import bwrap_path
from harden.verify.scripts import Script, script_source


@pytest.fixture(scope="session")
def bare_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv of the host's Python without pip (``python -m venv --without-pip``): the stdlib and an empty
    site-packages, so a walk covers the stdlib and the test's own tree only (not the test runner's packages)."""
    root = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=300)
    return root


@pytest.fixture(scope="session")
def python(bare_venv: Path) -> str:
    """The bare venv's interpreter: the image's Python in these tests."""
    return str(bare_venv / "bin" / "python")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def run_script(tmp_path: Path, python: str, home: Path) -> ScriptCall:
    """``run_script(script, *args, path=DIR, env=…, cwd=…)``: ``python -c SOURCE ARGS`` with DIR on PYTHONPATH,
    HOME a fresh directory, from a scratch working directory."""
    scratch = tmp_path / "cwd"
    scratch.mkdir()

    def call(script: Script, *args: str, path: Path | None = None, env: dict[str, str] | None = None,
             cwd: Path | None = None, timeout: float = 300,
             interpreter: str | None = None) -> subprocess.CompletedProcess[str]:
        environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
        if path is not None:
            environ["PYTHONPATH"] = str(path)
        environ.update(env or {})
        return subprocess.run([interpreter or python, "-c", script_source(script), *args], capture_output=True,
                              text=True, cwd=cwd or scratch, env=environ, timeout=timeout, check=False)

    return call


@pytest.fixture
def bwrap() -> str:
    """bwrap's path; a test that needs the sandbox skips without it, and fails under CI."""
    path = bwrap_path()
    if path is None:
        missing("bwrap (Debian package bubblewrap) is not installed")
    return path


@pytest.fixture
def host_python3(bwrap: str) -> Iterator[str]:
    """/usr/bin/python3 of the host, run inside a sandbox over the host's own root."""
    if not os.access("/usr/bin/python3", os.X_OK):
        missing("/usr/bin/python3 is needed inside the sandbox")
    yield "/usr/bin/python3"
