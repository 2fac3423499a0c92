"""Fixtures shared by all unit tests. ``tests/imagefactory.py`` is importable as ``imagefactory``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parents[1]
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

from harden.image.blobs import BlobStore  # noqa: E402


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    """An empty content-addressed store in the test's tmp dir."""
    return BlobStore(tmp_path / "blobs")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty directory standing in for the run's workspace."""
    path = tmp_path / "work"
    path.mkdir()
    return path
