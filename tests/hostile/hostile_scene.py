"""A sealed scene for running the real ``harden`` CLI on hostile input.

Every test gets a ``Scene`` in its tmp_path::

    in/        the input archives (hashed before and after every run: the input is never modified)
    outside/   a sentinel directory next to the input; symlinks and hardlinks in hostile layers point here
    work/      HARDEN_WORKDIR: the run's workspace goes here and must be gone afterwards
    tmp/       TMPDIR (and tempfile.tempdir): nothing may be left here either
    out/       where the tests ask for outputs
    reports/   where the tests ask for reports
    cwd/       the working directory of the run

``scene.run(...)`` invokes ``harden`` in-process (click's CliRunner) and checks all of that; ``scene.spawn``
starts ``python -m harden`` as a child process with the same environment (signals, concurrency).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from harden.cli.main import cli
from imagefactory import LayerInput, write_docker_archive

SENTINEL = b"the outside world; harden must never write here\n"
ERROR_PREFIX = "harden: error: "


def tree_state(root: Path) -> dict[str, str]:
    """Every path below ``root`` mapped to its kind and content hash (links by target, not followed)."""
    state: dict[str, str] = {}
    if not root.exists():
        return state
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                state[rel] = "link:" + os.readlink(path)
            elif path.is_dir():
                state[rel] = "dir"
            else:
                state[rel] = "file:" + hashlib.sha256(path.read_bytes()).hexdigest()
    return state


@dataclass
class Run:
    """What one CLI run did: exit code, output, and every path it created in the scene."""

    exit_code: int
    stdout: str
    stderr: str
    created: set[str]
    exception: BaseException | None = None

    @property
    def error_line(self) -> str:
        """The one line of an error run (asserting that it is exactly one ``harden: error:`` line)."""
        lines = self.stderr.splitlines()
        assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{self.stderr}"
        assert lines[0].startswith(ERROR_PREFIX), lines[0]
        assert "Traceback" not in self.stderr
        return lines[0]


@dataclass
class Scene:
    root: Path
    monkeypatch: pytest.MonkeyPatch
    _tmp: Path | None = None

    def __post_init__(self) -> None:
        for folder in (self.inputs, self.outside, self.work, self.tmp, self.out, self.reports, self.cwd):
            folder.mkdir(parents=True, exist_ok=True)
        (self.outside / "sentinel.txt").write_bytes(SENTINEL)
        self.monkeypatch.setenv("HARDEN_WORKDIR", str(self.work))
        self.monkeypatch.setenv("TMPDIR", str(self.tmp))
        self.monkeypatch.setenv("CI", "1")  # no progress line, whatever the terminal
        self.monkeypatch.setattr(tempfile, "tempdir", str(self.tmp))
        self.monkeypatch.chdir(self.cwd)

    # -- the layout --------------------------------------------------------------------------------------
    @property
    def inputs(self) -> Path:
        return self.root / "in"

    @property
    def outside(self) -> Path:
        return self.root / "outside"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def tmp(self) -> Path:
        return self._tmp or self.root / "tmp"

    def relocate_tmp(self, folder: Path) -> None:
        """Use ``folder`` (empty, owned by the test) as TMPDIR instead of ``tmp/``: the sandbox needs a
        temp directory that every user can reach, which pytest's 0700 base directory is not."""
        self.tmp.rmdir()
        self._tmp = folder
        self.monkeypatch.setenv("TMPDIR", str(folder))
        self.monkeypatch.setattr(tempfile, "tempdir", str(folder))

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def cwd(self) -> Path:
        return self.root / "cwd"

    def archive(self, layers: Sequence[LayerInput], config: Mapping[str, Any] | None = None,
                name: str = "image.tar", **kw: Any) -> Path:
        """A docker-archive in ``in/`` (imagefactory's writer, independent of harden's)."""
        kw.setdefault("repo_tags", ["hostile/image:1"])
        return write_docker_archive(self.inputs / name, layers, config, **kw)

    # -- running harden ----------------------------------------------------------------------------------
    def run(self, *args: str, env: Mapping[str, str] | None = None) -> Run:
        """``harden ARGS`` in-process; checks the scene invariants and returns what happened."""
        before = self._snapshot()
        result: Result = CliRunner().invoke(cli, list(args), env=dict(env or {}), catch_exceptions=True,
                                          prog_name="harden")
        run = Run(result.exit_code, result.stdout, result.stderr, set(), result.exception)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"harden raised {result.exception!r}:\n{result.output}") from result.exception
        run.created = self.check_after(before)
        return run

    def environ(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"HARDEN_WORKDIR": str(self.work), "TMPDIR": str(self.tmp), "CI": "1"})
        env.update(extra or {})
        return env

    def spawn(self, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
        """``python -m harden ARGS`` as a child process (its own process group), output captured."""
        return subprocess.Popen(
            [sys.executable, "-m", "harden", *args], cwd=self.cwd, env=self.environ(env), text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )

    # -- the invariants ----------------------------------------------------------------------------------
    def _snapshot(self) -> dict[str, str]:
        return tree_state(self.root)

    def snapshot(self) -> dict[str, str]:
        """For callers that run harden themselves (``spawn``): pass the result to ``check_after``."""
        return self._snapshot()

    def check_after(self, before: Mapping[str, str]) -> set[str]:
        """Assert the invariants of any run and return the paths it created (relative to the scene)."""
        assert list(self.work.iterdir()) == [], f"workspace left behind: {sorted(self.work.iterdir())}"
        assert list(self.tmp.iterdir()) == [], f"temp files left behind: {sorted(self.tmp.iterdir())}"
        after = self._snapshot()
        for path, state in before.items():
            if path.startswith(("in/", "outside/")) or path in ("in", "outside"):
                assert after.get(path) == state, f"{path} changed or vanished"
        for path in after:
            if path.startswith(("in/", "outside/")):
                assert path in before, f"{path} appeared next to the input"
            assert not path.startswith(("tmp/", "work/")), path
        assert (self.outside / "sentinel.txt").read_bytes() == SENTINEL
        created = {path for path in after if path not in before}
        stray = {p for p in created if not p.startswith(("out/", "reports/", "cwd/"))}
        assert not stray, f"written outside the requested places: {sorted(stray)}"
        partial = {p for p in created if ".partial" in p or p.endswith(".old")}
        assert not partial, f"half-written output left behind: {sorted(partial)}"
        return created

    def created_in(self, run: Run, folder: str) -> set[str]:
        """Top-level names ``run`` created in ``folder`` (``out``, ``reports`` or ``cwd``)."""
        prefix = folder + "/"
        return {p[len(prefix):].split("/", 1)[0] for p in run.created if p.startswith(prefix)}


@contextmanager
def reachable_tmp(scene: Scene) -> Iterator[Scene]:
    """``scene`` with TMPDIR in a fresh 0755 directory under /tmp, so that the sandbox can run an image's
    non-root user over a root filesystem there; the directory must be empty at the end, and is removed."""
    folder = Path(tempfile.mkdtemp(prefix="harden-scene-", dir="/tmp"))
    folder.chmod(0o755)
    scene.relocate_tmp(folder)
    try:
        yield scene
    finally:
        leftovers = sorted(p.name for p in folder.iterdir())
        shutil.rmtree(folder)
    assert leftovers == [], f"temp files left behind: {leftovers}"


@pytest.fixture
def scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Scene:
    """A sealed scene per test (the hostile and CLI suites import this fixture into their conftest)."""
    return Scene(tmp_path, monkeypatch)


@pytest.fixture
def sandbox_scene(scene: Scene) -> Iterator[Scene]:
    """The scene with a TMPDIR every user can reach (for verification in the sandbox as a non-root uid)."""
    with reachable_tmp(scene):
        yield scene
