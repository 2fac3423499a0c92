"""Multi-platform images: a two-platform index (linux/amd64 and linux/arm64/v8, real Debian Pythons) comes out
as a two-platform index with every platform hardened, from an OCI layout and from a registry, with no engine.

Each platform is verified where this machine can run it: amd64 natively in the sandbox, arm64 through
binfmt_misc's qemu-aarch64 (scripts/test-prereqs.sh registers it; under CI a machine that cannot is a failure)
and, where it cannot run, by the static linkage check alone (forced here by hiding binfmt_misc, in-process).
The per-platform reports and the summary say which was done; the attestation manifest of the source index is
left out and named; annotations that no longer apply are named too."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import deb_python
import pytest
from click.testing import CliRunner
from harden_child import HardenRun
from registry_server import RegistryServer, prerequisite_missing
from test_registry_transport import inspect, push_layout, skopeo_run

from harden.cli.main import cli
from harden.image.host_platform import can_execute
from harden.image.model import Platform

pytestmark = pytest.mark.registry
Harden = Callable[..., HardenRun]
PLATFORMS = ("linux/amd64", "linux/arm64/v8")


@pytest.fixture
def layout(deb_images: None, tmp_path: Path) -> Path:
    return deb_python.two_platform_layout(tmp_path / "two")


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(deb_python.FAST_POLICY)
    return path


def arm64_runs_here() -> bool:
    arm64 = deb_python.debs("arm64")
    assert arm64 is not None
    return can_execute(Platform("linux", "arm64", "v8"), b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00"
                       b"\x02\x00\xb7\x00").runs


def read_index(layout: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(index.json's entry, the index it names) of a layout harden wrote."""
    entry = json.loads((layout / "index.json").read_text())["manifests"][0]
    return entry, json.loads((layout / "blobs/sha256" / entry["digest"].partition(":")[2]).read_text())


def blob(layout: Path, digest: str) -> Any:
    return json.loads((layout / "blobs/sha256" / digest.partition(":")[2]).read_text())


def assert_hardened_index(layout: Path, platforms: tuple[str, ...] = PLATFORMS) -> dict[str, Any]:
    entry, index = read_index(layout)
    assert entry["mediaType"] == "application/vnd.oci.image.index.v1+json"
    found = [Platform(m["platform"]["os"], m["platform"]["architecture"], m["platform"].get("variant"))
             for m in index["manifests"]]
    assert [str(p) for p in found] == list(platforms), "every platform, in the source's order, nothing else"
    for manifest_entry in index["manifests"]:
        manifest = blob(layout, manifest_entry["digest"])
        config = blob(layout, manifest["config"]["digest"])
        assert config["architecture"] == manifest_entry["platform"]["architecture"]
        assert len(manifest["layers"]) == 1 and len(config["rootfs"]["diff_ids"]) == 1, "squashed"
        assert config["config"]["Labels"]["io.github.harden.policy"] == "deb-python-fast"
        uid = config["config"]["User"].split(":")[0]
        assert uid.isdigit() and int(uid) != 0
    assert index.get("annotations") == {"org.opencontainers.image.source": "https://example.invalid/harden-test"}
    return index


def summary_of(reports: Path) -> dict[str, Any]:
    summary = json.loads((reports / "summary.json").read_text())
    assert (reports / "summary.md").is_file()
    for row in summary["platforms"]:
        assert (reports / row["reports"] / "report.json").is_file()
    return summary


def test_a_two_platform_layout_becomes_a_two_platform_index(
    layout: Path, policy: Path, plain_registry: RegistryServer, skopeo: str, harden: Harden, tmp_path: Path
) -> None:
    if not arm64_runs_here() and os.environ.get("CI"):
        prerequisite_missing("binfmt_misc runs no arm64 program here (scripts/test-prereqs.sh registers qemu)")
    dest = f"docker://{plain_registry.host}/multi/hardened:1"
    out = tmp_path / "out"
    run = harden("image", f"oci:{layout}:1", "--policy", str(policy), "--runner", "sandbox",
                 "--output", f"oci:{out}:hard", "--output", dest, "--report-dir", str(tmp_path / "reports"))
    assert run.code == 0, run.stderr
    index = assert_hardened_index(out)

    raw = json.loads(skopeo_run(skopeo, "inspect", "--raw", "--tls-verify=false", dest).stdout)
    assert raw == index, "the registry holds the same index as the layout"
    arm = inspect(skopeo, dest, "--override-arch", "arm64", "--override-variant", "v8")
    assert arm["Architecture"] == "arm64" and arm["Labels"]["io.github.harden.policy"] == "deb-python-fast"
    skopeo_run(skopeo, "copy", "--all", "--src-tls-verify=false", dest, f"oci:{tmp_path / 'copy'}:1")

    summary = summary_of(tmp_path / "reports")
    rows = {row["platform"]: row for row in summary["platforms"]}
    assert list(rows) == list(PLATFORMS)
    assert rows["linux/amd64"]["verification"] == "sandbox" and rows["linux/amd64"]["verdict"] == "passed"
    expected = "sandbox" if arm64_runs_here() else "linkage"
    assert rows["linux/arm64/v8"]["verification"] == expected and rows["linux/arm64/v8"]["verdict"] == "passed"
    if expected == "sandbox":
        assert "binfmt_misc" in rows["linux/arm64/v8"]["how"]
    assert len(summary["left_out"]) == 1 and "attestation-manifest" in summary["left_out"][0]
    dropped = " ".join(summary["annotations_dropped"])
    assert "org.opencontainers.image.created" in dropped and "org.opencontainers.image.base.name" in dropped
    assert summary["written"] == [f"oci:{out}:hard", dest]


