"""Fixtures of the hostile-input suite: a sealed ``Scene`` per test (see ``hostile_scene``)."""

from __future__ import annotations

from hostile.hostile_scene import sandbox_scene, scene  # noqa: F401  (fixtures, shared with tests/cli)
from integration.conftest import docker_client  # noqa: F401  (the engine tests' session fixture)
