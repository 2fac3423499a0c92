"""Collecting every problem of a policy (and of the files it extends) before raising one PolicyError.

Paths are dotted like the TOML they point into: ``stages.remove-tests.keep[2]``,
``verify.smoke[0].timeout_seconds``.
"""

from __future__ import annotations

import datetime
import difflib
import re
from collections.abc import Iterable

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def key_path(parent: str, key: str) -> str:
    """``parent.key``, quoting keys that are not bare TOML keys."""
    part = key if _BARE_KEY.fullmatch(key) else '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{parent}.{part}" if parent else part


def index_path(parent: str, index: int) -> str:
    return f"{parent}[{index}]"


def toml_type(value: object) -> str:
    """The TOML name of a parsed value's type, for "expected …, got …" messages."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "table"
    if isinstance(value, datetime.date | datetime.time):
        return "datetime"
    return type(value).__name__


def unknown_key_hint(key: str, known: Iterable[str]) -> str:
    """A suffix for "unknown …" messages: `` (did you mean 'keep'?)`` or `` (known: a, b)``."""
    names = sorted(known)
    close = difflib.get_close_matches(key, names, n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (known: {', '.join(names)})" if names else ""


class Problems:
    """An append-only list of ``path: message`` lines, shared by labelled views (one per file in a chain)."""

    __slots__ = ("_items", "_label")

    def __init__(self, label: str = "", items: list[str] | None = None) -> None:
        self._label = label
        self._items: list[str] = [] if items is None else items

    def labelled(self, label: str) -> Problems:
        """A view that prefixes every problem with ``label: `` (a file name), sharing this list."""
        return Problems(label, self._items)

    def add(self, path: str, message: str) -> None:
        where = f"{path}: " if path else ""
        prefix = f"{self._label}: " if self._label else ""
        self._items.append(f"{prefix}{where}{message}")

    @property
    def items(self) -> tuple[str, ...]:
        return tuple(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __len__(self) -> int:
        return len(self._items)
