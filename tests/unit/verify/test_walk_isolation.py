"""A module that misbehaves at import costs only itself: SystemExit is a recorded error, printing (to
sys.stdout, sys.__stdout__ or fd 1), reading stdin or replacing sys.stdout cannot forge or corrupt results, a
crash or a hang is recorded and the worker replaced; the siblings after it in the same tree are still walked."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from verify_support import PID, config, lines, modules, of_type, write_tree

from harden.verify.scripts import script_source

FORGED = '{"type": "module", "module": "forged", "kind": "ok", "interpreter": "x", "stdlib": false}'

TREE = {
    "iso/__init__.py": "",
    "iso/a_first.py": PID,
    "iso/b_exits.py": "raise SystemExit(3)\n",
    "iso/c_noisy.py": (
        "import io, os, sys\n"
        f"print({FORGED!r})\n"
        f"sys.__stdout__.write({FORGED!r} + '\\n')\n"
        f"sys.__stdout__.flush()\n"
        f"os.write(1, {FORGED!r}.encode() + b'\\n')\n"
        "assert sys.stdin.read() == ''\n"
        "sys.stdout = io.StringIO()\n"
    ),
    "iso/d_after_noise.py": PID,
    "iso/e_crash.py": "import os\nos._exit(7)\n",
    "iso/f_after_crash.py": PID,
    "iso/g_segfault.py": "import ctypes\nctypes.string_at(0)\n",
    "iso/h_after_segfault.py": PID,
    "iso/i_hang.py": "import time\ntime.sleep(600)\n",
    "iso/j_after_hang.py": PID,
}


@dataclass(frozen=True)
class Walked:
    stdout: str
    home: Path


@pytest.fixture(scope="module")
def walked(python: str, tmp_path_factory: pytest.TempPathFactory) -> Walked:
    """One survey over TREE, one walking thread (so one worker at a time), 5 s per import."""
    root = tmp_path_factory.mktemp("isolation")
    tree = write_tree(root / "site", TREE)
    home = root / "home"
    home.mkdir()
    done = subprocess.run([python, "-c", script_source("walk"), "survey", config(interpreters=[python], timeout=5,
                                                                                  jobs=1)],
                          capture_output=True, text=True, cwd=root, timeout=600, check=False,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(home), "PYTHONPATH": str(tree)})
    assert done.returncode == 0, done.stderr
    assert of_type(done.stdout, "done")
    return Walked(done.stdout, home)


def test_each_misbehaving_module_costs_only_itself(walked: Walked) -> None:
    every = lines(walked.stdout)  # each line parses: nothing the modules printed reached stdout
    assert not [line for line in every if line.get("module") == "forged"]
    found = modules(walked.stdout)
    results = {name: (line["kind"], line["error"]) for name, line in found.items() if name.startswith("iso.")}
    assert results.pop("iso.b_exits") == ("error", "SystemExit: 3")
    assert results.pop("iso.c_noisy") == ("ok", "")
    kind, error = results.pop("iso.e_crash")
    assert kind == "crash" and error.startswith("worker crashed (exited with 7)")
    kind, error = results.pop("iso.g_segfault")
    assert kind == "crash" and error.startswith("worker crashed (killed by signal 11)")
    assert results.pop("iso.i_hang") == ("timeout", "import did not finish within 5s")
    assert results == dict.fromkeys(("iso.a_first", "iso.d_after_noise", "iso.f_after_crash",
                                     "iso.h_after_segfault", "iso.j_after_hang"), ("ok", ""))


def test_a_crashed_or_hung_worker_is_replaced_and_a_failed_import_keeps_it(walked: Walked) -> None:
    pid = {name: (walked.home / name).read_text() for name in (
        "iso.a_first", "iso.d_after_noise", "iso.f_after_crash", "iso.h_after_segfault", "iso.j_after_hang")}
    assert pid["iso.a_first"] == pid["iso.d_after_noise"]  # SystemExit and the noise did not cost the worker
    assert len({pid["iso.d_after_noise"], pid["iso.f_after_crash"], pid["iso.h_after_segfault"],
                pid["iso.j_after_hang"]}) == 4  # a new worker after each crash and after the hang
