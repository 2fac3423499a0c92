"""What a stage proposes: changes with reasons. Stages only plan; the pipeline applies and records.

Every change names a ``category`` (bytecode, tests, docs, debug-symbols, shells, installers, jvm-payload,
duplicates, user, permissions, config, package-db) so reports can add bytes up per category, and a
human-readable ``reason``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from harden.image.model import FileEntry


@dataclass(frozen=True, slots=True)
class Remove:
    """Remove ``path`` and, for a directory, everything below it."""

    path: PurePosixPath
    reason: str
    category: str
    removes_modules: bool = False
    """The path holds importable Python modules and removing them is the point (a test suite, an installer):
    verification lists those modules as accounted removals. False: a module lost here fails verification."""


@dataclass(frozen=True, slots=True)
class Replace:
    """Put ``entry`` at ``entry.path``: new content (a new digest in the blob store) and/or new metadata."""

    entry: FileEntry
    reason: str
    category: str


@dataclass(frozen=True, slots=True)
class Add:
    """Create a path that did not exist."""

    entry: FileEntry
    reason: str
    category: str


@dataclass(frozen=True, slots=True)
class SetConfig:
    """Set one key of the container config (``User``, ``Env``, ``Cmd`` …); value None deletes it."""

    key: str
    value: Any
    reason: str
    category: str = "config"


Change = Remove | Replace | Add | SetConfig


@dataclass(frozen=True, slots=True)
class Skip:
    """Something a stage looked at and deliberately left alone, with the reason (reported, not applied)."""

    path: PurePosixPath
    reason: str


@dataclass(frozen=True, slots=True)
class GiveUp:
    """A module (and its submodules) that this stage's removals stop from importing, on purpose, although its
    files stay: verification lists it as an accounted removal with ``reason``."""

    module: str
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    stage: str
    changes: tuple[Change, ...] = ()
    skipped: tuple[Skip, ...] = ()
    notes: tuple[str, ...] = field(default=())
    gives_up: tuple[GiveUp, ...] = ()
