"""``*.pth`` files read the way ``site`` reads them (harden.stages._pth)."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from harden.stages._pth import ImportLine, imported_modules, module_name, parse_pth


@pytest.mark.parametrize(("line", "modules"), [
    ("import os; enabled and __import__('_distutils_hack').add_shim();", {"os", "_distutils_hack"}),
    ('import sys; __import__("a.b").c()', {"sys", "a"}),
    ("import\tzope.interface, six as s", {"zope", "six"}),
    ("import importlib; importlib.import_module('hook'); from pkg.sub import x", {"importlib", "hook", "pkg"}),
    ("import sys; exec('x')", {"sys"}),
])
def test_the_modules_an_executable_line_imports(line: str, modules: set[str]) -> None:
    assert imported_modules(line) == modules


def test_site_runs_only_lines_starting_with_import_and_takes_the_rest_as_paths() -> None:
    text = "# comment\n\n/opt/extra\n  import not_run\nimport os\nimport\tsys\nimportant\n"
    pth = parse_pth(text)
    assert pth.imports == (ImportLine(5, frozenset({"os"})), ImportLine(6, frozenset({"sys"})))
    assert pth.paths == ("/opt/extra", "  import not_run", "important")


@pytest.mark.parametrize(("name", "is_dir", "module"), [
    ("setuptools", True, "setuptools"),
    ("__pycache__", True, None),
    ("setuptools-66.1.1.egg-info", True, None),
    ("six.py", False, "six"),
    ("six.pyc", False, "six"),
    ("_cffi_backend.cpython-311-x86_64-linux-gnu.so", False, "_cffi_backend"),
    ("distutils-precedence.pth", False, None),
    ("README", False, None),
])
def test_what_a_path_entry_provides(name: str, is_dir: bool, module: str | None) -> None:
    assert module_name(PurePosixPath("site") / name, is_dir) == module
