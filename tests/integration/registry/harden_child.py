"""What a ``python -m harden`` child process did (the ``harden`` fixture of conftest runs it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HardenRun:
    code: int
    stdout: str
    stderr: str
