"""``harden image`` with verification and ``harden verify`` in the bwrap sandbox, on a tiny but real Python
image (the host's Debian interpreter, see ``hostile/host_python.py``): a hardened image that still imports
what the original did passes (exit 0, verify.json written); one that lost a module fails (exit 1, one line
naming it, nothing written but the reports)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.cli_support import validate_report
from hostile import host_python
from hostile.hostile_scene import Scene
from imagefactory import directory, make_layer_tar, whiteout

pytestmark = pytest.mark.skipif(host_python.unavailable() is not None, reason=str(host_python.unavailable()))


def python_image(scene: Scene, *extra: bytes, name: str = "py.tar") -> Path:
    layers = [host_python.python_layer(), *extra]
    return scene.archive(layers, host_python.python_config(layers), name=name, repo_tags=["tiny/python:1"])


def fast_policy(scene: Scene) -> Path:
    path = scene.inputs / "fast.toml"
    path.write_text(host_python.FAST_POLICY)
    return path


def test_harden_verify_and_verify_again(sandbox_scene: Scene) -> None:
    scene = sandbox_scene
    source, policy = python_image(scene), fast_policy(scene)
    out = scene.out / "hardened.tar"
    run = scene.run("image", f"docker-archive:{source}", "--policy", str(policy), "--runner", "sandbox",
                    "--jobs", "1", "--output", f"docker-archive:{out}", "--report-dir", str(scene.reports / "image"))
    assert run.exit_code == 0, run.stdout + run.stderr
    assert "verify:  verify hardened against original (sandbox): PASSED" in run.stdout
    report = validate_report(scene.reports / "image" / "report.json")
    assert report["verification"]["ok"] is True

    again = scene.run("verify", f"docker-archive:{source}", f"docker-archive:{out}", "--policy", str(policy),
                      "--runner", "sandbox", "--jobs", "1", "--report-dir", str(scene.reports / "verify"))
    assert again.exit_code == 0, again.stdout + again.stderr
    assert "PASSED" in again.stdout and again.stderr == ""
    assert scene.created_in(again, "reports") == {"verify"}
    verdict = json.loads((scene.reports / "verify" / "verify.json").read_text())
    assert verdict["ok"] is True


def test_verify_fails_when_a_module_is_gone(sandbox_scene: Scene) -> None:
    scene = sandbox_scene
    policy = fast_policy(scene)
    original = python_image(scene)
    gone = make_layer_tar([directory("usr/local/lib/python3.11/dist-packages"),
                           whiteout(f"{host_python.SITE}/hello")])
    broken = python_image(scene, gone, name="broken.tar")
    run = scene.run("verify", f"docker-archive:{original}", f"docker-archive:{broken}", "--policy", str(policy),
                    "--runner", "sandbox", "--jobs", "1")
    assert run.exit_code == 1, run.stdout + run.stderr
    assert "FAIL hello: " in run.stdout
    line = run.error_line
    assert line.startswith("harden: error: verification failed") and "hello" in line


def test_failed_verification_writes_no_image(sandbox_scene: Scene) -> None:
    """A policy that removes a module the image imports: verification fails (exit 1), the output is not
    written, the reports say why."""
    scene = sandbox_scene
    source = python_image(scene)
    policy = scene.inputs / "breaking.toml"
    policy.write_text(host_python.FAST_POLICY.replace('name = "host-python-fast"', 'name = "breaking"')
                      + f'\n[stages.remove-docs]\nextra_remove = ["{host_python.SITE}/hello/**"]\n')
    out = scene.out / "never.tar"
    run = scene.run("image", f"docker-archive:{source}", "--policy", str(policy), "--runner", "sandbox",
                    "--jobs", "1", "--output", f"docker-archive:{out}", "--report-dir", str(scene.reports / "r"))
    assert run.exit_code == 1, run.stdout + run.stderr
    line = run.error_line
    assert "verification failed; nothing was written" in line and "hello" in line
    assert not out.exists() and scene.created_in(run, "out") == set()
    report = validate_report(scene.reports / "r" / "report.json")
    assert report["verification"]["ok"] is False
