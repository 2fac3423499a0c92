"""The text forms of path questions answer as the PurePosixPath.parents forms they replace."""

from __future__ import annotations

import itertools
from pathlib import PurePosixPath

from harden.image.path_text import add_parents, has_parent_in, is_below, is_within, parent_text, within_any

PATHS = [PurePosixPath(p) for p in (
    ".", "usr", "usr/lib", "usr/lib/python3.11", "usr/lib/python3.11/os.py", "usr/lib64", "usr/libexec/x",
    "opt/venv/lib", "opt/venv2/lib", "a", "ab", "a/b", "ab/c", "a/b/c/d",
)]


def test_parent_text_is_the_parent() -> None:
    for path in PATHS:
        assert parent_text(str(path)) == str(path.parent)


def test_below_and_within_answer_as_parents_do() -> None:
    for path, folder in itertools.product(PATHS, PATHS):
        assert is_below(path, folder) == (folder in path.parents), (path, folder)
        assert is_within(path, folder) == (path == folder or folder in path.parents), (path, folder)
        assert is_below(str(path), str(folder)) == is_below(path, folder)


def test_within_any_and_has_parent_in_answer_as_parents_do() -> None:
    for size in (0, 1, 2):
        for folders in itertools.combinations(PATHS, size):
            texts = {str(f) for f in folders}
            for path in PATHS:
                assert within_any(path, folders) == any(path == f or f in path.parents for f in folders)
                assert has_parent_in(path, texts) == any(str(p) in texts for p in path.parents), (path, texts)


def test_add_parents_collects_every_parent_but_the_root_whatever_the_order() -> None:
    expected = {str(parent) for path in PATHS for parent in path.parents if str(parent) != "."}
    for order in (PATHS, list(reversed(PATHS))):
        folders: set[str] = set()
        for path in order:
            add_parents(str(path), folders)
        assert folders == expected
