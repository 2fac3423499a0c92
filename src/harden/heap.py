"""The C heap of harden's own process: its free pages given back to the system before verification, when the
probe containers peak. The stages free far more than they keep (a deps-image run: 202 MB resident before, 169 MB
after, bench/results); glibc keeps freed pages mapped unless asked."""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to ask
        return None
    return trim


def release_free_heap() -> None:
    """glibc's ``malloc_trim(0)``: free pages anywhere in the heap, not only at its top, go back to the system."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
