"""harden.workers: worker processes start from a fresh interpreter, not as forks of harden's heap."""

from __future__ import annotations

import os

from harden import workers

PARENT_ONLY: list[str] = []
"""Filled in the parent at run time: a forked worker would see it, a freshly started one cannot."""


def _seen_in_worker() -> tuple[list[str], int]:
    return list(PARENT_ONLY), os.getppid()


def test_workers_do_not_inherit_the_parents_heap() -> None:
    PARENT_ONLY.append("state built by the parent after import")
    try:
        with workers.process_pool(1) as pool:
            seen, parent = pool.submit(_seen_in_worker).result(timeout=60)
    finally:
        PARENT_ONLY.clear()
    assert workers.START_METHOD in {"forkserver", "spawn"}
    assert seen == []
    if workers.START_METHOD == "forkserver":
        assert parent != os.getpid()  # forked by the fork server, not by this process
