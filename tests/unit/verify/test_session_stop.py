"""The assertion probes of both images run at once (``_Session.both``; the surveys and the rechecks run one image
after the other); whatever stops one side stops the other's runner before it propagates, and waits for its run to
end: an interrupted verification leaves no probe running, so the hardened image it loaded can be removed. A run
asked for after a stop never starts: that is the runners' part, tested in tests/integration/test_verify.py (engine)
and tests/unit/verify/test_sandbox_runner.py (bwrap)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, cast

import pytest

from harden.policy import VerifySettings
from harden.verify.accounting import Ledger, Removal, account_losses
from harden.verify.api import _Session
from harden.verify.result import ModuleLoss, ModuleOutcome, OutcomeKind
from harden.verify.runners import Confinement, RunResult
from harden.verify.survey import InterpreterSurvey


class Idle:
    kind = "idle"

    def run(self, argv: Sequence[str], *, timeout: float,
            confinement: Confinement = Confinement.STANDARD) -> RunResult:
        return RunResult(0, "", "")

    def stop(self) -> None:
        return None


class RunsUntilStopped:
    """A runner keeping the ProbeRunner contract (``stop()`` ends the run going and refuses later ones, as
    EngineRunner and SandboxRunner do, each tested against the real engine and bwrap): its run goes on until
    stopped (30 s at most)."""

    kind = "until-stopped"

    def __init__(self) -> None:
        self.started = threading.Event()
        self.stopped = threading.Event()
        self.returned = False

    def run(self, argv: Sequence[str], *, timeout: float,
            confinement: Confinement = Confinement.STANDARD) -> RunResult:
        self.started.set()
        killed = self.stopped.wait(30)
        self.returned = True
        return RunResult(-9 if killed else 0, "", "")

    def stop(self) -> None:
        self.stopped.set()


def session(before: Any, after: Any) -> _Session:
    unused = cast(Any, None)
    return _Session(unused, unused, VerifySettings.of(), before, after, 1, (), Ledger(), (), lambda done, total: None)


def test_an_interrupt_on_one_side_stops_the_other_sides_run_before_it_propagates() -> None:
    other = RunsUntilStopped()

    def interrupted() -> None:
        assert other.started.wait(30)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        session(Idle(), other).both(interrupted, lambda: other.run(["probe"], timeout=600))
    assert other.stopped.is_set(), "the other side's runner was not stopped"
    assert other.returned, "the other side's run was still going when the interrupt propagated"


def test_without_an_interrupt_both_sides_return_their_values_and_an_error_beside_propagates() -> None:
    both = session(Idle(), Idle()).both
    assert both(lambda: 1, lambda: "two") == (1, "two")

    def fails() -> str:
        raise ValueError("beside")

    with pytest.raises(ValueError, match="beside"):
        both(lambda: 1, fails)


class Recording:
    """A runner that answers the walk's recheck commands (every target fails) and records, in a log it shares
    with the other image's runner, which image ran which command with how many jobs, and how many runs were
    under way at once at most."""

    kind = "recording"

    def __init__(self, label: str, log: list[tuple[str, str, int]], running: list[int]) -> None:
        self.label, self.log, self.running = label, log, running
        self.lock = threading.Lock()

    def run(self, argv: Sequence[str], *, timeout: float,
            confinement: Confinement = Confinement.STANDARD) -> RunResult:
        config = json.loads(argv[-1])
        self.running[0] += 1
        self.running[1] = max(self.running[1], self.running[0])
        self.log.append((self.label, argv[-2], int(config["jobs"])))
        time.sleep(0.05)  # a side run beside this one would start meanwhile
        self.running[0] -= 1
        lines = [json.dumps({"type": "module", "module": target, "kind": "error", "error": "ImportError: gone"})
                 for target in config["targets"]]
        return RunResult(0, "\n".join(lines), "")

    def stop(self) -> None:
        return None


@pytest.mark.parametrize("jobs", [1, 2, 3, 4])
def test_rechecks_run_one_image_after_the_other_each_with_every_job(jobs: int) -> None:
    """Each side's fresh interpreters import a module and all it needs (139-146 MB resident each on the 3.3x
    bench image): one side after the other, no more than ``jobs`` run at once, and when one side needs less time
    than the other no core waits for it."""
    log: list[tuple[str, str, int]] = []
    running = [0, 0]
    before, after = Recording("original", log, running), Recording("hardened", log, running)
    lost = ModuleOutcome("pkg.mod", OutcomeKind.ERROR, "ImportError: gone")
    candidate = ModuleLoss("pkg.mod", ModuleOutcome("pkg.mod", OutcomeKind.OK), lost)
    the_session = session(before, after)
    the_session.jobs = jobs
    the_session.original = cast(Any, SimpleNamespace(label="original"))
    the_session.hardened = cast(Any, SimpleNamespace(label="hardened"))
    the_session._recheck("/usr/bin/python3", [candidate], InterpreterSurvey("/usr/bin/python3"), (), tuple)
    assert log == [("hardened", "imports", jobs), ("hardened", "recheck", jobs), ("original", "recheck", jobs)]
    assert running[1] == 1


class FailsOn:
    """A runner whose every import fails with ``error`` (the walk's recheck commands), recording the commands."""

    kind = "fails-on"

    def __init__(self, error: str) -> None:
        self.error = error
        self.asked: list[tuple[str, tuple[str, ...]]] = []

    def run(self, argv: Sequence[str], *, timeout: float,
            confinement: Confinement = Confinement.STANDARD) -> RunResult:
        config = json.loads(argv[-1])
        self.asked.append((argv[-2], tuple(config["targets"])))
        lines = [json.dumps({"type": "module", "module": target, "kind": "error", "error": self.error})
                 for target in config["targets"]]
        return RunResult(0, "\n".join(lines), "")

    def stop(self) -> None:
        return None


@pytest.mark.parametrize("error, alone", [
    ("ModuleNotFoundError: No module named 'setuptools'", False),  # a distribution removed on purpose
    ("ModuleNotFoundError: No module named 'pkg.tests'", False),  # a module whose file is gone, on purpose
    ("ModuleNotFoundError: No module named 'yaml'", True),  # nothing accounts it: imported alone on both sides
    ("ImportError: gone", True),
])
def test_a_loss_a_deliberate_removal_explains_is_not_imported_alone(error: str, alone: bool) -> None:
    """What still fails in a standard container for want of a module removed on purpose is a loss whatever the
    import order: the fresh-interpreter rechecks (8-10 s for 10 modules per side on the deps image) run only for
    the losses nothing accounts, where the import order could turn a failure into a pass."""
    before, after = FailsOn("unused"), FailsOn(error)
    the_session = session(before, after)
    the_session.original = cast(Any, SimpleNamespace(label="original"))
    the_session.hardened = cast(Any, SimpleNamespace(label="hardened"))
    origin = "/venv/pkg/tests/__init__.py"
    gone = ModuleLoss("pkg.tests", ModuleOutcome("pkg.tests", OutcomeKind.OK, origin=origin),
                      ModuleOutcome("pkg.tests", OutcomeKind.NOT_RUN, "its file is gone"))
    ledger = Ledger.of([Removal("remove-tests", "test suite", "/venv/pkg/tests", True)],
                       distributions=["setuptools"])
    candidate = ModuleLoss("pkg.mod", ModuleOutcome("pkg.mod", OutcomeKind.OK, origin="/venv/pkg/mod.py"),
                           ModuleOutcome("pkg.mod", OutcomeKind.ERROR, error))
    lost, order_dependent = the_session._recheck(
        "/usr/bin/python3", [candidate], InterpreterSurvey("/usr/bin/python3"), [gone],
        lambda losses: account_losses(losses, ledger))
    assert after.asked[0] == ("imports", ("pkg.mod",))
    assert [command for command, _ in after.asked[1:]] == (["recheck"] if alone else [])
    assert [command for command, _ in before.asked] == (["recheck"] if alone else [])
    assert order_dependent == (["pkg.mod"] if alone else [])  # the original's alone import failed ("unused")
    if not alone:
        assert [loss.module for loss in lost] == ["pkg.mod"]
        assert lost[0].after.error == error and not lost[0].after.isolated
        assert account_losses([*lost, gone], ledger)[0].accounting is not None
