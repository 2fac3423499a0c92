"""Fixtures for the ELF tests: the committed tiny ELF files, copied so a test may damage its copy."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from elf_fixtures import FIXTURES


@pytest.fixture
def fixture_copy(tmp_path: Path) -> Callable[[str], Path]:
    def copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copyfile(FIXTURES / name, target)
        return target

    return copy
