"""The policy's smoke snippets in ``walk.py survey``: pass only on exit 0 in time, record the files they read and
wrote, and run ``jobs`` at a time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from verify_support import ScriptCall, config, of_type

WAIT_FOR_OTHER = """\
import os, sys, time
home = os.environ["HOME"]
open(os.path.join(home, "{me}"), "w").close()
deadline = time.monotonic() + 8
while not os.path.exists(os.path.join(home, "{other}")):
    if time.monotonic() > deadline:
        sys.exit("never saw {other}")
    time.sleep(0.05)
"""


def smoke(run_script: ScriptCall, python: str, *snippets: tuple[str, str, int], jobs: int = 2,
          path: Path | None = None) -> dict[str, dict[str, Any]]:
    """Smoke snippets alone (no interpreter walked): {name: smoke line}."""
    tests = [{"name": name, "code": code, "timeout": timeout} for name, code, timeout in snippets]
    done = run_script("walk", "survey", config(interpreters=[], smoke_interpreter=python, smoke=tests, jobs=jobs),
                      path=path)
    assert done.returncode == 0, done.stderr
    assert of_type(done.stdout, "done")
    assert not of_type(done.stdout, "module")
    return {line["name"]: line for line in of_type(done.stdout, "smoke")}


def test_a_snippet_passes_only_on_exit_zero_in_time(run_script: ScriptCall, python: str) -> None:
    results = smoke(run_script, python,
                    ("passes", "import json; print(json.dumps([1]))", 30),
                    ("fails", "import sys; sys.stderr.write('broken here\\n'); raise SystemExit(4)", 30),
                    ("hangs", "import time; time.sleep(600)", 2))
    assert (results["passes"]["passed"], results["passes"]["returncode"]) == (True, 0)
    assert results["passes"]["stdout"] == "[1]\n"
    assert (results["fails"]["passed"], results["fails"]["returncode"]) == (False, 4)
    assert "broken here" in results["fails"]["stderr"]
    assert (results["hangs"]["passed"], results["hangs"]["timed_out"], results["hangs"]["returncode"]) == (
        False, True, None)


def test_a_snippet_records_the_files_it_reads_and_writes(run_script: ScriptCall, python: str, tmp_path: Path,
                                                         home: Path) -> None:
    data = tmp_path / "lookup.csv"
    data.write_text("a,b\n")
    code = f"open({str(data)!r}).read()\nopen({str(home / 'out.txt')!r}, 'w').write('x')\nimport json\n"
    (result,) = smoke(run_script, python, ("files", code, 30)).values()
    assert result["passed"] is True
    assert result["opened"] == [str(data)]  # json's sources and bytecode are not listed
    assert result["writes"] == [str(home / "out.txt")]


def test_snippets_run_in_parallel(run_script: ScriptCall, python: str, home: Path) -> None:
    """Each snippet waits for the other's marker: both pass only when they run at the same time."""
    first = WAIT_FOR_OTHER.format(me="first", other="second")
    second = WAIT_FOR_OTHER.format(me="second", other="first")
    together = smoke(run_script, python, ("first", first, 30), ("second", second, 30), jobs=2)
    assert {name: line["passed"] for name, line in together.items()} == {"first": True, "second": True}
    for marker in home.iterdir():
        marker.unlink()
    one_by_one = smoke(run_script, python, ("first", first, 30), ("second", second, 30), jobs=1)
    assert {name: line["passed"] for name, line in one_by_one.items()} == {"first": False, "second": True}
    assert "never saw second" in one_by_one["first"]["stderr"]
