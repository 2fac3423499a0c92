"""``walk.py imports`` shares one worker per top-level tree (parents first), ``walk.py recheck`` imports each
target alone in a fresh interpreter: a module that only fails after a sibling poisoned the shared worker
imports fine alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from verify_support import PID, ScriptCall, config, modules, of_type, write_tree

TREE = {
    "pkg/__init__.py": "",
    "pkg/a_poison.py": "import sys\nsys.modules['pkg_dep'] = None\n",
    "pkg/b_victim.py": "import pkg_dep\n",
    "pkg_dep.py": "",
    "alpha/__init__.py": "",
    "alpha/one.py": PID,
    "alpha/two.py": PID,
    "beta/__init__.py": "",
    "beta/one.py": PID,
    "gone.py": "import no_such_module_anywhere\n",
}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "site", TREE)


def test_a_poisoned_import_in_the_shared_walk_imports_fine_alone(run_script: ScriptCall, python: str,
                                                                 tree: Path) -> None:
    targets = ["pkg.b_victim", "pkg.a_poison", "gone"]
    shared = run_script("walk", "imports", config(interpreter=python, targets=targets, jobs=1), path=tree)
    alone = run_script("walk", "recheck", config(interpreter=python, targets=targets, jobs=2), path=tree)
    assert shared.returncode == alone.returncode == 0, shared.stderr + alone.stderr
    assert of_type(shared.stdout, "done") and of_type(alone.stdout, "done")
    in_walk, by_itself = modules(shared.stdout), modules(alone.stdout)
    assert set(in_walk) == set(by_itself) == set(targets)
    assert in_walk["pkg.b_victim"]["kind"] == "error"  # pkg.a_poison sorted first, in the same worker
    assert "pkg_dep" in in_walk["pkg.b_victim"]["error"]
    assert (by_itself["pkg.b_victim"]["kind"], by_itself["pkg.b_victim"]["isolated"]) == ("ok", True)
    assert by_itself["gone"]["error"] == "ModuleNotFoundError: No module named 'no_such_module_anywhere'"
    assert by_itself["gone"]["isolated"] is True
    assert "isolated" not in in_walk["gone"]


def test_imports_share_a_worker_within_a_tree_and_recheck_never_does(run_script: ScriptCall, python: str,
                                                                     tree: Path, home: Path) -> None:
    targets = ["alpha.one", "alpha.two", "beta.one"]

    def pids() -> dict[str, str]:
        return {name: (home / name).read_text() for name in targets}

    shared = run_script("walk", "imports", config(interpreter=python, targets=targets, jobs=2), path=tree)
    assert {line["kind"] for line in modules(shared.stdout).values()} == {"ok"}
    in_walk = pids()
    alone = run_script("walk", "recheck", config(interpreter=python, targets=targets, jobs=2), path=tree)
    assert {line["kind"] for line in modules(alone.stdout).values()} == {"ok"}
    by_itself = pids()
    assert in_walk["alpha.one"] == in_walk["alpha.two"]
    assert len(set(by_itself.values())) == 3


def test_recheck_reports_a_crash_and_a_timeout_as_such(run_script: ScriptCall, python: str, tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "site", {"crash.py": "import os\nos._exit(9)\n",
                                          "hang.py": "import time\ntime.sleep(600)\n"})
    done = run_script("walk", "recheck", config(interpreter=python, targets=["crash", "hang"], timeout=2),
                      path=tree)
    assert done.returncode == 0, done.stderr
    found = modules(done.stdout)
    assert found["crash"]["kind"] == "crash" and "exited with 9" in found["crash"]["error"]
    assert found["hang"]["kind"] == "timeout"
