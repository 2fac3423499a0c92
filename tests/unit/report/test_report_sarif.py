"""report.sarif validates against the official OASIS SARIF 2.1.0 schema (vendored in schemas/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from report_support import FIXED_TIME, SCHEMAS, build_image

from harden.image.blobs import BlobStore
from harden.report.sarif import render_sarif
from harden.report.write import write_review_reports
from imagefactory import directory, file


def sarif_validator() -> jsonschema.Draft4Validator:
    schema = json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert schema["id"].endswith("/sarif-schema-2.1.0.json")
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def review(tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    blobs = BlobStore(tmp_path / "blobs")
    layers = [[
        directory("etc"),
        file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\ntoor:x:0:0::/:/bin/sh\n"),
        file("etc/shadow", b"root:*:1::::::\ntoor::1::::::\n"),
        file("usr/bin/newgrp", b"binary", mode=0o4755),
        file("home/app/.aws/credentials", b"[default]\naws_secret_access_key=x\n"),
        file("srv/data.txt", b"shared", mode=0o666),
        file("bin/sh", b"#!shell", mode=0o755),
    ]]
    image, rootfs = build_image(layers, blobs, User="0:0", Env=["PATH=/bin", "DB_PASSWORD=hunter2"])
    write_review_reports(tmp_path / "out", source="demo:1", source_image=image, rootfs=rootfs, blobs=blobs,
                         generated_at=FIXED_TIME)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    sarif = json.loads((tmp_path / "out" / "report.sarif").read_text())
    return report, sarif


def test_sarif_validates_against_the_official_schema(tmp_path: Path) -> None:
    _, sarif = review(tmp_path)
    sarif_validator().validate(sarif)
    assert sarif["version"] == "2.1.0"


def test_every_finding_is_one_result_with_its_rule(tmp_path: Path) -> None:
    report, sarif = review(tmp_path)
    run = sarif["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    results = run["results"]
    assert len(results) == len(report["findings"]) >= 6
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    levels = {r["ruleId"]: r["level"] for r in results}
    assert levels["CIS-DI-0001"] == "error"
    assert levels["CIS-DI-0008"] == "warning"
    assert levels["CIS-DI-0006"] == "note"
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert {"usr/bin/newgrp", "home/app/.aws/credentials", "srv/data.txt", "image-config.json"} <= uris
    fingerprints = [r["partialFingerprints"]["hardenFinding/v1"] for r in results]
    assert len(set(fingerprints)) == len(fingerprints)
    assert "hunter2" not in json.dumps(sarif)  # the secret's value never reaches a report


def test_the_validator_rejects_broken_sarif(tmp_path: Path) -> None:
    _, sarif = review(tmp_path)
    sarif["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        sarif_validator().validate(sarif)


def test_a_report_without_findings_is_valid_sarif() -> None:
    report: dict[str, Any] = {
        "identity": {"kind": "review", "source": "x", "source_digest": None, "output_digest": None,
                     "platform": "", "generated_at": FIXED_TIME},
        "rules": [],
        "findings": [],
    }
    sarif = render_sarif(report)
    sarif_validator().validate(sarif)
    assert sarif["runs"][0]["results"] == []
