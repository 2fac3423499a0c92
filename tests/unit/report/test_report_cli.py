"""``harden report IMAGE`` on a docker-archive (real source, merge, workspace); exit codes pinned."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from report_support import GROUP, PASSWD, SHADOW

from harden.api import review_image
from harden.cli.main import HardenGroup
from harden.cli.report import report
from harden.errors import FindingsError
from imagefactory import default_config, diff_id, file, make_layer_tar, write_docker_archive


def cli() -> HardenGroup:
    group = HardenGroup()
    group.add_command(report)
    return group


def archive(tmp_path: Path, *, user: str, extra: bytes = b"") -> Path:
    base = make_layer_tar([
        file("etc/passwd", PASSWD), file("etc/group", GROUP), file("etc/shadow", SHADOW),
        file("app/main.py", b"print('hi')\n" + extra),
    ])
    config = default_config([diff_id(base)], User=user,
                            Healthcheck={"Test": ["CMD", "/usr/local/bin/python3", "-c", "0"]})
    return write_docker_archive(tmp_path / "image.tar", [base], config, repo_tags=["demo:1"])


def test_root_image_fails_on_error_and_still_writes_every_report(tmp_path: Path) -> None:
    image = archive(tmp_path, user="")
    out = tmp_path / "reports"
    result = CliRunner().invoke(cli(), ["report", f"docker-archive:{image}", "--report-dir", str(out)])
    assert result.exit_code == 1, result.output
    assert "CIS-DI-0001 config:User" in result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "report.html", "report.json", "report.md", "report.sarif", "sbom.original.cdx.json"]
    data = json.loads((out / "report.json").read_text())
    assert data["identity"]["kind"] == "review" and data["findings_summary"]["error"] == 1


def test_fail_on_never_exits_zero(tmp_path: Path) -> None:
    image = archive(tmp_path, user="0")
    result = CliRunner().invoke(cli(), ["report", f"docker-archive:{image}", "--report-dir",
                                        str(tmp_path / "r"), "--fail-on", "never"])
    assert result.exit_code == 0, result.output
    assert "findings: 1 error" in result.output


def test_non_root_image_passes_and_warning_threshold_bites(tmp_path: Path) -> None:
    image = archive(tmp_path, user="65532:65532")
    ok = CliRunner().invoke(cli(), ["report", f"docker-archive:{image}", "--report-dir", str(tmp_path / "a")])
    assert ok.exit_code == 0, ok.output
    key = b"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"
    layer = make_layer_tar([file("etc/passwd", PASSWD), file("etc/group", GROUP), file("etc/shadow", SHADOW),
                            file("srv/key.pem", key)])
    config = default_config([diff_id(layer)], User="65532", Healthcheck={"Test": ["CMD", "true"]})
    keyed = write_docker_archive(tmp_path / "keyed.tar", [layer], config, repo_tags=["demo:2"])
    args = ["report", f"docker-archive:{keyed}", "--report-dir", str(tmp_path / "b"), "--fail-on", "warning"]
    warned = CliRunner().invoke(cli(), args)
    assert warned.exit_code == 1 and "HDN-0005" in warned.output


def test_unsafe_layer_is_refused_unless_sanitized(tmp_path: Path) -> None:
    layer = make_layer_tar([file("etc/passwd", PASSWD), file("../escape.txt", b"x")])
    config = default_config([diff_id(layer)], User="65532")
    image = write_docker_archive(tmp_path / "evil.tar", [layer], config, repo_tags=["evil:1"])
    refused = CliRunner().invoke(cli(), ["report", f"docker-archive:{image}", "--report-dir", str(tmp_path / "a")])
    assert refused.exit_code == 3, refused.output
    args = ["report", f"docker-archive:{image}", "--report-dir", str(tmp_path / "b"), "--sanitize",
            "--fail-on", "never"]
    sanitized = CliRunner().invoke(cli(), args)
    assert sanitized.exit_code == 0, sanitized.output
    dropped = json.loads((tmp_path / "b" / "report.json").read_text())["dropped"]
    assert [d["entry"] for d in dropped] == ["../escape.txt"]


def test_missing_archive_is_an_input_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli(), ["report", f"docker-archive:{tmp_path / 'nope.tar'}", "--report-dir",
                                        str(tmp_path / "r")])
    assert result.exit_code == 3, result.output
    assert not (tmp_path / "r").exists()


def test_bad_fail_on_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli(), ["report", "demo:1", "--fail-on", "sometimes"])
    assert result.exit_code == 2


def test_report_image_api_raises_findings_error(tmp_path: Path) -> None:
    image = archive(tmp_path, user="root")
    written = review_image(f"docker-archive:{image}", report_dir=tmp_path / "r")
    assert written.report_dir == tmp_path / "r"
    with pytest.raises(FindingsError):
        written.enforce("error")
    written.enforce("never")
