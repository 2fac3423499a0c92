"""Fixtures of the CLI tests: the sealed ``Scene`` of the hostile suite (workspace and TMPDIR inside the test's
tmp_path, checked empty after every run; the input hashed before and after), and a tiny image in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostile.hostile_scene import Scene, sandbox_scene, scene  # noqa: F401  (fixtures shared with tests/hostile)
from hostile.hostile_support import base_layer, config_for


@pytest.fixture
def tiny(scene: Scene) -> Path:  # noqa: F811  (the imported fixture, requested by name)
    """A one-layer docker-archive without Python, run as a non-root user with a healthcheck (no findings at
    error level), tagged ``tiny/app:1``."""
    layer = base_layer()
    config = config_for([layer], User="65532:65532", Healthcheck={"Test": ["CMD", "/app/main.py"]})
    return scene.archive([layer], config, name="tiny.tar", repo_tags=["tiny/app:1"])
