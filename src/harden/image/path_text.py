"""Questions about root-relative paths (``usr/lib/x``, the root is ``.``) answered on their text.

A parent is a slice of the text, where ``PurePosixPath.parents`` makes (and hashes) a new object per level: over
the tens of thousands of paths of an image, that is where the stages spent their time. The answers are the same
as the ``parents`` forms written beside each function, for paths in canonical form (as the model holds them).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from pathlib import PurePosixPath


def parent_text(text: str) -> str:
    """``str(PurePosixPath(text).parent)``."""
    cut = text.rfind("/")
    return text[:cut] if cut > 0 else "."


def add_parents(text: str, folders: set[str]) -> None:
    """Add the text of each parent of the path ``text`` (the root excepted) to ``folders``, climbing until one is
    already there: when every path is added this way, each folder's own parents are there too."""
    parent = parent_text(text)
    while parent != "." and parent not in folders:
        folders.add(parent)
        parent = parent_text(parent)


def is_below(path: PurePosixPath | str, folder: PurePosixPath | str) -> bool:
    """``folder in path.parents``: strictly below (the root is above every other path)."""
    text, top = str(path), str(folder)
    if top == ".":
        return text != "."
    return len(text) > len(top) and text.startswith(top) and text[len(top)] == "/"


def is_within(path: PurePosixPath | str, folder: PurePosixPath | str) -> bool:
    """``path == folder or folder in path.parents``."""
    return str(path) == str(folder) or is_below(path, folder)


def within_any(path: PurePosixPath | str, folders: Iterable[PurePosixPath | str]) -> bool:
    return any(is_within(path, folder) for folder in folders)


def has_parent_in(path: PurePosixPath | str, texts: Collection[str]) -> bool:
    """``any(str(parent) in texts for parent in path.parents)``."""
    text = str(path)
    if text == ".":
        return False
    while True:
        text = parent_text(text)
        if text in texts:
            return True
        if text == ".":
            return False


BYTECODE_SUFFIXES = (".pyc", ".pyo")


def bytecode_source(path: PurePosixPath) -> PurePosixPath | None:
    """The source ``DIR/NAME.py`` whose cached bytecode ``path`` is (PEP 3147 and 488:
    ``DIR/__pycache__/NAME.TAG[.opt-N].pyc``, or a ``.pyo`` of Python 3.2-3.4; NAME may hold dots, as in
    ``importlib.util.cache_from_source``); None for every other path."""
    if path.suffix not in BYTECODE_SUFFIXES or path.parent.name != "__pycache__":
        return None
    name, dot, tag = path.stem.rpartition(".")
    if tag.startswith("opt-"):
        name, dot, tag = name.rpartition(".")
    return path.parent.parent / f"{name}.py" if dot and name and tag else None
