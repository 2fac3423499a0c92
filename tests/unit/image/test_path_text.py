"""The text forms of path questions answer as the PurePosixPath.parents forms they replace."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import PurePosixPath

from harden.image.path_text import (
    add_parents,
    bytecode_source,
    has_parent_in,
    is_below,
    is_within,
    parent_text,
    within_any,
)

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


def test_bytecode_source_inverts_cpythons_cache_naming() -> None:
    for source in ("usr/lib/python3.11/os.py", "opt/venv/lib/site/pkg/__init__.py", "a/foo.bar.py", "x.py"):
        for optimization in ("", 1, 2):
            cached = PurePosixPath(importlib.util.cache_from_source(source, optimization=optimization))
            assert bytecode_source(cached) == PurePosixPath(source), cached
        legacy = PurePosixPath(source).parent / "__pycache__" / (PurePosixPath(source).stem + ".cpython-33.pyo")
        assert bytecode_source(legacy) == PurePosixPath(source)


def test_bytecode_source_is_none_outside_pycache_naming() -> None:
    for text in ("a/foo.pyc", "a/__pycache__/foo.pyc", "a/__pycache__/foo.cpython-311.py", "a/__pycache__/.pyc",
                 "a/__pycache__/foo.opt-1.pyc", "a/__pycache__/README"):
        assert bytecode_source(PurePosixPath(text)) is None, text
