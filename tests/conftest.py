"""Under CI (``CI`` set; ``.ci/run`` sets it) a skipped test is a failure: a missing prerequisite must never turn
CI green. Outside CI a skip stays a skip, with its reason (``pytest -rs`` lists them).

A test run launched in the background without job control (``cmd &`` in a script) inherits SIGINT ignored; Python
then keeps it ignored, and so does every child it starts (an ignored signal stays ignored across exec): the tests
that interrupt harden with Ctrl-C would see it run on. So SIGINT gets Python's usual handler back here, once,
before any test starts a child; a child's exec then resets it to the default, as in an interactive shell."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if not os.environ.get("CI") or not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped under CI (a prerequisite is missing; CI must run every test): {reason}"
