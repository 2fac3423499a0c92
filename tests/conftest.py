"""Under CI (``CI`` set; ``.ci/run`` sets it) a skipped test is a failure: a missing prerequisite must never turn
CI green. Outside CI a skip stays a skip, with its reason (``pytest -rs`` lists them)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if not os.environ.get("CI") or not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped under CI (a prerequisite is missing; CI must run every test): {reason}"
