"""Fixtures of the CLI tests: the sealed ``Scene`` of the hostile suite (workspace and TMPDIR inside the test's
tmp_path, checked empty after every run; the input hashed before and after), and a tiny image in it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hostile.hostile_scene import Scene, reachable_tmp
from hostile.hostile_support import base_layer, config_for


@pytest.fixture
def scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Scene:
    return Scene(tmp_path, monkeypatch)


@pytest.fixture
def sandbox_scene(scene: Scene) -> Iterator[Scene]:
    """The scene with a TMPDIR every user can reach (for verification in the sandbox as a non-root uid)."""
    with reachable_tmp(scene):
        yield scene


@pytest.fixture
def tiny(scene: Scene) -> Path:
    """A one-layer docker-archive without Python, run as a non-root user with a healthcheck (no findings at
    error level), tagged ``tiny/app:1``."""
    layer = base_layer()
    config = config_for([layer], User="65532:65532", Healthcheck={"Test": ["CMD", "/app/main.py"]})
    return scene.archive([layer], config, name="tiny.tar", repo_tags=["tiny/app:1"])
