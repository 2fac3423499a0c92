"""``harden image docker://… --output docker://…`` against a real registry (distribution 2.8) with no engine at
all (the child's DOCKER_HOST names a socket that does not exist: anything that touched an engine would exit 3),
verified in the bwrap sandbox; skopeo, an independent client, reads the result back."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import deb_python
import pytest
from harden_child import HardenRun
from registry_server import RegistryServer

pytestmark = pytest.mark.registry
Harden = Callable[..., HardenRun]
SKOPEO_TIMEOUT_S = 300


def skopeo_run(skopeo: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([skopeo, "--insecure-policy", *args], capture_output=True, text=True,
                          timeout=SKOPEO_TIMEOUT_S, check=False)
    if ok:
        assert proc.returncode == 0, f"skopeo {' '.join(args)} failed: {proc.stderr.strip()}"
    return proc


def inspect(skopeo: str, ref: str, *extra: str) -> Any:
    return json.loads(skopeo_run(skopeo, "inspect", "--tls-verify=false", *extra, ref).stdout)


def push_layout(skopeo: str, layout: Path, ref: str) -> None:
    skopeo_run(skopeo, "copy", "--all", "--dest-tls-verify=false", f"oci:{layout}:1", ref)


def blob_uploads(server: RegistryServer, repository: str) -> int:
    """Blob uploads the registry completed for ``repository`` (its access log)."""
    return server.log_text().count(f'"PUT /v2/{repository}/blobs/uploads/')


def uploaded_digests(server: RegistryServer, repository: str) -> list[str]:
    """The digest of each blob upload the registry completed for ``repository``, in order (its access log)."""
    pattern = rf'"PUT /v2/{re.escape(repository)}/blobs/uploads/[^" ]*[?&]digest=sha256%3A([0-9a-f]{{64}})'
    return ["sha256:" + hexdigest for hexdigest in re.findall(pattern, server.log_text())]


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(deb_python.FAST_POLICY)
    return path


@pytest.fixture
def source(deb_images: None, plain_registry: RegistryServer, skopeo: str, tmp_path: Path) -> str:
    """A one-platform (linux/amd64) Python image in the registry, pushed by skopeo."""
    ref = f"docker://{plain_registry.host}/app/src:1"
    push_layout(skopeo, deb_python.single_platform_layout(tmp_path / "src-layout"), ref)
    return ref


def test_registry_to_registry_without_an_engine(
    plain_registry: RegistryServer, source: str, skopeo: str, harden: Harden, policy: Path, tmp_path: Path
) -> None:
    dest = f"docker://{plain_registry.host}/app/hardened:1"
    run = harden("image", source, "--policy", str(policy), "--runner", "sandbox", "--output", dest,
                 "--report-dir", str(tmp_path / "reports"))
    assert run.code == 0, run.stderr
    assert "(sandbox): PASSED" in run.stdout and f"wrote:   {dest}" in run.stdout
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    assert report["verification"]["ok"] and "(sandbox): PASSED" in report["verification"]["summary"]

    config = inspect(skopeo, dest, "--config")
    uid = config["config"]["User"].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"User {config['config']['User']!r} is not a numeric non-root user"
    info = inspect(skopeo, dest)
    assert info["Labels"]["io.github.harden.policy"] == "deb-python-fast"
    assert len(info["Layers"]) == 1 and info["Architecture"] == "amd64"
    raw = json.loads(skopeo_run(skopeo, "inspect", "--raw", "--tls-verify=false", dest).stdout)
    assert raw["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert raw["layers"][0]["mediaType"].endswith("+gzip")

    # skopeo copies it out whole (every blob there, every digest right)
    skopeo_run(skopeo, "copy", "--src-tls-verify=false", dest, f"oci:{tmp_path / 'copy'}:1")

    # the same run again: the image is deterministic, so the registry has each of its blobs (HEAD) and none is
    # uploaded again; only the run's own statements (their times, the report's digest) and SBOM are new blobs
    image_blobs = {raw["config"]["digest"], *(layer["digest"] for layer in raw["layers"])}
    before = len(uploaded_digests(plain_registry, "app/hardened"))
    assert image_blobs <= set(uploaded_digests(plain_registry, "app/hardened"))
    again = harden("image", source, "--policy", str(policy), "--runner", "sandbox", "--output", dest,
                   "--report-dir", str(tmp_path / "reports-2"))
    assert again.code == 0, again.stderr
    uploaded_again = set(uploaded_digests(plain_registry, "app/hardened")[before:])
    assert not uploaded_again & image_blobs, "a blob of the image was uploaded again"
    assert len(uploaded_again) <= 4, uploaded_again  # the SBOM, the provenance, the VSA, the SBOM statement
    assert inspect(skopeo, dest)["Digest"] == info["Digest"]


def test_zstd_output_is_read_back(
    plain_registry: RegistryServer, source: str, skopeo: str, harden: Harden, policy: Path, tmp_path: Path
) -> None:
    dest = f"docker://{plain_registry.host}/app/hardened-zstd:1"
    run = harden("image", source, "--policy", str(policy), "--no-verify", "--compression", "zstd:9",
                 "--output", dest, "--output", f"oci:{tmp_path / 'layout'}:1", "--report-dir", str(tmp_path / "r"))
    assert run.code == 0, run.stderr
    raw = json.loads(skopeo_run(skopeo, "inspect", "--raw", "--tls-verify=false", dest).stdout)
    assert raw["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd"
    index = json.loads((tmp_path / "layout" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == inspect(skopeo, dest)["Digest"], "one image, the same digest"
    review = harden("report", dest, "--report-dir", str(tmp_path / "review"), "--fail-on", "never")
    assert review.code == 0, review.stderr


def test_a_failed_verification_leaves_no_tag(
    plain_registry: RegistryServer, source: str, skopeo: str, harden: Harden, tmp_path: Path
) -> None:
    policy = tmp_path / "strict.toml"
    policy.write_text(deb_python.FAST_POLICY.replace('"hello"]', '"hello", "no_such_module_anywhere"]'))
    dest = f"docker://{plain_registry.host}/app/never:1"
    run = harden("image", source, "--policy", str(policy), "--runner", "sandbox", "--output", dest,
                 "--report-dir", str(tmp_path / "reports"))
    assert run.code == 1, run.stdout + run.stderr
    assert "no_such_module_anywhere" in run.stderr
    assert skopeo_run(skopeo, "inspect", "--tls-verify=false", dest, ok=False).returncode != 0
    assert blob_uploads(plain_registry, "app/never") == 0, "nothing is pushed before verification passed"


def test_outputs_that_cannot_be_written_are_refused_before_any_work(
    plain_registry: RegistryServer, source: str, harden: Harden, tmp_path: Path
) -> None:
    digest = "sha256:" + "a" * 64
    run = harden("image", source, "--no-verify", "--output", f"docker://{plain_registry.host}/app/x@{digest}")
    assert run.code == 2 and "an output needs a tag" in run.stderr, run.stderr
    down = harden("image", source, "--no-verify", "--output", "docker://127.0.0.1:9/app/x:1")
    assert down.code == 3 and "registry 127.0.0.1:9" in down.stderr, down.stderr
    same = harden("image", source, "--no-verify", "--output", source)
    assert same.code == 2 and "would overwrite the source" in same.stderr, same.stderr
    assert not (tmp_path / "reports").exists()
