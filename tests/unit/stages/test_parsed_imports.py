"""One pipeline run shares its parses of Python sources between stages, and they end with the run."""

from __future__ import annotations

import gc
from pathlib import Path

from stage_helpers import FakeImage

from harden.pipeline import run_pipeline
from harden.policy import load_policy
from harden.stages import _import_evidence
from harden.stages._import_evidence import ParsedImports, parse_imports

SOURCE = b"import os\nfrom .tests import helpers\n"


def test_a_parse_is_remembered_by_content_only_when_asked() -> None:
    parsed = ParsedImports()
    assert parsed.of(SOURCE) is parsed.of(bytes(SOURCE))  # the same content: the first parse, not a new one
    unremembered = ParsedImports(0)
    assert unremembered.of(SOURCE) is not unremembered.of(SOURCE)
    assert parse_imports(SOURCE, parsed=parsed) == parse_imports(SOURCE)


def test_the_parses_of_a_run_end_with_it(tmp_path: Path) -> None:
    image = FakeImage(tmp_path)
    site = image.python()
    image.file(f"{site}/pkg/__init__.py", "from . import core\n")
    image.file(f"{site}/pkg/core.py", "import json\n")
    image.file(f"{site}/pkg/tests/test_core.py", "from pkg import core\n")
    image.file(f"{site}/pkg/docs/conf.py", "import pkg\n")
    image.file(f"{site}/pkg/runner.py", "from pkg.tests import test_core\nfrom pkg import docs\n")  # read by both
    created: list[ParsedImports] = []
    original = _import_evidence.ParsedImports.of

    def spy(self: ParsedImports, source: bytes) -> object:
        if not any(self is seen for seen in created):
            created.append(self)
        return original(self, source)

    _import_evidence.ParsedImports.of = spy  # type: ignore[method-assign]
    try:
        result = run_pipeline(image.rootfs(), image.image_config(), image.blobs,
                              load_policy("default").enabled_stages())
    finally:
        _import_evidence.ParsedImports.of = original  # type: ignore[method-assign]
    assert result.records
    assert len(created) == 1  # every stage that parsed used the run's one cache
    created.clear()
    gc.collect()
    assert not [o for o in gc.get_objects() if isinstance(o, ParsedImports)]  # nothing of the run keeps it
