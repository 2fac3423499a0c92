"""report.json is the contract: it validates against the checked-in schema, in both kinds, and is stable."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from report_support import FIXED_TIME, StandInPolicy, build_image, harden, small_image_layers

from harden.image.blobs import BlobStore
from harden.image.merge import DroppedEntry
from harden.report.schema import report_schema
from harden.report.write import write_review_reports, write_run_reports
from harden.verify.result import (
    Assertion,
    ImportDiff,
    MetadataDiff,
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

PY = "/usr/local/bin/python3"


def _validator() -> jsonschema.protocols.Validator:
    schema = report_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _verification() -> VerificationReport:
    return VerificationReport(
        original="demo:1", hardened="demo:hardened", runner="sandbox", interpreters=(PY,),
        imports=(ImportDiff("/usr/local/bin/python3", 12, 12, 12, (), (), ()),),
        metadata=(MetadataDiff("/usr/local/bin/python3", 4, 3, removed_deliberately=("pip",)),),
        smoke=(SmokeResult("pandas groupby", PY, SmokeRun(True, ""), SmokeRun(True, "")),),
        assertions=(Assertion("HV-NO-SHELL", "no shell", True),),
        startup=StartupCost(("pandas",), 5, 0.2, 0.18),
    )


def run_report(tmp_path: Path, *, verification: VerificationReport | None = None,
               dry_run: bool = False, dropped: tuple[DroppedEntry, ...] = ()) -> dict[str, Any]:
    blobs = BlobStore(tmp_path / "blobs")
    image, rootfs = build_image(small_image_layers(), blobs)
    result = harden(rootfs, image.config, blobs)
    written = write_run_reports(
        tmp_path / "reports", source="demo:1", source_image=image, original=rootfs, result=result,
        policy=StandInPolicy(), verification=verification, dropped=dropped, written=["demo:hardened"],
        harden_seconds=2.5, dry_run=dry_run, blobs=blobs, generated_at=FIXED_TIME,
    )
    data: dict[str, Any] = json.loads((written.report_dir / "report.json").read_text())
    assert data == json.loads(json.dumps(written.report))
    return data


def test_run_report_validates_against_the_checked_in_schema(tmp_path: Path) -> None:
    report = run_report(tmp_path, verification=_verification())
    _validator().validate(report)
    assert report["schema_version"] == 2
    assert report["identity"]["kind"] == "run"
    assert report["verification"]["ok"] is True
    assert report["sizes"]["after"]["bytes"] < report["sizes"]["before"]["bytes"]


def test_a_failed_verification_validates_and_lists_its_hv_findings(tmp_path: Path) -> None:
    lost = ModuleLoss("hello.world", ModuleOutcome("hello.world", OutcomeKind.OK, origin="/app/hello/world.py"),
                      ModuleOutcome("hello.world", OutcomeKind.NOT_RUN, "its file /app/hello/world.py is gone"))
    failed = VerificationReport(
        original="demo:1", hardened="demo:hardened", runner="sandbox", interpreters=(PY,),
        imports=(ImportDiff(PY, 12, 12, 11, (lost,), (), ()),),
        touched=(TouchedFile("/app/hello/data.json", ("hello",)),),
        writable=(WritableNeed("smoke", "cache", PY, ("/tmp/x",), "exit code 1", "mount an emptyDir at /tmp"),),
        restricted=True,
    )
    report = run_report(tmp_path, verification=failed)
    _validator().validate(report)
    assert report["verification"]["ok"] is False
    hv = sorted((f["code"], f["location"]) for f in report["findings"] if f["code"].startswith("HV-"))
    assert hv == [("HV-0001", "/app/hello/world.py"), ("HV-0002", "/app/hello/data.json"), ("HV-0003", "/tmp/x")]
    assert {"HV-0001", "HV-0002", "HV-0003", "HV-0004"} <= {rule["code"] for rule in report["rules"]}


def test_dry_run_and_unverified_reports_validate(tmp_path: Path) -> None:
    report = run_report(tmp_path, dry_run=True, dropped=(DroppedEntry(1, "../etc/evil", "escapes the root"),))
    _validator().validate(report)
    assert report["identity"]["dry_run"] is True and report["verification"] is None
    assert report["dropped"] == [{"entry": "../etc/evil", "reason": "layer 1: escapes the root"}]


def test_review_report_validates_and_has_no_after_side(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    image, rootfs = build_image(small_image_layers(), blobs)
    written = write_review_reports(tmp_path / "out", source="demo:1", source_image=image, rootfs=rootfs,
                                   blobs=blobs, generated_at=FIXED_TIME)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    _validator().validate(report)
    assert report["identity"]["kind"] == "review"
    assert report["sizes"]["after"] is None and report["fixed_findings"] is None
    assert report["sbom"]["hardened"] is None
    assert sorted(p.name for p in written.files) == [
        "report.html", "report.json", "report.md", "report.sarif", "sbom.original.cdx.json"]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("schema_version",), 1),
        (("identity", "kind"), "audit"),
        (("os", "package_db"), "pacman"),
        (("findings_summary", "error"), -1),
        (("elf", "files"), [{"path": "relative/path"}]),
        (("changes",), [{"stage": "x", "action": "explode", "target": "a", "category": "c", "reason": "r",
                         "files_removed": 0, "bytes_saved": 0, "removes_modules": False}]),
        (("changes",), [{"stage": "x", "action": "remove", "target": "a", "category": "c", "reason": "r",
                         "files_removed": 0, "bytes_saved": 0}]),
    ],
)
def test_schema_rejects_a_broken_report(tmp_path: Path, path: tuple[str, ...], value: Any) -> None:
    report = copy.deepcopy(run_report(tmp_path))
    target = report
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        _validator().validate(report)


def test_schema_rejects_unknown_top_level_keys(tmp_path: Path) -> None:
    report = run_report(tmp_path)
    report["surprise"] = True
    with pytest.raises(jsonschema.ValidationError):
        _validator().validate(report)


def test_same_input_gives_the_same_report(tmp_path: Path) -> None:
    first = (tmp_path / "a")
    second = (tmp_path / "b")
    first.mkdir()
    second.mkdir()
    assert run_report(first) == run_report(second)


def test_every_change_is_listed_with_its_reason(tmp_path: Path) -> None:
    report = run_report(tmp_path)
    removed = {c["target"] for c in report["changes"] if c["action"] == "remove"}
    assert "/bin/sh" in removed
    assert "/usr/local/lib/python3.11/site-packages/pandas/tests/test_frame.py" in removed
    skipped = [s["path"] for s in report["skipped"]]
    assert all(path.startswith("/") for path in [*removed, *skipped])  # one spelling of image paths
    assert all(c["reason"] for c in report["changes"])
    code = {c["category"] for c in report["changes"] if c["removes_modules"]}
    assert code == {"tests", "installers"}  # the stages that remove modules on purpose say so
    stage_saved = sum(s["bytes_saved"] for s in report["sizes"]["stages"])
    assert stage_saved == report["sizes"]["saved_bytes"]
    by_category = {row["category"]: row for row in report["sizes"]["categories"]}
    assert by_category["tests"]["before"]["files"] == 2 and by_category["tests"]["after"]["files"] == 0
    assert by_category["tests"]["saved_bytes"] == by_category["tests"]["before"]["bytes"]
    assert by_category["user"]["changes"] == 1 and by_category["user"]["before"] is None


def test_findings_are_judged_on_the_hardened_image_and_fixes_listed(tmp_path: Path) -> None:
    report = run_report(tmp_path)
    codes = {f["code"] for f in report["findings"]}
    fixed = {f["code"] for f in report["fixed_findings"]}
    assert "CIS-DI-0001" not in codes and "CIS-DI-0001" in fixed  # root before, 65532 after
    assert "HDN-0003" in fixed  # the shell was dropped
    assert report["original_findings_summary"]["error"] >= 1
