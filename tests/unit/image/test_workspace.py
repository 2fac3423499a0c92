"""Workspace: always removed (success, error, Ctrl-C, SIGTERM), paths stay inside, handler restored."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harden.errors import InternalError
from harden.image.workspace import Terminated, Workspace


@pytest.fixture
def base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HARDEN_WORKDIR", str(tmp_path / "wd"))
    return tmp_path / "wd"


def fill(ws: Workspace) -> Path:
    (ws.path / "sub").mkdir()
    (ws.path / "sub" / "file").write_bytes(b"x")
    ro = ws.path / "readonly"
    ro.mkdir()
    (ro / "inner").write_text("y")
    ro.chmod(0o555)
    ws.blobs.put_bytes(b"content")
    return ws.path


def test_removed_after_success(base: Path) -> None:
    with Workspace() as ws:
        root = fill(ws)
        assert root.parent == base.resolve() and root.is_dir()
    assert not root.exists()
    assert list(base.iterdir()) == []


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_removed_after_failure_and_interrupt(base: Path, error: BaseException) -> None:
    root = None
    with pytest.raises(type(error)), Workspace() as ws:
        root = fill(ws)
        raise error
    assert root is not None and not root.exists()


def test_sigterm_raises_terminated_and_cleans_up(base: Path) -> None:
    previous = signal.getsignal(signal.SIGTERM)
    root = None
    with pytest.raises(Terminated) as caught, Workspace() as ws:
        root = fill(ws)
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(10_000_000):  # the handler runs at the next bytecode boundary
            pass
    assert isinstance(caught.value, KeyboardInterrupt) and caught.value.signum == signal.SIGTERM
    assert root is not None and not root.exists()
    assert signal.getsignal(signal.SIGTERM) == previous


def test_sigterm_to_a_running_process(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import os, signal, sys
        from harden.image.workspace import Workspace
        with Workspace() as ws:
            (ws.path / "data").write_text("x")
            print(ws.path, flush=True)
            os.kill(os.getpid(), signal.SIGTERM)
            while True:
                pass
        """
    )
    env = dict(os.environ, HARDEN_WORKDIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    root = Path(done.stdout.strip())
    assert done.returncode != 0 and "Terminated" in done.stderr
    assert root.parent == tmp_path.resolve() and not root.exists()


def test_paths_stay_inside(base: Path) -> None:
    with Workspace() as ws:
        assert ws.join("a", "b") == ws.path / "a" / "b"
        with pytest.raises(InternalError):
            ws.join("..", "escape")
        with pytest.raises(InternalError):
            ws.join("/etc/passwd")
        (ws.path / "link").symlink_to("/etc")
        with pytest.raises(InternalError):
            ws.join("link", "passwd")
        assert ws.mkdtemp().parent == ws.path and ws.mkstemp(suffix=".tar").parent == ws.path
    with pytest.raises(InternalError):
        _ = ws.path


def test_keep_leaves_it_for_debugging(base: Path) -> None:
    with Workspace(keep=True) as ws:
        root = fill(ws)
    assert (root / "sub" / "file").exists()


def test_signal_right_after_creating_the_directory_leaves_nothing(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_mkdir = Path.mkdir

    def mkdir_then_interrupted(self: Path, *args: object, **kwargs: object) -> None:
        real_mkdir(self, *args, **kwargs)  # type: ignore[arg-type]
        if self.name.startswith("harden-"):
            raise KeyboardInterrupt

    monkeypatch.setattr(Path, "mkdir", mkdir_then_interrupted)
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), Workspace():
        pytest.fail("the body must not run")
    assert list(base.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is previous
