"""The literal program and library names Python code uses, and the quick file filter in front of the parser."""

from __future__ import annotations

import ast
import sysconfig
from pathlib import Path, PurePosixPath

import pytest

from harden.stages._runtime_names import _HINT, _names, hinted

CASES = [
    (b'subprocess.run(["ldconfig", "-p"])', True),
    (b"subprocess.check_output( ('gcc', '-v'))", True),
    (b'os.system("uname -a")', True),
    (b"ctypes.CDLL(r'libc.so.6')", True),
    (b'find_library\n    ("gomp")', True),
    (b'os.spawnlp(os.P_WAIT, "tar", "tar")', True),
    (b"subprocess.run(cmd)", False),
    (b'print("run")', False),
    (b'x = run ("a")', True),
    (b'rerun("a")', True),  # a name ending in a call name: the filter lets the parser decide
    (b"", False),
]


@pytest.mark.parametrize(("source", "expected"), CASES)
def test_the_quick_filter_answers_as_the_pattern_does(source: bytes, expected: bool) -> None:
    assert bool(_HINT.search(source)) is expected
    assert hinted(source) is expected


def test_the_quick_filter_agrees_with_the_pattern_on_the_standard_library() -> None:
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py"))
    assert len(files) > 500
    disagree = [f for f in files if hinted(f.read_bytes()) is not bool(_HINT.search(f.read_bytes()))]
    assert disagree == []
    assert sum(hinted(f.read_bytes()) for f in files) > 20  # the filter lets real callers through


def test_names_are_read_from_literal_arguments_only() -> None:
    source = (
        "import subprocess as sp\nfrom ctypes.util import find_library\nimport os\n"
        "sp.run(['ldconfig', '-p'])\nsp.run(cmd)\nos.system('uname -a')\nfind_library('gomp')\n"
    )
    found = {(n.kind, n.name, n.shell) for n in _names(ast.parse(source), PurePosixPath("m.py"))}
    assert found == {("program", "ldconfig", False), ("program", "uname", True), ("library", "find:gomp", False)}
