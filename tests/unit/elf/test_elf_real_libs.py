"""Strip real extension modules from this interpreter's site-packages; import the stripped copies."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from elf_checks import assert_nothing_matches, assert_segments_preserved

from harden.elf import DEFAULT_SECTIONS, inspect_elf, strip_file

# package -> code run against the stripped copy; it must print "ok"
PROBES = {
    "charset_normalizer": (
        "import charset_normalizer, charset_normalizer.md as md\n"
        "assert md.__file__.endswith('.so'), md.__file__\n"
        "assert md.mess_ratio('hello world, this is text') == 0.0\n"
        "text = 'Bonjour, je suis très content de vous voir à Paris cet été.'\n"
        "best = charset_normalizer.from_bytes(text.encode('utf-8')).best()\n"
        "assert best is not None and str(best) == text, best\n"
        "print('ok', charset_normalizer.__file__)\n"
    ),
    "rpds": (
        "import rpds\n"
        "m = rpds.HashTrieMap({'a': 1}).insert('b', 2)\n"
        "assert dict(m) == {'a': 1, 'b': 2}\n"
        "print('ok', rpds.__file__)\n"
    ),
}


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.mark.parametrize("package", sorted(PROBES))
def test_stripped_extension_modules_still_import(tmp_path: Path, package: str) -> None:
    source = _package_dir(package)
    if source is None:
        pytest.skip(f"{package} is not installed in this interpreter")
    shared = sorted(p for p in source.rglob("*.so") if p.is_file())
    if not any(inspect_elf(p).has_symtab or inspect_elf(p).has_debug for p in shared):
        pytest.skip(f"{package} ships no extension module with symbols to strip")
    copy = tmp_path / package
    shutil.copytree(source, copy)
    saved = 0
    for library in sorted(copy.rglob("*.so")):
        stripped = library.with_suffix(".stripped")
        result = strip_file(library, stripped)
        if result.changed:
            assert_segments_preserved(library, stripped)
            assert_nothing_matches(stripped, DEFAULT_SECTIONS)
            os.replace(stripped, library)
            saved += result.saved
    assert saved > 0

    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", PROBES[package]], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok " + str(copy)), done.stdout
