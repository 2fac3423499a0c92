"""Small stage files and a policy folder in tmp_path, so policy tests do not depend on the shipped data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

STAGE_FILES = {
    "remove-docs": """
schema_version = 1
stage = "remove-docs"
description = "Documentation nobody reads in a container."
[settings]
enabled = true
remove = ["usr/share/doc/**", "usr/share/man/**"]
keep = ["**/*.dist-info/METADATA"]
""",
    "remove-tests": """
schema_version = 1
stage = "remove-tests"
description = "Test suites of installed packages."
[settings]
enabled = true
remove = ["**/tests/**"]
keep = ["**/numpy/testing/**"]
""",
    "remove-installers": """
schema_version = 1
stage = "remove-installers"
description = "pip, setuptools, wheel."
[settings]
enabled = true
packages = ["pip", "setuptools", "wheel"]
""",
    "add-user": """
schema_version = 1
stage = "add-user"
description = "A real non-root user."
[settings]
enabled = true
name = "nonroot"
uid = 65532
umask_ratio = 0.5
labels = {}
[settings.home]
path = "/home/nonroot"
mode = 448
dirs = ["cache"]
""",
}


@pytest.fixture
def stages_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "stages"
    folder.mkdir()
    for name, text in STAGE_FILES.items():
        (folder / f"{name}.toml").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def policies_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "default.toml").write_text(
        """
schema_version = 1
name = "default"
description = "base"
[stages.remove-installers]
enabled = false
[verify]
imports = ["json"]
timeout_seconds = 30
""",
        encoding="utf-8",
    )
    return folder


WritePolicy = Callable[[str, str], Path]


@pytest.fixture
def write_policy(tmp_path: Path) -> WritePolicy:
    """``write_policy("child.toml", text)`` writes a policy file under tmp_path/work and returns its path."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)

    def write(name: str, text: str) -> Path:
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return write
