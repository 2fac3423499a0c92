"""Waiting for a helper thread whatever the run's own thread is told meanwhile."""

from __future__ import annotations

import threading


def join_whole(thread: threading.Thread) -> KeyboardInterrupt | None:
    """Wait until ``thread`` has ended. A Ctrl-C (or SIGTERM's ``Terminated``) meanwhile does not cut the wait
    short: it is returned, for the caller to raise once what the thread did is accounted for (an image a load
    made after the run's cleanup would stay in the engine)."""
    interrupted: KeyboardInterrupt | None = None
    while thread.is_alive():
        try:
            thread.join()
        except KeyboardInterrupt as exc:
            interrupted = exc
    return interrupted
