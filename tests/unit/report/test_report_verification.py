"""The verification in the reports: report.md's sections (coverage, lost, removed on purpose, files read that are
gone, restricted-pod needs) rendered from ``VerificationReport.to_dict()``, one finding per failure (HV-0001 lost
module, HV-0002 file read that is gone, HV-0003 writable need, HV-0004 anything else) and one SARIF result each."""

from __future__ import annotations

import json
from pathlib import Path

from report_support import FIXED_TIME, StandInPolicy, build_image, harden, small_image_layers
from test_report_sarif import sarif_validator

from harden.image.blobs import BlobStore
from harden.report.findings import verification_findings
from harden.report.markdown_verify import COVERAGE, verification_lines
from harden.report.write import write_run_reports
from harden.verify.result import (
    Accounting,
    Assertion,
    ImportDiff,
    MetadataDiff,
    ModuleLoss,
    ModuleOutcome,
    OutcomeKind,
    TouchedFile,
    VerificationReport,
    WritableNeed,
)

PY = "/opt/venv/bin/python3"
SITE = "/opt/venv/lib/python3.11/site-packages"


def loss(module: str, accounting: Accounting | None = None, hint: str = "", origin: str | None = None) -> ModuleLoss:
    where = f"{SITE}/{module.replace('.', '/')}.py" if origin is None else origin
    return ModuleLoss(module, ModuleOutcome(module, OutcomeKind.OK, origin=where),
                      ModuleOutcome(module, OutcomeKind.ERROR, f"ModuleNotFoundError: {module}", isolated=True),
                      accounting, hint)


TESTS = Accounting("remove-tests", "test suite", f"{SITE}/pandas/tests")
INSTALLERS = Accounting("remove-installers", "installer", f"{SITE}/setuptools", via="needs setuptools")
LOST = (loss("app.core", hint=f"{SITE}/app/data was removed by remove-docs (documentation)"),
        loss("app.plugin:main", origin=""))
ACCOUNTED = (*(loss(f"pandas.tests.t{n}", TESTS) for n in range(5)), loss("tool.build", INSTALLERS))
TOUCHED = (TouchedFile(f"{SITE}/app/table.dat", ("app.core",), "remove-docs", "documentation"),
           TouchedFile(f"{SITE}/pandas/tests/data.csv", ("pandas.tests.t1",), "remove-tests", "test suite", True))
NEEDS = (WritableNeed("import", "matplotlib.pyplot", PY, ("/home/app/.config/matplotlib",),
                      "OSError: [Errno 30] Read-only file system", "set MPLCONFIGDIR to a writable mounted directory"),
         WritableNeed("smoke", "plot", PY, (), "exit code 1: boom", "set MPLCONFIGDIR to a writable mounted directory"))


def failed() -> VerificationReport:
    return VerificationReport(
        "demo:1", "demo:hardened", "sandbox", interpreters=(PY, "/usr/bin/python3"),
        imports=(ImportDiff(PY, 900, 880, 872, LOST, ACCOUNTED, (), stdlib_deep=True),
                 ImportDiff("/usr/bin/python3", 120, 120, 120, (), (), (), stdlib_deep=False)),
        metadata=(MetadataDiff(PY, 3, 2, missing=("requests",)),),
        assertions=(Assertion("HV-NO-SHELL", "shell=True fails", False, "it ran"),),
        touched=TOUCHED, writable=NEEDS, restricted=True,
    )


def markdown(report: VerificationReport) -> str:
    return "\n".join(verification_lines({"failures": report.failures(), "details": report.to_dict()}, "VERDICT"))


