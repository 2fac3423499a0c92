"""Worker processes for CPU-bound work over many files (ELF inspection, stripping).

Workers start from a fresh interpreter (multiprocessing's ``forkserver``, or ``spawn`` where it is missing), never by
forking harden itself: a forked worker maps harden's whole heap copy-on-write (the image model, every stage's
plan), and each one counts it again in its resident memory. What a worker needs travels as its arguments.

A run owns its fork server (``worker_server``): started when the run begins, in the background, so that the first
pool does not wait for it, and stopped when the run ends, its socket folder removed.
The server imports the workers' modules once, and every worker starts with them loaded.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Generic, TypeVar, cast

S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")

START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
WORKER_MODULES = ("harden.report.analysis", "harden.stages.strip_debug")
"""What the workers run, imported once by the fork server."""


def _context() -> Any:
    context = multiprocessing.get_context(START_METHOD)
    if START_METHOD == "forkserver":
        context.set_forkserver_preload(["__main__", *WORKER_MODULES])
    return context


@contextlib.contextmanager
def worker_server() -> Iterator[None]:
    """The fork server of one run: started now, stopped when the block ends, whatever ends it; its socket in a
    folder of its own in the temp folder (a Unix socket path must stay short: not in a workspace that may sit
    anywhere), removed with it."""
    if START_METHOD != "forkserver":
        yield
        return
    from multiprocessing import forkserver, process

    # Two private parts of multiprocessing (CPython 3.8 to 3.13): the process's temp folder setting, which
    # get_temp_dir() reads before making a pymp-* folder of its own (removed only when the process exits), and
    # ForkServer._stop(), which its own tests use.
    config: dict[str, Any] = cast(Any, process.current_process())._config
    server: Any = cast(Any, forkserver)._forkserver
    previous = config.get("tempdir")
    folder = tempfile.mkdtemp(prefix="hw-")  # short: a socket path has at most 107 bytes
    config["tempdir"] = folder
    try:
        _context()
        forkserver.ensure_running()
        yield
    finally:
        try:
            server._stop()
        finally:
            config["tempdir"] = previous
            shutil.rmtree(folder, ignore_errors=True)


def pause_workers() -> None:
    """Stop the run's fork server and multiprocessing's resource tracker (together ~50 MB resident) while no
    pool needs them: during verification, when the probe containers peak. The next pool starts both again, with
    the same preload, in the same socket folder (a fraction of a second)."""
    if START_METHOD != "forkserver":
        return
    from multiprocessing import forkserver, resource_tracker

    # Private, like ForkServer._stop() above: ResourceTracker._stop() (CPython 3.11.5+, 3.12+), which its tests use.
    cast(Any, forkserver)._forkserver._stop()
    tracker: Any = cast(Any, resource_tracker)._resource_tracker
    if hasattr(tracker, "_stop"):
        tracker._stop()


def process_pool(workers: int, *, initializer: Callable[..., object] | None = None,
                 initargs: tuple[Any, ...] = ()) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes started with ``START_METHOD`` (inside ``worker_server``, the run's)."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=_context(), initializer=initializer,
                               initargs=initargs)


def map_chunks(workers: int, work: Callable[[S, Sequence[T]], list[R]], items: Sequence[T], size: int,
               state: S) -> list[R]:
    """``work(state, chunk)`` over ``items`` in chunks of ``size``, in up to ``workers`` processes (at least one,
    never this process); the results in order. ``state`` (a blob store …) is pickled once per worker, not per
    chunk; ``work`` is a module-level function."""
    return start_chunks(workers, work, items, size, state).results()


class StartedChunks(Generic[R]):
    """Chunks given to worker processes that run while this process goes on; ``results()`` waits for them (in
    order) and stops the pool, ``cancel()`` stops it without them. One of the two must be called."""

    def __init__(self, pool: ProcessPoolExecutor | None, futures: list[Future[list[R]]]) -> None:
        self._pool = pool
        self._futures = futures

    def results(self) -> list[R]:
        try:
            return [result for future in self._futures for result in future.result()]
        finally:
            self.cancel()

    def cancel(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def start_chunks(workers: int, work: Callable[[S, Sequence[T]], list[R]], items: Sequence[T], size: int,
                 state: S) -> StartedChunks[R]:
    """``map_chunks`` started: the workers run while the caller goes on (``StartedChunks.results()``)."""
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    if not chunks:
        return StartedChunks(None, [])
    pool = process_pool(max(1, min(workers, len(chunks))), initializer=_hold, initargs=(state,))
    try:
        return StartedChunks(pool, [pool.submit(_apply, work, chunk) for chunk in chunks])
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise


_held: Any = None
"""In a worker process: the state ``map_chunks`` gave it."""


def _hold(state: object) -> None:
    global _held
    _held = state


def _apply(work: Callable[[Any, Sequence[Any]], list[Any]], chunk: Sequence[Any]) -> list[Any]:
    return work(_held, chunk)
