"""The bare start (``python -c pass``) comparison: new stderr lines or a new non-zero exit are failures; what
the original already printed is not blamed. And report.md shows it."""

from __future__ import annotations

from harden.report.markdown_verify import verification_lines
from harden.verify.result import CleanStart, VerificationReport

PTH_ERROR = "Error processing line 1 of /usr/lib/python3/dist-packages/distutils-precedence.pth:"


def test_a_clean_start_is_not_a_failure() -> None:
    assert CleanStart("/usr/bin/python3", 0, 0).failure() is None


def test_new_stderr_is_a_failure_naming_the_first_lines() -> None:
    start = CleanStart("/usr/bin/python3", 0, 0, (PTH_ERROR, "ModuleNotFoundError: No module named 'x'"))
    assert start.failure() == (f"/usr/bin/python3 prints new errors at start-up: {PTH_ERROR} | "
                               "ModuleNotFoundError: No module named 'x'")


def test_a_start_that_now_fails_or_hangs_is_a_failure() -> None:
    assert CleanStart("/py", 0, 1).failure() == "/py -c pass exits 1 in the hardened image (0 in the original)"
    assert CleanStart("/py", 0, None).failure() == "/py -c pass timed out in the hardened image (0 in the original)"
    assert CleanStart("/py", 1, 1).failure() is None  # broken in the original too: not blamed


def test_the_report_fails_on_a_broken_start_and_renders_it() -> None:
    broken = CleanStart("/usr/bin/python3", 0, 0, (PTH_ERROR,))
    report = VerificationReport("original", "hardened", "sandbox", clean_starts=(broken,))
    assert broken.failure() in report.failures()
    details = report.to_dict()
    assert details["clean_starts"][0]["new_stderr"] == [PTH_ERROR]
    text = "\n".join(verification_lines({"failures": report.failures(), "details": details}, "FAILED"))
    assert "### Bare start" in text and "distutils-precedence.pth" in text


def test_clean_starts_render_as_one_line() -> None:
    report = VerificationReport("o", "h", "engine", clean_starts=(CleanStart("/opt/venv/bin/python3", 0, 0),))
    text = "\n".join(verification_lines({"failures": [], "details": report.to_dict()}, "PASSED"))
    assert "`python -c pass` starts as cleanly as in the original with `/opt/venv/bin/python3`" in text
    assert "Other verification results" not in text
