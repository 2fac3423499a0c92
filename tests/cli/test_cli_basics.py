"""The ``harden`` command itself: version, help, usage errors (exit 2) and the internal-error path (exit 4,
one line without a traceback; the traceback only with ``--debug``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import harden.job.harden
from harden import __version__
from harden.cli.main import cli
from hostile.hostile_scene import Scene


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"], prog_name="harden")
    assert result.exit_code == 0
    assert result.stdout == f"harden, version {__version__}\n"


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_lists_every_command_and_the_exit_codes(flag: str) -> None:
    result = CliRunner().invoke(cli, [flag], prog_name="harden")
    assert result.exit_code == 0
    for command in ("image", "policy", "report", "verify"):
        assert f"  {command} " in result.stdout
    text = " ".join(result.stdout.split())
    for code in ("0 ok", "1 findings", "2 usage", "3 input or environment", "disk full", "4 internal error",
                 "130 interrupted", "143 terminated"):
        assert code in text


@pytest.mark.parametrize("command", [["image"], ["verify"], ["report"], ["policy"], ["policy", "validate"],
                                     ["policy", "show"], ["policy", "list"]])
def test_every_subcommand_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"], prog_name="harden")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: harden {' '.join(command)} ")


@pytest.mark.parametrize("args, message", [
    ([], "Usage: harden"),
    (["frobnicate"], "No such command 'frobnicate'"),
    (["image"], "Missing argument 'SOURCE'"),
    (["image", "x:1", "--bogus"], "No such option '--bogus'"),
    (["image", "x:1", "--runner", "moon"], "Invalid value for '--runner'"),
    (["image", "x:1", "--jobs", "-1"], "Invalid value for '--jobs'"),
    (["image", "x:1", "--fail-on", "sometimes"], "Invalid value for '--fail-on'"),
    (["verify", "only-one:1"], "Missing argument 'HARDENED'"),
    (["report", "x:1", "--fail-on", "maybe"], "Invalid value for '--fail-on'"),
    (["policy", "show", "default", "--format", "yaml"], "Invalid value for '--format'"),
    (["policy", "validate"], "Missing argument 'PATH'"),
    (["image", "x:1", "--max-image-size", "12Q"], "Invalid value for '--max-image-size': '12Q' is not a size"),
    (["report", "x:1", "--max-image-size", "-5"], "Invalid value for '--max-image-size'"),
    (["verify", "a:1", "b:1", "--max-image-size", "0"], "Invalid value for '--max-image-size'"),
])
def test_bad_usage_exits_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, args, prog_name="harden")
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("reference, message", [
    ("docker-archive:", "missing path"),
    ("foo:bar:baz", "invalid image reference"),
    ("oci-archive:", "missing path"),
])
def test_malformed_references_are_usage_errors(scene: Scene, reference: str, message: str) -> None:
    run = scene.run("image", reference, "--no-verify", "--report-dir", str(scene.reports / "r"))
    assert run.exit_code == 2
    assert message in run.error_line
    assert run.created == set()


def test_engine_name_as_output_is_a_usage_error(scene: Scene, tiny: Path) -> None:
    run = scene.run("image", f"docker-archive:{tiny}", "--no-verify", "--output", "some/image:1")
    assert run.exit_code == 2 and "--output takes docker://, docker-archive:, oci-archive:, oci:" in run.error_line
    assert "use --tag NAME:TAG for the engine" in run.error_line
    assert run.created == set()


@pytest.fixture
def injected_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in the middle of a run (after the source was read into the workspace): the pipeline raises."""
    def broken_pipeline(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("injected fault")

    monkeypatch.setattr(harden.job.harden, "run_pipeline", broken_pipeline)


@pytest.mark.usefixtures("injected_fault")
def test_internal_error_exits_4_with_one_line_and_no_traceback(scene: Scene, tiny: Path) -> None:
    run = scene.run("image", f"docker-archive:{tiny}", "--no-verify", "--output",
                    f"docker-archive:{scene.out / 'out.tar'}", "--report-dir", str(scene.reports / "r"))
    assert run.exit_code == 4
    assert run.stderr == ("harden: internal error: ZeroDivisionError: injected fault "
                          "(run with --debug for details)\n")
    assert run.created == set(), "an internal error leaves no output and no workspace"


@pytest.mark.usefixtures("injected_fault")
def test_debug_shows_the_traceback(scene: Scene, tiny: Path) -> None:
    run = scene.run("--debug", "image", f"docker-archive:{tiny}", "--no-verify", "--report-dir",
                    str(scene.reports / "r"))
    assert run.exit_code == 4
    assert run.stderr.startswith("harden: internal error: ZeroDivisionError: injected fault")
    assert "Traceback (most recent call last)" in run.stderr
    assert "broken_pipeline" in run.stderr


def test_debug_shows_the_traceback_of_expected_errors_too(scene: Scene) -> None:
    run = scene.run("--debug", "image", f"docker-archive:{scene.inputs / 'missing.tar'}", "--no-verify")
    assert run.exit_code == 3
    assert run.stderr.startswith("harden: error: docker-archive ")
    assert "Traceback (most recent call last)" in run.stderr and "ImageNotFound" in run.stderr
