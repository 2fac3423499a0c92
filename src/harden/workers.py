"""Worker processes for CPU-bound work over many files (ELF inspection, stripping).

Workers start from a fresh interpreter (multiprocessing's ``forkserver``, or ``spawn`` where it is missing), never by
forking harden itself: a forked worker maps harden's whole heap copy-on-write (the image model, every stage's
plan), and each one counts it again in its resident memory. What a worker needs travels as its arguments.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def process_pool(workers: int, *, initializer: Callable[..., object] | None = None,
                 initargs: tuple[Any, ...] = ()) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes started with ``START_METHOD``."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(START_METHOD),
                               initializer=initializer, initargs=initargs)
