"""``parse_survey``: the walker's JSON lines into frozen values; what does not parse is ignored, a survey without
its ``done`` line is a failure, an interpreter the walker could not use carries the reason."""

from __future__ import annotations

import json
from typing import Any

from harden.verify.result import OutcomeKind, SmokeRun
from harden.verify.runners import Confinement
from harden.verify.survey import BareStart, parse_survey

PY = "/usr/bin/python3"


def line(**values: Any) -> str:
    return json.dumps(values)


MODULES = [
    line(type="module", interpreter=PY, module="a", kind="ok", error="", origin="/app/a.py", stdlib=False,
         opened=["/app/a.dat", "/app/shared.dat"], writes=[]),
    line(type="module", interpreter=PY, module="b", kind="crash", error="worker crashed", stdlib=False,
         opened=["/app/shared.dat"], writes=["/tmp/b.lock"]),
    line(type="module", interpreter=PY, module="c", kind="weird", error=""),
    line(type="module", interpreter=PY, module="json", kind="ok", error="", origin="/usr/lib/json/__init__.py",
         stdlib=True, opened=[], writes=[]),
]
ENV = line(type="env", interpreter=PY, version="3.11", stdlib_deep=False, trees=2, entry_points=0,
           skipped={"__main__ module: importing it runs the program": 3},
           distributions=[{"name": "Alpha", "version": "1.2", "entry_points": [["console_scripts", "a", "a:main"]],
                           "top_level": ["a"], "roots": ["a", "_a_vendored"]}])
START = line(type="start", interpreter=PY, exit_code=0, stderr="")
DONE = line(type="done", writable=["/tmp", "/home/app"])


def test_a_complete_survey_becomes_frozen_values() -> None:
    survey = parse_survey("original", Confinement.STANDARD, "\n".join([*MODULES, ENV, START, DONE]))
    assert (survey.label, survey.confinement, survey.failure) == ("original", Confinement.STANDARD, "")
    assert survey.writable == ("/tmp", "/home/app")
    interp = survey.interpreters[PY]
    assert (interp.error, interp.version, interp.stdlib_deep) == ("", "3.11", False)
    assert interp.modules["a"].ok and interp.modules["a"].origin == "/app/a.py"
    assert interp.modules["b"].kind is OutcomeKind.CRASH
    assert interp.modules["c"].kind is OutcomeKind.NOT_RUN  # a kind it does not know
    assert interp.modules["json"].stdlib is True
    assert dict(interp.opened) == {"/app/a.dat": ("a",), "/app/shared.dat": ("a", "b")}
    assert dict(interp.writes) == {"b": ("/tmp/b.lock",)}
    assert dict(interp.skipped) == {"__main__ module: importing it runs the program": 3}
    assert interp.start == BareStart(0, "")
    alpha = interp.distributions["alpha"]
    assert (alpha.name, alpha.version, alpha.entry_points, alpha.roots) == (
        "Alpha", "1.2", (("console_scripts", "a", "a:main"),), ("a", "_a_vendored"))


def test_garbled_and_partial_lines_are_ignored() -> None:
    stdout = "\n".join([MODULES[0], "garbage", "[1, 2]", "{not json", "", ENV, DONE,
                        '{"type": "module", "interpreter": "/usr/bin/python3", "module": "d", "ki'])
    survey = parse_survey("hardened", Confinement.RESTRICTED, stdout)
    assert survey.failure == ""
    assert set(survey.interpreters[PY].modules) == {"a"}


def test_a_survey_without_its_done_line_failed() -> None:
    survey = parse_survey("hardened", Confinement.RESTRICTED, "\n".join([MODULES[0], ENV]))
    assert survey.failure == "the probe did not finish in the hardened image"
    assert survey.interpreters[PY].modules["a"].ok  # what came before is kept
    assert parse_survey("hardened", Confinement.RESTRICTED, "").failure


def test_an_interpreter_the_walker_could_not_use_carries_the_reason() -> None:
    stdout = "\n".join([line(type="env", interpreter="/gone/python", error="no such file"), MODULES[0], DONE])
    survey = parse_survey("hardened", Confinement.RESTRICTED, stdout)
    assert survey.interpreters["/gone/python"].error == "no such file"
    assert survey.interpreters[PY].error == "the probe reported nothing about it"  # modules, but no env line


def test_smoke_lines_become_runs_with_a_one_line_detail() -> None:
    stdout = "\n".join([
        line(type="smoke", name="ok", interpreter=PY, passed=True, returncode=0, timed_out=False, stderr="",
             opened=["/data/x.csv"], writes=[]),
        line(type="smoke", name="boom", interpreter=PY, passed=False, returncode=4, timed_out=False,
             stderr="Traceback (most recent call last):\n  ...\nRuntimeError: kaputt\n\n", opened=[],
             writes=["/tmp/out"]),
        line(type="smoke", name="slow", interpreter=PY, passed=False, returncode=None, timed_out=True, stderr=""),
        DONE,
    ])
    smoke = parse_survey("original", Confinement.STANDARD, stdout).smoke
    assert smoke["ok"].run == SmokeRun(True, "exit code 0") and smoke["ok"].opened == ("/data/x.csv",)
    assert smoke["boom"].run == SmokeRun(False, "exit code 4: RuntimeError: kaputt")
    assert smoke["boom"].writes == ("/tmp/out",)
    assert smoke["slow"].run == SmokeRun(False, "did not finish in time")
