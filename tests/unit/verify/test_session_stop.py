"""Both images are probed at once (``_Session.both``); whatever stops one side stops the other's runs before it
propagates, even a run the other side starts just after the first stop (its container was still being created):
an interrupted verification leaves no probe running, so the hardened image it loaded can be removed."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, cast

import pytest

from harden.policy import VerifySettings
from harden.verify.accounting import Ledger
from harden.verify.api import _Session
from harden.verify.runners import Confinement, RunResult


class Idle:
    kind = "idle"

    def run(self, argv: Sequence[str], *, timeout: float,
            confinement: Confinement = Confinement.STANDARD) -> RunResult:
        return RunResult(0, "", "")

    def stop(self) -> None:
        return None


class StartsLate:
    """A run that only becomes stoppable after the first ``stop()`` (as a container whose creation was under way
    when the interrupt came), then runs until a ``stop()`` kills it (30 s at most)."""

    kind = "late"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = threading.Event()
        self.first_stop = threading.Event()
        self.killed = threading.Event()
        self.active = False
        self.returned = False

    def run(self, argv: Sequence[str], *, timeout: float,
            confinement: Confinement = Confinement.STANDARD) -> RunResult:
        self.started.set()
        self.first_stop.wait(30)
        with self.lock:
            self.active = True
        killed = self.killed.wait(30)
        with self.lock:
            self.active = False
        self.returned = True
        return RunResult(-9 if killed else 0, "", "")

    def stop(self) -> None:
        with self.lock:
            if self.active:
                self.killed.set()
        self.first_stop.set()


def session(before: Any, after: Any) -> _Session:
    unused = cast(Any, None)
    return _Session(unused, unused, VerifySettings.of(), before, after, 1, (), Ledger(), (), lambda done, total: None)


def test_an_interrupt_stops_a_run_the_other_side_started_after_the_first_stop() -> None:
    late = StartsLate()

    def interrupted() -> None:
        assert late.started.wait(30)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        session(Idle(), late).both(interrupted, lambda: late.run(["probe"], timeout=600))
    assert late.returned, "the other side's run was still going when the interrupt propagated"
    assert late.killed.is_set() and not late.active


def test_without_an_interrupt_both_sides_return_their_values_and_an_error_beside_propagates() -> None:
    both = session(Idle(), Idle()).both
    assert both(lambda: 1, lambda: "two") == (1, "two")

    def fails() -> str:
        raise ValueError("beside")

    with pytest.raises(ValueError, match="beside"):
        both(lambda: 1, fails)
