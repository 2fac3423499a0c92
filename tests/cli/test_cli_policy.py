"""``harden policy validate|show|list``: a good file exits 0; a bad one exits 2 and lists every problem with
its dotted path (stdout), the one error line on stderr; ``show`` prints the resolved policy as TOML or JSON."""

from __future__ import annotations

import json
import tomllib

import pytest

from hostile.hostile_scene import Scene

GOOD = """\
schema_version = 1
name = "mine"
extends = "default"
description = "a test policy"

[stages.remove-tests]
extra_keep = ["mypkg/testing"]

[verify]
imports = ["json"]
"""

BAD = """\
schema_version = 1
name = "bad name!"
bogus = 1
[stages.remove-tests]
keep = ["a", 2, "c"]
[stages.no-such-stage]
x = 1
[verify]
timeout_seconds = -1
startup_runs = "five"
"""

BAD_PATHS = ("bogus", "name", "stages.remove-tests.keep[1]", "stages.no-such-stage", "verify.timeout_seconds",
             "verify.startup_runs")


def test_validate_good(scene: Scene) -> None:
    path = scene.inputs / "mine.toml"
    path.write_text(GOOD)
    run = scene.run("policy", "validate", str(path))
    assert run.exit_code == 0, run.stderr
    assert run.stdout.startswith(f"{path}: valid policy 'mine' (schema 1, sha256:")
    assert run.stderr == "" and run.created == set()


def test_validate_bad_lists_every_problem(scene: Scene) -> None:
    path = scene.inputs / "bad.toml"
    path.write_text(BAD)
    run = scene.run("policy", "validate", str(path))
    assert run.exit_code == 2
    lines = run.stdout.splitlines()
    assert len(lines) == len(BAD_PATHS), run.stdout
    for dotted in BAD_PATHS:
        assert any(line.startswith(f"{path}: {dotted}: ") for line in lines), f"{dotted} not listed"
    line = run.error_line
    assert f"invalid policy {path} ({len(BAD_PATHS)} problems)" in line and "(+3 more)" in line


@pytest.mark.parametrize("text, problem", [
    ("schema_version = 1\nname = 'x'\n[verify\n", "TOML syntax error"),
    ("name = 'x'\n", "schema_version"),
    ("schema_version = 2\nname = 'x'\n", "schema_version"),
    ("schema_version = 1\nname = 'x'\nextends = 'nope'\n", "extends"),
])
def test_validate_broken_files(scene: Scene, text: str, problem: str) -> None:
    path = scene.inputs / "broken.toml"
    path.write_text(text)
    run = scene.run("policy", "validate", str(path))
    assert run.exit_code == 2, run.stdout + run.stderr
    assert problem in run.error_line


def test_validate_missing_file(scene: Scene) -> None:
    run = scene.run("policy", "validate", str(scene.inputs / "nope.toml"))
    assert run.exit_code == 2
    assert "nope.toml" in run.error_line


def test_bad_policy_stops_harden_image_before_any_work(scene: Scene) -> None:
    path = scene.inputs / "bad.toml"
    path.write_text(BAD)
    run = scene.run("image", f"docker-archive:{scene.inputs / 'not-even-read.tar'}", "--policy", str(path))
    assert run.exit_code == 2
    assert "invalid policy" in run.error_line and run.created == set()


def test_show_default_as_toml_and_json(scene: Scene) -> None:
    toml_run = scene.run("policy", "show", "default")
    assert toml_run.exit_code == 0, toml_run.stderr
    as_toml = tomllib.loads(toml_run.stdout)
    json_run = scene.run("policy", "show", "default", "--format", "json")
    assert json_run.exit_code == 0, json_run.stderr
    as_json = json.loads(json_run.stdout)
    assert as_toml["name"] == as_json["name"] == "default"
    assert as_toml["stages"].keys() == as_json["stages"].keys()
    assert as_json["stages"]["remove-installers"]["enabled"] is True
    assert as_json["stages"]["remove-jvm-payload"]["enabled"] is False


def test_show_a_file_resolves_its_parent(scene: Scene) -> None:
    path = scene.inputs / "mine.toml"
    path.write_text(GOOD)
    run = scene.run("policy", "show", str(path), "--format", "json")
    assert run.exit_code == 0, run.stderr
    policy = json.loads(run.stdout)
    assert policy["name"] == "mine"
    assert "mypkg/testing" in policy["stages"]["remove-tests"]["keep"]
    assert policy["verify"]["imports"] == ["json"]


def test_show_unknown_name(scene: Scene) -> None:
    run = scene.run("policy", "show", "no-such-policy")
    assert run.exit_code == 2
    assert "unknown policy 'no-such-policy'" in run.error_line


def test_list(scene: Scene) -> None:
    run = scene.run("policy", "list")
    assert run.exit_code == 0
    assert {"default", "spark-k8s-python-deps"} <= set(run.stdout.split())
