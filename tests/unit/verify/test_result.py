"""``VerificationReport``: one failure line per reason to refuse the hardened image (lost modules with their
hints, files read that are gone, metadata, smoke, start-up, assertions, zero modules walked), the summary, and
the JSON document."""

from __future__ import annotations

import json

import pytest

from harden.errors import VerificationFailed
from harden.verify.api import raise_for_failures
from harden.verify.result import (
    Accounting,
    Assertion,
    CleanStart,
    ImportDiff,
    MetadataDiff,
    ModuleChange,
    ModuleLoss,
    ModuleOutcome,
    OutcomeKind,
    SmokeResult,
    SmokeRun,
    StartupCost,
    TouchedFile,
    VerificationReport,
    WritableNeed,
)

PY = "/opt/venv/bin/python3"
SITE = "/opt/venv/lib/python3.11/site-packages"


def lost(module: str, error: str, hint: str = "", accounting: Accounting | None = None) -> ModuleLoss:
    return ModuleLoss(module, ModuleOutcome(module, OutcomeKind.OK, origin=f"{SITE}/{module.replace('.', '/')}.py"),
                      ModuleOutcome(module, OutcomeKind.ERROR, error, isolated=True), accounting, hint)


REGRESSION = lost("app.core", "ModuleNotFoundError: No module named 'app.helpers'",
                  hint=f"{SITE}/app/helpers was removed by remove-docs (documentation)")
ACCOUNTED = lost("pandas.tests.test_x", "ModuleNotFoundError: gone",
                 accounting=Accounting("remove-tests", "test suite", f"{SITE}/pandas/tests"))
PREEXISTING = ModuleChange("tkinter", ModuleOutcome("tkinter", OutcomeKind.ERROR, "no libtk"),
                           ModuleOutcome("tkinter", OutcomeKind.ERROR, "no libtk"))


def surface(interpreter: str = PY, total: int = 40) -> ImportDiff:
    return ImportDiff(interpreter, total, 38, 36, (REGRESSION,), (ACCOUNTED,), (PREEXISTING,),
                      skipped=(("__main__ module: importing it runs the program", 2),))


def full_report() -> VerificationReport:
    return VerificationReport(
        "original", "hardened", "sandbox", interpreters=(PY,),
        imports=(surface(),),
        metadata=(MetadataDiff(PY, 3, 2, missing=("requests",)),),
        smoke=(SmokeResult("parquet", PY, SmokeRun(True, "exit code 0"), SmokeRun(False, "exit code 1: boom")),
               SmokeResult("fine", PY, SmokeRun(True, "exit code 0"), SmokeRun(True, "exit code 0"))),
        assertions=(Assertion("HV-NO-SHELL", "shell=True fails", False, "it ran"),
                    Assertion("HV-NON-ROOT", "non-root", True, "uid 65532")),
        startup=StartupCost(("json",), 3, 0.1, 0.05),
        clean_starts=(CleanStart(PY, 0, 1),),
        touched=(TouchedFile(f"{SITE}/app/table.dat", ("app.core", "app.io", "app.x", "app.y"), "remove-docs",
                             "documentation"),
                 TouchedFile(f"{SITE}/pandas/tests/data.csv", ("pandas.tests.test_x",), "remove-tests",
                             "test suite", accounted=True)),
        writable=(WritableNeed("import", "matplotlib.pyplot", PY, ("/home/app/.config/matplotlib",), "OSError",
                               "set MPLCONFIGDIR to a writable mounted directory (an emptyDir)"),),
        restricted=True,
        problems=("interpreter /usr/bin/python3 is gone from the hardened image",),
    )


def test_every_reason_to_refuse_is_one_line_naming_what_broke() -> None:
    assert full_report().failures() == [
        "interpreter /usr/bin/python3 is gone from the hardened image",
        f"app.core: ModuleNotFoundError: No module named 'app.helpers' ({SITE}/app/helpers was removed by "
        "remove-docs (documentation))",
        "distribution requests is gone",
        f"{PY} -c pass exits 1 in the hardened image (0 in the original)",
        "smoke test parquet failed in the hardened image: exit code 1: boom",
        f"{SITE}/app/table.dat: read in the original by app.core, app.io, app.x (+1 more), gone from the hardened "
        "image: remove-docs removed it (documentation)",
        "HV-NO-SHELL: it ran",
    ]


