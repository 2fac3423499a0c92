"""The diff logic and the report: what is a regression, what is excused, what is only reported."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from harden.errors import VerificationFailed
from harden.verify.api import raise_for_failures
from harden.verify.diff import (
    DistributionInfo,
    diff_imports,
    diff_metadata,
    excused_modules,
    normalize,
    top_module,
)
from harden.verify.result import (
    Assertion,
    ModuleOutcome,
    OutcomeKind,
    SmokeResult,
    SmokeRun,
    StartupCost,
    VerificationReport,
)

OK = OutcomeKind.OK
ERROR = OutcomeKind.ERROR


def outcomes(**kinds: tuple[OutcomeKind, str]) -> dict[str, ModuleOutcome]:
    return {name.replace("__", "."): ModuleOutcome(name.replace("__", "."), kind, error)
            for name, (kind, error) in kinds.items()}


BEFORE = outcomes(
    sklearn=(OK, ""),
    numpy__testing=(OK, ""),
    tkinter=(ERROR, "ImportError: libtk8.6.so: cannot open shared object file"),
    pip=(OK, ""),
    oldbroken=(ERROR, "ModuleNotFoundError: No module named 'x'"),
    json=(OK, ""),
)
AFTER = outcomes(
    sklearn=(ERROR, "ModuleNotFoundError: No module named 'numpy.testing'"),
    numpy__testing=(ERROR, "ModuleNotFoundError: No module named 'numpy.testing'"),
    tkinter=(ERROR, "ModuleNotFoundError: No module named 'tkinter'"),
    pip=(ERROR, "ModuleNotFoundError: No module named 'pip'"),
    oldbroken=(OK, ""),
    json=(OK, ""),
)


def test_a_lost_module_is_a_regression_named_in_the_failures() -> None:
    diff = diff_imports("/opt/venv/bin/python3", BEFORE, BEFORE, AFTER, excused=frozenset({"pip"}))
    assert [c.module for c in diff.regressions] == ["numpy.testing", "sklearn"]
    report = VerificationReport("original", "hardened", "sandbox", imports=(diff,))
    assert not report.ok
    assert "sklearn: ModuleNotFoundError: No module named 'numpy.testing'" in report.failures()


def test_a_module_failing_in_the_original_too_is_reported_not_blamed() -> None:
    diff = diff_imports("py", BEFORE, BEFORE, AFTER, excused=frozenset({"pip"}))
    assert [c.module for c in diff.preexisting_failures] == ["tkinter"]
    assert diff.fixed == ("oldbroken",)
    assert all("tkinter" not in line for line in
               VerificationReport("o", "h", "sandbox", imports=(diff,)).failures())


def test_deliberate_removals_are_excused_and_counted() -> None:
    diff = diff_imports("py", BEFORE, BEFORE, AFTER, excused=frozenset({"pip"}))
    assert [c.module for c in diff.excused] == ["pip"]
    assert [c.module for c in diff.new_failures_in_hardened_only] == ["numpy.testing", "pip", "sklearn"]
    assert diff.counts == {"total": 6, "ok_before": 4, "ok_after": 2, "regressions": 2, "excused": 1,
                           "preexisting_failures": 1, "fixed": 1}


def test_a_target_without_a_result_in_the_hardened_image_is_a_regression() -> None:
    diff = diff_imports("py", ["json"], {"json": ModuleOutcome("json", OK)}, {})
    assert diff.regressions[0].after.kind is OutcomeKind.NOT_RUN


def test_everything_ok_passes_and_zero_targets_does_not() -> None:
    ok = {"json": ModuleOutcome("json", OK)}
    same = diff_imports("py", ["json"], ok, dict(ok))
    assert VerificationReport("o", "h", "engine", imports=(same,)).ok
    empty = diff_imports("py", [], {}, {})
    assert "no import target was verified (zero modules)" in VerificationReport(
        "o", "h", "engine", imports=(empty,)).failures()
    assert not VerificationReport("o", "h", "engine").ok


def test_excused_modules_cover_every_top_level_name_of_a_removed_distribution() -> None:
    dists = {"setuptools": DistributionInfo("setuptools", "68", top_level=("_distutils_hack", "pkg_resources",
                                                                             "setuptools"))}
    names = excused_modules(["Setuptools", "ensurepip"], dists)
    assert {"_distutils_hack", "pkg_resources", "setuptools", "ensurepip"} <= names
    assert top_module("pip._internal.cli.main:main") == "pip"
    assert normalize("Foo.Bar_baz") == "foo-bar-baz"


def dist(name: str, version: str = "1.0", *eps: tuple[str, str, str]) -> DistributionInfo:
    return DistributionInfo(name, version, tuple(sorted(eps)))


def test_metadata_diff_flags_lost_changed_added_distributions_and_entry_points() -> None:
    before = {d.key: d for d in (dist("pip", "24.0"), dist("numpy", "1.26"), dist("PyIceberg", "0.7",
                                 ("console_scripts", "pyiceberg", "pyiceberg.cli.console:run")),
                                 dist("requests", "2.31"))}
    after = {d.key: d for d in (dist("numpy", "2.0"), dist("PyIceberg", "0.7"), dist("newcomer"))}
    diff = diff_metadata("py", before, after, allowed_removals=["pip"])
    assert diff.removed_deliberately == ("pip",)
    assert diff.missing == ("requests",)
    assert [(c.name, c.before, c.after) for c in diff.changed] == [("numpy", "1.26", "2.0")]
    assert diff.added == ("newcomer",)
    assert diff.entry_points_missing == ("PyIceberg: console_scripts:pyiceberg = pyiceberg.cli.console:run",)
    assert not diff.ok
    lines = diff.failures()
    assert "distribution requests is gone" in lines
    assert all("pip" not in line for line in lines)


def test_metadata_diff_identical_is_ok() -> None:
    same = {d.key: d for d in (dist("numpy"), dist("pandas"))}
    assert diff_metadata("py", same, dict(same)).ok


def test_report_collects_every_kind_of_failure_and_serializes_to_json() -> None:
    smoke_bad = SmokeResult("parquet", "/py", SmokeRun(True, "exit code 0"),
                            SmokeRun(False, "exit code 1: boom"))
    report = VerificationReport(
        "o", "h", "sandbox",
        imports=(diff_imports("py", BEFORE, BEFORE, AFTER),),
        metadata=(diff_metadata("py", {"x": dist("x")}, {}),),
        smoke=(smoke_bad,),
        assertions=(Assertion("HV-NO-SHELL", "shell=True fails", False, "it ran"),
                    Assertion("HV-NON-ROOT", "non-root", True, "uid 65532")),
        startup=StartupCost(("json",), 3, 0.1, 0.05),
        problems=("interpreter /usr/bin/python3 is gone from the h image",),
    )
    failures = report.failures()
    assert failures[0] == "interpreter /usr/bin/python3 is gone from the h image"
    assert "distribution x is gone" in failures
    assert "smoke test parquet failed in the hardened image: exit code 1: boom" in failures
    assert "HV-NO-SHELL: it ran" in failures
    assert not any(line.startswith("HV-NON-ROOT") for line in failures)
    document = json.loads(json.dumps(report.to_dict()))
    assert document["ok"] is False
    assert document["startup"]["ratio"] == 0.5
    assert document["imports"][0]["counts"]["regressions"] == 3
    assert "FAILED" in report.summary()
    try:
        raise_for_failures(report)
    except VerificationFailed as exc:
        assert exc.exit_code == 1
        assert exc.details == tuple(failures)
    else:
        raise AssertionError("raise_for_failures did not raise")


def test_a_skipped_report_is_ok() -> None:
    report = VerificationReport("o", "h", "none", skipped=True)
    assert report.ok
    assert "skipped" in report.summary()


KIND = st.sampled_from(list(OutcomeKind))


@given(st.dictionaries(st.sampled_from(["a", "a.b", "b", "c:main", "d.e", "pip", "pip.x"]),
                       st.tuples(KIND, KIND), min_size=1))
def test_every_target_lands_in_exactly_one_bucket(pairs: dict[str, tuple[OutcomeKind, OutcomeKind]]) -> None:
    before = {m: ModuleOutcome(m, k) for m, (k, _) in pairs.items()}
    after = {m: ModuleOutcome(m, k) for m, (_, k) in pairs.items()}
    diff = diff_imports("py", pairs, before, after, excused=frozenset({"pip"}))
    buckets = [c.module for c in (*diff.regressions, *diff.excused, *diff.preexisting_failures)]
    buckets += list(diff.fixed)
    unchanged_ok = [m for m, (b, a) in pairs.items() if b is OK and a is OK]
    assert sorted(buckets + unchanged_ok) == sorted(pairs)
    assert all(top_module(c.module) != "pip" for c in diff.regressions)
    assert diff.ok_before == sum(b is OK for b, _ in pairs.values())


def test_a_module_that_a_removed_distribution_provided_is_excused_by_its_origin() -> None:
    """setuptools shadows stdlib distutils with its vendored copy: after setuptools is removed on purpose,
    ``distutils._msvccompiler`` resolves to the stdlib one (which needs winreg) — deliberate, not a regression."""
    site = "/opt/venv/lib/python3.11/site-packages"
    before = {"distutils._msvccompiler": ModuleOutcome("distutils._msvccompiler", OK,
                                                       origin=f"{site}/setuptools/_distutils/_msvccompiler.py"),
              "json": ModuleOutcome("json", OK, origin="/usr/lib/python3.11/json/__init__.py")}
    after = {"distutils._msvccompiler": ModuleOutcome("distutils._msvccompiler", ERROR, "No module named 'winreg'"),
             "json": ModuleOutcome("json", ERROR, "boom")}
    dists = {"setuptools": DistributionInfo("setuptools", "68", roots=("setuptools", "_distutils_hack"))}
    diff = diff_imports("py", before, before, after, excused=excused_modules(["setuptools"], dists))
    assert [c.module for c in diff.excused] == ["distutils._msvccompiler"]
    assert [c.module for c in diff.regressions] == ["json"]
