"""The ``image`` fixture: an in-memory image builder (see stage_helpers)."""

from __future__ import annotations

from pathlib import Path

import pytest
from stage_helpers import FakeImage


@pytest.fixture
def image(tmp_path: Path) -> FakeImage:
    return FakeImage(tmp_path)
