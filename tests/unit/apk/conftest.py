"""The Alpine-like fixture image (tests/fixtures/alpine/make_fixture.py): binaries compiled once a session."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.alpine.make_fixture import Binaries, compile_binaries


@pytest.fixture(scope="session")
def musl_binaries(tmp_path_factory: pytest.TempPathFactory) -> Binaries:
    """Real musl, busybox and musl-gcc-built ELF files (fails under CI when a prerequisite is missing)."""
    return compile_binaries(Path(tmp_path_factory.mktemp("musl-build")))
