"""Which trees an interpreter's walk covers: ``.pth``-added paths of a venv; a second interpreter sharing the
first one's stdlib walks only its top-level stdlib modules; the probe's own working directory ("" on sys.path,
"/" in a container) is never walked as if it were the image's code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from verify_support import ScriptCall, config, lines, modules, of_type, write_tree


@pytest.fixture(scope="module")
def pth_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv whose site-packages holds ``extra.pth`` naming a folder outside it, with package ``addon``; and
    ``bin/python-again``, a symlink to its interpreter."""
    root = tmp_path_factory.mktemp("pth")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    elsewhere = write_tree(root / "elsewhere", {"addon/__init__.py": "", "addon/part/__init__.py": "",
                                                "addon/part/piece.py": ""})
    (site,) = venv.glob("lib/python3*/site-packages")
    (site / "extra.pth").write_text(f"{elsewhere}\n")
    (venv / "bin" / "python-again").symlink_to("python")
    return venv


def test_a_pth_added_path_is_walked(run_script: ScriptCall, pth_venv: Path) -> None:
    python = str(pth_venv / "bin" / "python")
    done = run_script("walk", "survey", config(interpreters=[python], timeout=60), interpreter=python)
    assert done.returncode == 0, done.stderr
    walked = modules(done.stdout)
    for name in ("addon", "addon.part", "addon.part.piece"):
        assert walked[name]["kind"] == "ok" and walked[name]["stdlib"] is False, name
    assert walked["addon.part.piece"]["origin"] == str(pth_venv.parent / "elsewhere/addon/part/piece.py")


def test_a_second_interpreter_sharing_the_stdlib_walks_only_its_top_level_stdlib_modules(
        run_script: ScriptCall, pth_venv: Path) -> None:
    first, second = str(pth_venv / "bin" / "python"), str(pth_venv / "bin" / "python-again")
    done = run_script("walk", "survey", config(interpreters=[first, second], timeout=60), interpreter=first)
    assert done.returncode == 0, done.stderr
    envs = {env["interpreter"]: env for env in of_type(done.stdout, "env")}
    assert (envs[first]["stdlib_deep"], envs[second]["stdlib_deep"]) == (True, False)
    assert envs[first]["stdlib_dirs"] == envs[second]["stdlib_dirs"]
    one, two = modules(done.stdout, first), modules(done.stdout, second)
    assert "json.decoder" in one and "email.mime.text" in one
    assert not [name for name, line in two.items() if line["stdlib"] and "." in name]
    assert {"json", "email", "os", "_decimal"} <= {name for name, line in two.items() if line["stdlib"]}
    assert two["addon.part.piece"]["kind"] == "ok"  # its own packages are walked deep all the same
    assert len([line for line in of_type(done.stdout, "start")]) == 2


def test_discover_from_the_root_directory_does_not_walk_the_filesystem(run_script: ScriptCall) -> None:
    done = run_script("walk", "discover", cwd=Path("/"), env={"PYTHONPATH": "/"})
    assert done.returncode == 0, done.stderr
    (document,) = lines(done.stdout)
    assert "" in document["sys_path"] and "/" in document["sys_path"]
    names = {tree["name"] for tree in document["trees"]}
    assert not {"usr", "proc", "etc", "tmp", "root", "home"} & names
    assert not [tree for tree in document["trees"] if tree.get("where") == "/"]
    assert {"json", "os", "sys"} <= names


def test_a_survey_from_the_root_directory_walks_no_folder_of_it(run_script: ScriptCall, python: str) -> None:
    done = run_script("walk", "survey", config(interpreters=[python], timeout=60), cwd=Path("/"))
    assert done.returncode == 0, done.stderr
    walked = modules(done.stdout)
    top_level_folders = {name for name in os.listdir("/") if name.isidentifier()}
    assert not {name.split(".")[0] for name in walked} & (top_level_folders - set(sys.stdlib_module_names))
