"""The transport options of ``harden image``: the transports table in the help (generated from the one table),
and ``--platform``, ``--compression`` and outputs refused before any work (exit 2, one line, nothing written);
an index of two tiny platform images (no Python: ``--no-verify``) in and out, with the per-platform reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harden.cli.main import cli
from harden.image.model import Image, ImageConfig, ImageSet
from harden.image.transports import TRANSPORTS, WriteContext, open_image, parse_output, publish
from hostile.hostile_scene import Scene


def test_the_help_lists_every_transport() -> None:
    result = CliRunner().invoke(cli, ["image", "--help"], prog_name="harden")
    assert result.exit_code == 0
    for transport in TRANSPORTS:
        assert transport.syntax in result.stdout
    for option in ("--platform", "--compression", "--tls-verify"):
        assert option in result.stdout


@pytest.mark.parametrize(("extra", "message"), [
    (["--platform", "linux"], "--platform: 'linux' is not a platform"),
    (["--compression", "brotli"], "--compression 'brotli': expected gzip[:LEVEL] or zstd[:LEVEL]"),
    (["--compression", "zstd:30"], "zstd levels are 1-22"),
    (["--output", "docker://Upper/app:1"], "invalid repository"),
])
def test_bad_transport_options_are_usage_errors(scene: Scene, tiny: Path, extra: list[str], message: str) -> None:
    run = scene.run("image", f"docker-archive:{tiny}", "--no-verify", *extra, "--report-dir", str(scene.reports))
    assert run.exit_code == 2, run.stderr
    assert message in run.error_line
    assert run.created == set()


def test_an_index_in_is_an_index_out(scene: Scene, tiny: Path) -> None:
    image = open_image(f"docker-archive:{tiny}", scene.root / "read")
    arm = ImageConfig.from_bytes(json.dumps({**image.config.to_dict(), "architecture": "arm64"}).encode())
    index = ImageSet((image, Image(arm, image.layers)), is_index=True)
    source = scene.inputs / "index"
    publish([parse_output(f"oci:{source}:1")], index, WriteContext(scene.root / "ws"))
    out = scene.out / "layout"
    run = scene.run("image", f"oci:{source}:1", "--no-verify", "--compression", "zstd", "--output",
                    f"oci:{out}:hard", "--report-dir", str(scene.reports / "r"))
    assert run.exit_code == 0, run.stderr
    assert "platform: linux/amd64" in run.stdout and "platform: linux/arm64" in run.stdout
    summary = json.loads((scene.reports / "r" / "summary.json").read_text())
    assert [row["platform"] for row in summary["platforms"]] == ["linux/amd64", "linux/arm64"]
    assert {row["verification"] for row in summary["platforms"]} == {"not verified"}
    for row in summary["platforms"]:
        assert (scene.reports / "r" / row["reports"] / "report.json").is_file()
    entry = json.loads((out / "index.json").read_text())["manifests"][0]
    assert entry["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert entry["annotations"] == {"org.opencontainers.image.ref.name": "hard"}
