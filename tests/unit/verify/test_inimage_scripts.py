"""The in-image scripts as sources: they fit in one argv string, parse as Python 3.8, import nothing outside the
standard library, and refuse a command line they do not know with exit 2 and nothing on stdout."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from verify_support import ScriptCall, config, of_type

from harden.verify import scripts
from harden.verify.scripts import MAX_SOURCE, script_source

SCRIPTS = ("walk", "facts")


@pytest.mark.parametrize("name", SCRIPTS)
def test_each_script_fits_one_argv_string_and_parses_as_python_3_8(name: scripts.Script) -> None:
    source = script_source(name)
    assert 0 < len(source.encode()) < MAX_SOURCE
    ast.parse(source, feature_version=(3, 8))


@pytest.mark.parametrize("name", SCRIPTS)
def test_each_script_imports_only_the_standard_library(name: scripts.Script) -> None:
    imported = set()
    for node in ast.walk(ast.parse(script_source(name))):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
    assert imported, "the scan found no import at all"
    assert imported - {"__future__"} <= set(sys.stdlib_module_names)


@pytest.fixture
def tiny_limit(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    script_source.cache_clear()
    monkeypatch.setattr(scripts, "MAX_SOURCE", 1000)
    yield
    script_source.cache_clear()


@pytest.mark.usefixtures("tiny_limit")
def test_a_script_past_the_size_limit_is_refused() -> None:
    with pytest.raises(AssertionError, match="grew past the size one argv string can carry"):
        script_source("walk")


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("walk", ()),
        ("walk", ("frobnicate",)),
        ("walk", ("survey",)),
        ("walk", ("recheck", "{}", "extra")),
        ("facts", ()),
        ("facts", ("frobnicate",)),
        ("facts", ("startup",)),
    ],
)
def test_an_unknown_command_line_is_a_usage_error(run_script: ScriptCall, name: scripts.Script,
                                                  args: tuple[str, ...]) -> None:
    done = run_script(name, *args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(f"usage: {name} ")


def _python_3_8() -> str | None:
    """A working Python 3.8: on PATH, or installed by pyenv (whose shim only runs a selected version)."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [shutil.which("python3.8"), *map(str, sorted(pyenv.glob("versions/3.8*/bin/python3.8")))]
    for found in filter(None, candidates):
        done = subprocess.run([found, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True,
                              text=True, check=False)
        if done.stdout.strip() == "(3, 8)":
            return found
    return None


def test_the_walker_runs_on_python_3_8(run_script: ScriptCall, tmp_path: Path) -> None:
    base = _python_3_8()
    if base is None:
        pytest.skip("no Python 3.8 on this host (the syntax is checked above)")
    subprocess.run([base, "-m", "venv", "--without-pip", str(tmp_path / "venv38")], check=True, timeout=300)
    python38 = str(tmp_path / "venv38" / "bin" / "python")
    document = config(interpreters=[python38], timeout=30, jobs=2, targets=["json:loads"],
                      smoke=[{"name": "json", "code": "import json", "timeout": 30}])
    done = run_script("walk", "survey", document, interpreter=python38)
    assert done.returncode == 0, done.stderr
    (env,) = of_type(done.stdout, "env")
    assert env["version"] == "3.8"
    walked = {line["module"]: line["kind"] for line in of_type(done.stdout, "module")}
    assert walked["json.decoder"] == "ok" and walked["json:loads"] == "ok"
    assert [smoke["passed"] for smoke in of_type(done.stdout, "smoke")] == [True]
    assert of_type(done.stdout, "done")
