"""With more than one job, the parses that ``settle`` needs are made in worker processes, and they settle alike."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
from stage_helpers import FakeImage

from harden.stages import _import_evidence
from harden.stages._import_evidence import PARALLEL_MIN_PARSES, ImportEvidence, ParsedImports, settle


def test_the_parses_settle_needs_are_made_in_worker_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image = FakeImage(tmp_path)
    site = image.python()
    for index in range(PARALLEL_MIN_PARSES + 4):
        image.file(f"{site}/app{index}.py", f"import json  # app {index}\nfrom pkg.tests import helper{index % 3}\n")
    image.file(f"{site}/late.py", "def run():\n    from other.tests import slow\n")  # imports inside a function
    image.file(f"{site}/pkg/__init__.py", "")
    image.file(f"{site}/pkg/tests/__init__.py", "")
    image.file(f"{site}/pkg/tests/helper0.py", "")
    image.file(f"{site}/other/tests/__init__.py", "")
    image.file(f"{site}/unused/tests/__init__.py", "")
    rootfs = image.rootfs()
    roots = [PurePosixPath(site)]
    candidates = [PurePosixPath(f"{site}/{name}/tests") for name in ("pkg", "other", "unused")]
    here = settle(ImportEvidence(rootfs, image.blobs, roots, ["tests"]), candidates)

    def not_here(source: bytes) -> None:
        raise AssertionError("parsed in this process, not in a worker")

    monkeypatch.setattr(_import_evidence, "_found_in", not_here)
    parsed = ParsedImports()
    ahead = settle(ImportEvidence(rootfs, image.blobs, roots, ["tests"], parsed=parsed, jobs=2), candidates)
    assert ahead == here
    assert ahead.removed == (PurePosixPath(f"{site}/unused/tests"),)
    assert set(ahead.kept) == {PurePosixPath(f"{site}/pkg/tests"), PurePosixPath(f"{site}/other/tests")}
