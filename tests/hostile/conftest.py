"""Fixtures of the hostile-input suite: a sealed ``Scene`` per test (see ``hostile_scene``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hostile.hostile_scene import Scene, reachable_tmp
from integration.conftest import docker_client  # noqa: F401  (the engine tests' session fixture)


@pytest.fixture
def scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Scene:
    return Scene(tmp_path, monkeypatch)


@pytest.fixture
def sandbox_scene(scene: Scene) -> Iterator[Scene]:
    """The scene with a TMPDIR every user can reach (for verification in the sandbox as a non-root uid)."""
    with reachable_tmp(scene):
        yield scene
