"""``harden image`` happy paths on a tiny archive (no engine, ``--no-verify``: the image has no Python):
``--dry-run`` and each ``--output`` format, checked with tarfile/json alone, and report.json validated
against the checked-in schema."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from cli.cli_support import oci_archive_files, oci_dir_files, read_oci, sha256, validate_report
from hostile.hostile_scene import Scene
from hostile.hostile_support import read_docker_archive


def test_dry_run_plans_and_writes_no_image(scene: Scene, tiny: Path) -> None:
    run = scene.run("image", f"docker-archive:{tiny}", "--dry-run", "--output",
                    f"docker-archive:{scene.out / 'out.tar'}", "--report-dir", str(scene.reports / "r"))
    assert run.exit_code == 0, run.stderr
    assert "dry run: would save" in run.stdout and "nothing written" in run.stdout
    for stage in ("remove-bytecode", "remove-docs", "drop-shells", "strip-debug", "add-user"):
        assert f"  {stage} " in run.stdout
    assert "wrote:" not in run.stdout
    assert scene.created_in(run, "out") == set()
    report = validate_report(scene.reports / "r" / "report.json")
    assert report["identity"]["kind"] == "run"


@pytest.mark.parametrize("transport", ["docker-archive", "oci-archive", "oci"])
def test_each_output_format(scene: Scene, tiny: Path, transport: str) -> None:
    target = scene.out / ("layout" if transport == "oci" else "out.tar")
    run = scene.run("image", f"docker-archive:{tiny}", "--no-verify", "--output", f"{transport}:{target}:tiny/app:hard",
                    "--report-dir", str(scene.reports / "r"))
    assert run.exit_code == 0, run.stderr
    assert f"wrote:   {transport}:{target}" in run.stdout
    assert scene.created_in(run, "out") == {target.name}
    if transport == "docker-archive":
        config, written = read_docker_archive(target)
        entries = {name: w.data for name, w in written.items()}
        with tarfile.open(target) as tar:
            manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        assert manifest[0]["RepoTags"] == ["tiny/app:hard"]
    else:
        files = oci_dir_files(target) if transport == "oci" else oci_archive_files(target)
        config, entries, ref = read_oci(files)
        assert ref == "tiny/app:hard"
    assert entries["app/main.py"] == b"print('hello')\n"
    assert config["config"]["User"] not in ("", "0", "root")
    assert config["config"]["Labels"]["io.github.harden.policy"] == "default"
    report = validate_report(scene.reports / "r" / "report.json")
    assert report["identity"]["kind"] == "run"


def test_all_outputs_at_once_hold_the_same_image(scene: Scene, tiny: Path) -> None:
    outs = {"docker-archive": scene.out / "a.tar", "oci-archive": scene.out / "b.tar", "oci": scene.out / "c"}
    args = [arg for transport, path in outs.items() for arg in ("--output", f"{transport}:{path}")]
    run = scene.run("image", f"docker-archive:{tiny}", "--no-verify", *args, "--report-dir", str(scene.reports / "r"))
    assert run.exit_code == 0, run.stderr
    configs = [read_docker_archive(outs["docker-archive"])[0],
               read_oci(oci_archive_files(outs["oci-archive"]))[0], read_oci(oci_dir_files(outs["oci"]))[0]]
    assert configs[0] == configs[1] == configs[2]


def test_reports_go_to_reports_slash_name_by_default(scene: Scene, tiny: Path) -> None:
    run = scene.run("image", f"docker-archive:{tiny}", "--no-verify", "--output", f"oci:{scene.out / 'l'}")
    assert run.exit_code == 0, run.stderr
    assert scene.created_in(run, "cwd") == {"reports"}
    reports = {p.name for p in (scene.cwd / "reports").iterdir()}
    assert len(reports) == 1
    folder = scene.cwd / "reports" / reports.pop()
    assert {"report.json", "report.md", "report.html", "report.sarif"} <= {p.name for p in folder.iterdir()}
    validate_report(folder / "report.json")


def test_same_input_same_output_bytes(scene: Scene, tiny: Path) -> None:
    digests = []
    for name in ("one.tar", "two.tar"):
        run = scene.run("image", f"docker-archive:{tiny}", "--no-verify", "--output",
                        f"docker-archive:{scene.out / name}", "--report-dir", str(scene.reports / name))
        assert run.exit_code == 0, run.stderr
        digests.append(sha256((scene.out / name).read_bytes()))
    assert digests[0] == digests[1]


def test_fail_on_findings_in_the_hardened_image(scene: Scene, tiny: Path) -> None:
    """The tiny image keeps a private key (HDN-0005, a warning): ``--fail-on warning`` exits 1 (the image is
    written all the same), ``--fail-on error`` and ``never`` exit 0."""
    from hostile.hostile_support import base_layer, config_for
    from imagefactory import file, make_layer_tar

    key = make_layer_tar([file("app/key.pem", b"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n")])
    layers = [base_layer(), key]
    archive = scene.archive(layers, config_for(layers, User="65532", Healthcheck={"Test": ["CMD", "/x"]}),
                            name="keyed.tar")
    for fail_on, code in (("warning", 1), ("error", 0), ("never", 0)):
        out = scene.out / f"{fail_on}.tar"
        run = scene.run("image", f"docker-archive:{archive}", "--no-verify", "--fail-on", fail_on,
                        "--output", f"docker-archive:{out}", "--report-dir", str(scene.reports / fail_on))
        assert run.exit_code == code, run.stdout + run.stderr
        assert out.exists(), "findings do not stop the image from being written"
        if code:
            assert "HDN-0005" in run.error_line
