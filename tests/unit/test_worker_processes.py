"""harden.workers: worker processes start from a fresh interpreter, not as forks of harden's heap."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from multiprocessing import forkserver, resource_tracker
from pathlib import Path

import pytest

from harden import heap, workers

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


def test_a_runs_worker_server_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside ``worker_server`` pools work; after it the server is gone and the temp folder is as it was."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with workers.worker_server():
        with workers.process_pool(1) as pool:
            assert pool.submit(_seen_in_worker).result(timeout=60)[0] == []
        if workers.START_METHOD == "forkserver":
            server = forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
            assert server is not None and os.path.exists(f"/proc/{server}")
    assert list(tmp_path.iterdir()) == []
    if workers.START_METHOD == "forkserver":
        assert forkserver._forkserver._forkserver_pid is None  # type: ignore[attr-defined]
        assert not os.path.exists(f"/proc/{server}")


@pytest.mark.parametrize("pause", [workers.pause_workers, heap.release_for_probes], ids=["pause", "for-probes"])
def test_paused_workers_free_their_processes_and_the_next_pool_starts_them_again(
        pause: Callable[[], None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What verification does (``heap.release_for_probes``, which both verifying commands call): pools before,
    the fork server and the resource tracker stopped while the probes run, pools after (the reports') working as
    before, and nothing left behind at the end."""
    if workers.START_METHOD != "forkserver":  # nothing to stop: pausing changes nothing
        pause()
        with workers.process_pool(1) as pool:
            assert pool.submit(_seen_in_worker).result(timeout=60)[0] == []
        return
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    tracker = resource_tracker._resource_tracker  # type: ignore[attr-defined]
    with workers.worker_server():
        with workers.process_pool(1) as pool:
            assert pool.submit(_seen_in_worker).result(timeout=60)[0] == []
        server, helper = forkserver._forkserver._forkserver_pid, tracker._pid  # type: ignore[attr-defined]
        assert server is not None and helper is not None
        pause()
        assert not os.path.exists(f"/proc/{server}") and not os.path.exists(f"/proc/{helper}")
        with workers.process_pool(1) as pool:
            assert pool.submit(_seen_in_worker).result(timeout=60)[0] == []
        assert forkserver._forkserver._forkserver_pid not in (None, server)  # type: ignore[attr-defined]
    assert list(tmp_path.iterdir()) == []


def _tag_chunk(state: dict[str, int], chunk: Sequence[int]) -> list[tuple[int, int, int, int]]:
    state["calls"] += 1  # the worker's own copy: a state pickled once per worker counts its chunks
    return [(item, state["base"], state["calls"], os.getpid()) for item in chunk]


@pytest.mark.parametrize("jobs", [1, 2])
def test_map_chunks_keeps_the_order_and_gives_each_worker_the_state_once(jobs: int) -> None:
    state = {"base": 7, "calls": 0}
    results = workers.map_chunks(jobs, _tag_chunk, list(range(10)), 3, state)
    assert [item for item, _, _, _ in results] == list(range(10))
    assert {base for _, base, _, _ in results} == {7}
    assert os.getpid() not in {pid for _, _, _, pid in results}
    assert 1 <= len({pid for _, _, _, pid in results}) <= jobs
    calls = {pid: max(c for _, _, c, p in results if p == pid) for _, _, _, pid in results}
    assert sum(calls.values()) == 4  # 4 chunks; a state pickled with each chunk would count 1 in every call
    assert state["calls"] == 0
    assert workers.map_chunks(jobs, _tag_chunk, [], 3, state) == []


def _wait_for_file(folder: str, chunk: Sequence[str]) -> list[tuple[str, int]]:
    """Waits (at most 10 s) for a file this test's process writes only after start_chunks has returned."""
    for _ in range(200):
        if (Path(folder) / chunk[0]).exists():
            return [(chunk[0], os.getpid())]
        time.sleep(0.05)
    return [("timed out", os.getpid())]


def _mark_chunk(folder: str, chunk: Sequence[int]) -> list[int]:
    (Path(folder) / f"ran-{chunk[0]}").touch()
    time.sleep(0.2)
    return list(chunk)


def test_started_chunks_run_while_this_process_goes_on(tmp_path: Path) -> None:
    started = workers.start_chunks(1, _wait_for_file, ["go"], 1, str(tmp_path))
    (tmp_path / "go").touch()  # a start_chunks that waited for its workers would never get here in time
    results = started.results()
    assert [name for name, _ in results] == ["go"]
    assert results[0][1] != os.getpid()


def test_cancelled_chunks_stop_their_pool_before_the_queued_ones_run(tmp_path: Path) -> None:
    started = workers.start_chunks(1, _mark_chunk, list(range(20)), 1, str(tmp_path))
    started.cancel()
    ran = len(list(tmp_path.glob("ran-*")))
    assert ran < 20  # the chunks still queued when cancel() came were dropped, not run