def test_report_md_renders_coverage_lost_accounted_touched_and_restricted_sections() -> None:
    text = markdown(failed())
    assert COVERAGE in text
    assert "| `/usr/bin/python3` | 120 * |" in text
    assert "\\* the standard library's submodules were walked with the first interpreter" in text
    assert ("| `app.core` | ModuleNotFoundError: app.core | "
            f"{SITE}/app/data was removed by remove-docs (documentation) |") in text
    assert "| `app.plugin:main` | ModuleNotFoundError: app.plugin:main | - |" in text
    assert "### Removed on purpose (accounted removals)" in text
    assert (f"| `remove-tests` | `{SITE}/pandas/tests` | test suite | 5 | `pandas.tests.t0`, `pandas.tests.t1`, "
            "`pandas.tests.t2` (+2 more) |") in text
    assert f"| `remove-installers` | `{SITE}/setuptools` | installer (needs setuptools) | 1 | `tool.build` |" in text
    assert text.index("`remove-tests`") < text.index("`remove-installers`")  # the largest group first
    assert f"| `{SITE}/app/table.dat` | `app.core` | `remove-docs` | FAILED |" in text
    assert f"| `{SITE}/pandas/tests/data.csv` | `pandas.tests.t1` | `remove-tests` | on purpose |" in text
    assert ("| set MPLCONFIGDIR to a writable mounted directory | 2 | import `matplotlib.pyplot`, smoke `plot` | "
            "`/home/app/.config/matplotlib` |") in text
    assert "Other verification results" not in text


def test_a_restricted_run_without_needs_says_everything_worked_and_unknown_keys_are_listed() -> None:
    report = VerificationReport("o", "h", "engine", imports=(ImportDiff(PY, 10, 10, 10, (), (), ()),),
                                restricted=True)
    details = {**report.to_dict(), "from_the_future": 1}
    text = "\n".join(verification_lines({"failures": [], "details": details}, "PASSED"))
    assert "### As a restricted Kubernetes pod" in text and "every import and smoke snippet worked" in text
    assert "Other verification results in report.json: `from_the_future` (1 key)." in text
    assert "### Removed on purpose" not in text and "Lost (each one fails" not in text


def test_one_finding_per_failure_each_with_its_code_and_location() -> None:
    report = failed()
    found = sorted((f.code, f.location, f.message) for f in verification_findings(report))
    assert found == sorted([
        ("HV-0001", f"{SITE}/app/core.py", f"app.core: ModuleNotFoundError: app.core ({LOST[0].hint})"),
        ("HV-0001", "module:app.plugin:main", "app.plugin:main: ModuleNotFoundError: app.plugin:main"),
        ("HV-0002", f"{SITE}/app/table.dat", TOUCHED[0].failure()),
        ("HV-0003", "/home/app/.config/matplotlib",
         f"import matplotlib.pyplot: {NEEDS[0].error}; {NEEDS[0].remedy}"),
        ("HV-0003", "smoke:plot", f"smoke plot: exit code 1: boom; {NEEDS[1].remedy}"),
        ("HV-0004", "verification", "distribution requests is gone"),
        ("HV-0004", "verification", "HV-NO-SHELL: it ran"),
    ])
    assert len([f for f in verification_findings(report) if f.code != "HV-0003"]) == len(report.failures())
    assert verification_findings(None) == []
    assert verification_findings(VerificationReport("o", "h", "none", skipped=True)) == []


def test_report_sarif_has_one_result_per_finding_verification_included(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    image, rootfs = build_image(small_image_layers(), blobs)
    written = write_run_reports(
        tmp_path / "reports", source="demo:1", source_image=image, original=rootfs,
        result=harden(rootfs, image.config, blobs), policy=StandInPolicy(), verification=failed(), dropped=(),
        written=[], harden_seconds=1.0, dry_run=False, blobs=blobs, generated_at=FIXED_TIME)
    sarif = json.loads((written.report_dir / "report.sarif").read_text())
    sarif_validator().validate(sarif)
    results = sarif["runs"][0]["results"]
    assert len(results) == len(written.report["findings"])
    verification = [r for r in results if r["ruleId"].startswith("HV-")]
    assert sorted(r["ruleId"] for r in verification) == ["HV-0001", "HV-0001", "HV-0002", "HV-0003", "HV-0003",
                                                         "HV-0004", "HV-0004"]
    lost = next(r for r in verification if r["message"]["text"].startswith(f"{SITE}/app/core.py"))
    assert lost["level"] == "error"
    assert lost["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": f"{SITE}/app/core.py".lstrip("/"), "uriBaseId": "IMAGEROOT"}
    assert {r["level"] for r in verification if r["ruleId"] == "HV-0003"} == {"warning"}
