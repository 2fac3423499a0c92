"""The host side through a runner (``LocalRunner``: the host's Python standing in for an image's): a survey
and its failures, rechecks alone or in shared workers, and the facts probe."""

from __future__ import annotations

from pathlib import Path

import pytest
from verify_support import LocalRunner, write_tree

from harden.verify import survey as survey_module
from harden.verify.probes import FactsProbe, ProbeFailed
from harden.verify.result import OutcomeKind
from harden.verify.runners import Confinement
from harden.verify.scripts import script_source
from harden.verify.survey import SmokeSpec, SurveyRequest, recheck, survey_image

SITE = {
    "good/__init__.py": "",
    "good/part.py": "X = 1\n",
    "bad.py": "import nowhere_to_be_found\n",
    "slow.py": "import time\ntime.sleep(600)\n",
    "demo-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: demo\nVersion: 0.1\n",
    "demo-0.1.dist-info/entry_points.txt": "[console_scripts]\ndemo = good.part:X\n",
    "demo-0.1.dist-info/top_level.txt": "good\n",
}
MISSING = "/nonexistent/python3"


@pytest.fixture
def local(tmp_path: Path) -> LocalRunner:
    site = write_tree(tmp_path / "site", SITE)
    home = tmp_path / "home"
    home.mkdir()
    return LocalRunner({"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site), "HOME": str(home)}, tmp_path)


def test_a_survey_through_a_runner(local: LocalRunner, python: str) -> None:
    request = SurveyRequest((python,), timeout_seconds=5, targets=("json:loads",),
                            smoke=(SmokeSpec("uses good", "import good.part", 30),))
    survey = survey_image(local, "original", request, python, Confinement.STANDARD)
    assert survey.failure == ""
    interp = survey.interpreters[python]
    assert interp.error == ""
    outcomes = {name: interp.modules[name].kind for name in ("good", "good.part", "good.part:X", "json:loads",
                                                              "bad", "slow")}
    assert outcomes == {"good": OutcomeKind.OK, "good.part": OutcomeKind.OK, "good.part:X": OutcomeKind.OK,
                        "json:loads": OutcomeKind.OK, "bad": OutcomeKind.ERROR, "slow": OutcomeKind.TIMEOUT}
    assert interp.distributions["demo"].entry_points == (("console_scripts", "demo", "good.part:X"),)
    assert survey.smoke["uses good"].run.passed
    ((argv, confinement),) = local.calls
    assert argv[:4] == [python, "-c", script_source("walk"), "survey"] and confinement is Confinement.STANDARD


def test_a_survey_without_an_interpreter_fails_without_running(local: LocalRunner) -> None:
    survey = survey_image(local, "hardened", SurveyRequest(()), None, Confinement.RESTRICTED)
    assert survey.failure == "no Python interpreter to run the probe in the hardened image"
    assert local.calls == []


def test_a_survey_that_cannot_start_says_how_it_stopped(local: LocalRunner) -> None:
    survey = survey_image(local, "hardened", SurveyRequest((MISSING,)), MISSING, Confinement.RESTRICTED)
    assert survey.failure.startswith("the probe stopped in the hardened image (exit code 127): ")
    assert MISSING in survey.failure


def test_a_survey_that_runs_out_of_time_says_so(local: LocalRunner, python: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(survey_module, "SURVEY_TIMEOUT", 2.0)
    request = SurveyRequest((), smoke=(SmokeSpec("sleeps", "import time; time.sleep(60)", 600),),
                            smoke_interpreter=python)
    survey = survey_image(local, "hardened", request, python, Confinement.RESTRICTED)
    assert survey.failure.startswith("the probe stopped in the hardened image (timed out)")


def test_recheck_alone_or_in_shared_workers(local: LocalRunner, python: str) -> None:
    targets = ["good.part", "bad", "slow"]
    alone = recheck(local, "hardened", python, targets, 5, Confinement.STANDARD)
    assert {name: (o.kind, o.isolated) for name, o in alone.items()} == {
        "good.part": (OutcomeKind.OK, True), "bad": (OutcomeKind.ERROR, True), "slow": (OutcomeKind.TIMEOUT, True)}
    shared = recheck(local, "hardened", python, targets, 5, Confinement.RESTRICTED, alone=False)
    assert {name: (o.kind, o.isolated) for name, o in shared.items()} == {
        "good.part": (OutcomeKind.OK, False), "bad": (OutcomeKind.ERROR, False),
        "slow": (OutcomeKind.TIMEOUT, False)}
    assert [(argv[3], confinement) for argv, confinement in local.calls] == [
        ("recheck", Confinement.STANDARD), ("imports", Confinement.RESTRICTED)]
    assert recheck(local, "hardened", python, [], 2, Confinement.STANDARD) == {}
    assert len(local.calls) == 2


def test_a_recheck_that_cannot_run_leaves_every_target_not_run_with_the_reason(local: LocalRunner) -> None:
    outcomes = recheck(local, "hardened", MISSING, ["good", "bad"], 2, Confinement.STANDARD)
    assert {o.kind for o in outcomes.values()} == {OutcomeKind.NOT_RUN}
    assert outcomes["good"].error.startswith("the recheck stopped: exit code 127")


def test_the_facts_probe_runs_with_a_writable_root_and_times_start_up(local: LocalRunner, python: str) -> None:
    probe = FactsProbe(local, python, "original")
    facts = probe.facts(["sh"])
    assert facts["home_writable"] is True and "/bin/sh" in facts["shells_on_disk"]
    assert local.calls[-1][1] is Confinement.WRITABLE
    startup = probe.startup(["json", "good"], 2)
    assert startup.median is not None and startup.median > 0 and startup.error == ""
    failed = probe.startup(["bad"], 1)
    assert failed.median is None and "nowhere_to_be_found" in failed.error


def test_the_facts_probe_fails_when_the_interpreter_cannot_run(local: LocalRunner) -> None:
    probe = FactsProbe(local, MISSING, "hardened")
    with pytest.raises(ProbeFailed, match=r"probe assert could not run in the hardened image with "
                                          r"/nonexistent/python3 \(exit code 127\)"):
        probe.facts([])
    with pytest.raises(ProbeFailed, match="probe startup could not run"):
        probe.startup(["json"], 1)
