"""The in-image scripts' sources (``harden/verify/inimage``), as the runners pass them: ``python -c SOURCE``."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

MAX_SOURCE = 100_000
"""A script travels as one argv string; Linux refuses a single argument over 128 KiB."""

Script = Literal["walk", "facts"]


@cache
def script_source(name: Script) -> str:
    source = (Path(__file__).parent / "inimage" / f"{name}.py").read_text(encoding="utf-8")
    if len(source.encode()) > MAX_SOURCE:
        raise AssertionError(f"inimage/{name}.py grew past the size one argv string can carry")
    return source
