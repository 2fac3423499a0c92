"""``harden report IMAGE`` through the real ``harden`` group: every report written, report.json valid against
the checked-in schema, and ``--fail-on`` exit codes with planted findings (root user: an error; a private key:
a warning)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.cli_support import validate_report
from hostile.hostile_scene import Scene
from hostile.hostile_support import base_layer, config_for
from imagefactory import file, make_layer_tar

REPORTS = {"report.json", "report.md", "report.html", "report.sarif", "sbom.original.cdx.json"}
KEY = b"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"


def planted(scene: Scene, *, user: str, key: bool = False) -> Path:
    layers = [base_layer()] + ([make_layer_tar([file("app/key.pem", KEY)])] if key else [])
    config = config_for(layers, User=user, Healthcheck={"Test": ["CMD", "/app/main.py"]})
    return scene.archive(layers, config, name=f"planted-{user or 'none'}-{key}.tar")


def test_review_of_a_clean_image(scene: Scene, tiny: Path) -> None:
    run = scene.run("report", f"docker-archive:{tiny}", "--report-dir", str(scene.reports / "r"))
    assert run.exit_code == 0, run.stdout + run.stderr
    assert "findings: 0 error, 0 warning" in run.stdout
    assert {p.name for p in (scene.reports / "r").iterdir()} == REPORTS
    report = validate_report(scene.reports / "r" / "report.json")
    assert report["identity"]["kind"] == "review"
    sarif = json.loads((scene.reports / "r" / "report.sarif").read_text())
    assert sarif["version"] == "2.1.0"


@pytest.mark.parametrize("fail_on, code", [("error", 1), ("warning", 1), ("never", 0)])
def test_root_user_is_an_error_finding(scene: Scene, fail_on: str, code: int) -> None:
    image = planted(scene, user="")
    run = scene.run("report", f"docker-archive:{image}", "--report-dir", str(scene.reports / "r"),
                    "--fail-on", fail_on)
    assert run.exit_code == code, run.stdout + run.stderr
    assert "findings: 1 error" in run.stdout
    if code:
        assert "CIS-DI-0001" in run.error_line
    else:
        assert run.stderr == ""
    report = validate_report(scene.reports / "r" / "report.json")
    assert [f["code"] for f in report["findings"] if f["severity"] == "error"] == ["CIS-DI-0001"]


@pytest.mark.parametrize("fail_on, code", [("error", 0), ("warning", 1), ("never", 0)])
def test_private_key_is_a_warning_finding(scene: Scene, fail_on: str, code: int) -> None:
    image = planted(scene, user="65532", key=True)
    run = scene.run("report", f"docker-archive:{image}", "--report-dir", str(scene.reports / "r"),
                    "--fail-on", fail_on)
    assert run.exit_code == code, run.stdout + run.stderr
    if code:
        assert "HDN-0005" in run.error_line
    validate_report(scene.reports / "r" / "report.json")


def test_report_of_an_oci_layout_cannot_write_into_it(scene: Scene) -> None:
    from imagefactory import write_oci_layout

    layout = write_oci_layout(scene.inputs / "layout", [base_layer()])
    run = scene.run("report", f"oci:{layout}", "--report-dir", str(layout / "reports"))
    assert run.exit_code == 2
    assert "--report-dir" in run.error_line and run.created == set()


def test_report_refuses_unsafe_layers_unless_sanitized(scene: Scene) -> None:
    layers = [base_layer(), make_layer_tar([file("../../escape", b"x")])]
    image = scene.archive(layers, config_for(layers, User="65532"), name="evil.tar")
    refused = scene.run("report", f"docker-archive:{image}", "--report-dir", str(scene.reports / "a"))
    assert refused.exit_code == 3 and "'../../escape'" in refused.error_line
    assert refused.created == set()
    sanitized = scene.run("report", f"docker-archive:{image}", "--report-dir", str(scene.reports / "b"),
                          "--sanitize", "--fail-on", "never")
    assert sanitized.exit_code == 0, sanitized.stderr
    report = validate_report(scene.reports / "b" / "report.json")
    assert [d["entry"] for d in report["dropped"]] == ["../../escape"]
