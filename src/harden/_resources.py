"""Where the reviewable data (top-level ``stages/`` and ``policies/``) lives: package data in a wheel, the
repository's top-level folders in a source checkout or editable install."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path


@cache
def data_dir(kind: str) -> Path:
    """``kind`` is "stages" or "policies"."""
    packaged = Path(str(resources.files("harden"))) / "_data" / kind
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / kind
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"harden data folder {kind!r} is missing from the installation")