def test_a_registry_index_is_hardened_into_a_registry_index(
    layout: Path, policy: Path, plain_registry: RegistryServer, skopeo: str, harden: Harden, tmp_path: Path
) -> None:
    source = f"docker://{plain_registry.host}/multi/src:1"
    push_layout(skopeo, layout, source)
    dest = f"docker://{plain_registry.host}/multi/from-registry:1"
    run = harden("image", source, "--policy", str(policy), "--no-verify", "--output", dest,
                 "--output", f"oci:{tmp_path / 'out'}:1", "--report-dir", str(tmp_path / "reports"))
    assert run.code == 0, run.stderr
    index = assert_hardened_index(tmp_path / "out")
    assert json.loads(skopeo_run(skopeo, "inspect", "--raw", "--tls-verify=false", dest).stdout) == index
    assert {row["verification"] for row in summary_of(tmp_path / "reports")["platforms"]} == {"not verified"}


def test_platform_picks_a_subset_and_a_missing_one_is_a_usage_error(
    layout: Path, policy: Path, harden: Harden, tmp_path: Path
) -> None:
    run = harden("image", f"oci:{layout}:1", "--policy", str(policy), "--no-verify", "--platform", "linux/arm64",
                 "--output", f"oci:{tmp_path / 'arm'}:1", "--report-dir", str(tmp_path / "r1"))
    assert run.code == 0, run.stderr
    _, index = read_index(tmp_path / "arm")
    assert [m["platform"]["architecture"] for m in index["manifests"]] == ["arm64"], "still an index: of one"
    assert "left out: linux/amd64: not chosen by --platform" in run.stdout
    assert "linux/amd64: not chosen by --platform" in json.loads((tmp_path / "r1" / "summary.json").read_text())[
        "left_out"]

    missing = harden("image", f"oci:{layout}:1", "--no-verify", "--platform", "linux/s390x",
                     "--output", f"oci:{tmp_path / 'none'}:1", "--report-dir", str(tmp_path / "r2"))
    assert missing.code == 2, missing.stderr
    assert "no image for --platform linux/s390x" in missing.stderr and "linux/arm64/v8" in missing.stderr
    assert not (tmp_path / "none").exists() and not (tmp_path / "r2").exists()


def test_one_platform_outputs_need_platform(layout: Path, policy: Path, harden: Harden, tmp_path: Path) -> None:
    archive = tmp_path / "one.tar"
    refused = harden("image", f"oci:{layout}:1", "--no-verify", "--output", f"docker-archive:{archive}",
                     "--report-dir", str(tmp_path / "r1"))
    assert refused.code == 2, refused.stderr
    assert "holds one platform" in refused.stderr and "choose one with --platform" in refused.stderr
    assert not archive.exists() and not (tmp_path / "r1").exists()
    chosen = harden("image", f"oci:{layout}:1", "--policy", str(policy), "--no-verify", "--platform",
                    "linux/amd64", "--output", f"docker-archive:{archive}", "--report-dir", str(tmp_path / "r2"))
    assert chosen.code == 0, chosen.stderr
    assert archive.is_file()
    compression = harden("image", f"oci:{layout}:1", "--no-verify", "--platform", "linux/amd64",
                         "--compression", "zstd", "--output", f"docker-archive:{tmp_path / 'z.tar'}")
    assert compression.code == 2 and "--compression applies to" in compression.stderr


def test_a_platform_that_cannot_run_here_is_verified_by_linkage_alone(
    layout: Path, policy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """binfmt_misc hidden (as on a machine without qemu-user): arm64 cannot run, so only the static linkage
    check verifies it; the run still passes, and the reports say which platform was verified how."""
    import harden.image.host_platform

    monkeypatch.setattr(harden.image.host_platform, "registered", lambda folder=None: ())
    monkeypatch.setenv("HARDEN_WORKDIR", str(tmp_path / "work"))
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/harden-no-engine.sock")
    reports = tmp_path / "reports"
    result = CliRunner().invoke(cli, ["image", f"oci:{layout}:1", "--policy", str(policy), "--runner", "sandbox",
                                      "--output", f"oci:{tmp_path / 'out'}:1", "--report-dir", str(reports)])
    assert result.exit_code == 0, result.output
    assert "static linkage check only: nothing ran" in result.output
    rows = {row["platform"]: row for row in summary_of(reports)["platforms"]}
    assert rows["linux/amd64"]["verification"] == "sandbox"
    arm = rows["linux/arm64/v8"]
    assert arm["verification"] == "linkage" and arm["verdict"] == "passed"
    assert "binfmt_misc has no enabled interpreter" in arm["how"]
    report = json.loads((reports / arm["reports"] / "report.json").read_text())
    assert "static linkage check only" in report["verification"]["summary"]
    assert "static linkage check only (not run)" in (reports / "summary.md").read_text()
    assert_hardened_index(tmp_path / "out")