def test_accounted_losses_accounted_files_failures_of_the_original_and_writable_needs_do_not_fail() -> None:
    touched = TouchedFile(f"{SITE}/pandas/tests/data.csv", ("pandas.tests.test_x",), "remove-tests", "tests",
                          accounted=True)
    report = VerificationReport(
        "o", "h", "engine", imports=(ImportDiff(PY, 40, 39, 38, (), (ACCOUNTED,), (PREEXISTING,)),),
        touched=(touched,), restricted=True,
        writable=(WritableNeed("smoke", "plot", PY, ("/tmp/x",), "exit code 1", "mount an emptyDir at /tmp"),))
    assert report.failures() == []
    assert report.ok
    assert touched.failure() is None
    assert report.summary() == ("verify h against o (engine): PASSED; 40 modules walked in 1 interpreters, 0 lost, "
                                "1 removed on purpose, 1 failing in the original too; assertions 0/0; "
                                "1 need a writable path as a restricted pod")


def test_a_lost_module_names_its_interpreter_when_there_are_several() -> None:
    report = VerificationReport("o", "h", "sandbox", imports=(surface(PY), surface("/usr/bin/python3")))
    assert f"app.core: ModuleNotFoundError: No module named 'app.helpers' [{PY}] ({REGRESSION.hint})" in \
        report.failures()


def test_a_touched_file_no_stage_removed_says_so() -> None:
    assert TouchedFile("/etc/app.conf", ("app",)).failure() == (
        "/etc/app.conf: read in the original by app, gone from the hardened image: no stage removed it")


def test_a_smoke_test_failing_in_both_images_names_both() -> None:
    result = SmokeResult("s", PY, SmokeRun(False, "exit code 2: a"), SmokeRun(False, "exit code 2: b"))
    assert result.failure() == "smoke test s failed in the original and hardened image: exit code 2: b"


def test_zero_modules_walked_or_no_environment_fails() -> None:
    empty = VerificationReport("o", "h", "engine", imports=(ImportDiff(PY, 0, 0, 0, (), (), ()),))
    assert empty.failures() == ["no import target was verified (zero modules)"]
    assert VerificationReport("o", "h", "engine").failures() == [
        "no Python environment was verified (zero import targets)"]


def test_a_skipped_verification_is_ok_and_says_so() -> None:
    report = VerificationReport("o", "h", "none", skipped=True, problems=("ignored",))
    assert report.ok and report.failures() == []
    assert report.summary() == "verification skipped for h"


def test_the_summary_of_a_failed_report() -> None:
    assert full_report().summary() == (
        "verify hardened against original (sandbox): FAILED (7 problems); 40 modules walked in 1 interpreters, "
        "1 lost, 1 removed on purpose, 1 failing in the original too; assertions 1/2; "
        "1 need a writable path as a restricted pod; startup x0.50")


def test_the_document_round_trips_through_json() -> None:
    report = full_report()
    document = json.loads(json.dumps(report.to_dict()))
    assert document == report.to_dict()
    assert (document["schema_version"], document["ok"], document["restricted"]) == (2, False, True)
    assert document["failures"] == report.failures()
    (diff,) = document["imports"]
    assert diff["counts"]["regressions"] == 1 and diff["counts"]["skipped"] == 2
    assert diff["regressions"][0] == {
        "module": "app.core", "origin": f"{SITE}/app/core.py", "after": REGRESSION.after.error,
        "after_kind": "error", "isolated": True, "accounting": None, "hint": REGRESSION.hint}
    assert diff["accounted"][0]["accounting"] == {"stage": "remove-tests", "reason": "test suite",
                                                  "path": f"{SITE}/pandas/tests", "via": ""}
    assert [t["failure"] is None for t in document["touched"]] == [False, True]
    assert document["writable"][0]["paths"] == ["/home/app/.config/matplotlib"]
    assert document["startup"]["ratio"] == 0.5


def test_raise_for_failures_carries_every_line_with_exit_code_1() -> None:
    report = full_report()
    with pytest.raises(VerificationFailed) as raised:
        raise_for_failures(report)
    assert raised.value.exit_code == 1
    assert raised.value.details == tuple(report.failures())
    raise_for_failures(VerificationReport("o", "h", "none", skipped=True))  # ok: nothing raised
