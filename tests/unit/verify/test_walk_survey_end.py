"""The survey's last lines: each interpreter's bare start (``python -c pass``: exit code and stderr, where start-up
code broken by hardening shows), and ``done`` with the scratch places the run could write."""

from __future__ import annotations

from pathlib import Path

from verify_support import ScriptCall, config, lines, of_type, write_tree


def test_done_lists_the_writable_scratch_places_home_included(run_script: ScriptCall, home: Path,
                                                              tmp_path: Path) -> None:
    done = run_script("walk", "survey", config(interpreters=[]))
    (last,) = of_type(done.stdout, "done")
    assert str(home) in last["writable"] and "/tmp" in last["writable"]
    assert not list(home.iterdir()), "the probe files are removed"
    unwritable = run_script("walk", "survey", config(interpreters=[]), env={"HOME": str(tmp_path / "nowhere")})
    (last,) = of_type(unwritable.stdout, "done")
    assert str(tmp_path / "nowhere") not in last["writable"]
    assert of_type(done.stdout, "done") == [lines(done.stdout)[-1]]  # the last line


def test_the_bare_start_records_exit_code_and_stderr(run_script: ScriptCall, python: str, tmp_path: Path) -> None:
    clean = run_script("walk", "survey", config(interpreters=[python]))
    (start,) = of_type(clean.stdout, "start")
    assert (start["interpreter"], start["exit_code"], start["stderr"]) == (python, 0, "")
    tree = write_tree(tmp_path / "site", {"sitecustomize.py": "import sys\nsys.stderr.write('start-up broke\\n')\n"})
    noisy = run_script("walk", "survey", config(interpreters=[python]), path=tree)
    (start,) = of_type(noisy.stdout, "start")
    assert (start["exit_code"], start["stderr"]) == (0, "start-up broke\n")


def test_an_interpreter_that_does_not_exist_is_an_env_error_and_the_survey_goes_on(
        run_script: ScriptCall, python: str) -> None:
    done = run_script("walk", "survey", config(interpreters=["/nonexistent/python3", python]))
    assert done.returncode == 0, done.stderr
    envs = {env["interpreter"]: env for env in of_type(done.stdout, "env")}
    assert envs["/nonexistent/python3"] == {"type": "env", "interpreter": "/nonexistent/python3",
                                           "error": "no such file"}
    assert "error" not in envs[python] and envs[python]["stdlib_deep"] is True
    assert of_type(done.stdout, "done")
