"""Fixtures shared by all unit tests. ``tests/imagefactory.py`` is importable as ``imagefactory``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parents[1]
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

from fixtures.alpine.make_fixture import Binaries, compile_binaries  # noqa: E402
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


@pytest.fixture(scope="session")
def musl_binaries(tmp_path_factory: pytest.TempPathFactory) -> Binaries:
    """Real musl, busybox and musl-gcc-built ELF files for the Alpine-like fixture (tests/fixtures/alpine),
    compiled once a session (fails under CI when a prerequisite is missing)."""
    return compile_binaries(Path(tmp_path_factory.mktemp("musl-build")))
