"""The in-image probe, run exactly as the runners run it (``python -c SOURCE …``) by the host's Python
against tiny module trees: crash and hang isolation, protocol robustness, discovery, metadata, smoke, startup,
assertion facts."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from verify_support import ProbeCall, json_lines, write_tree

from harden.verify import probe
from harden.verify.probes import MAX_SOURCE, probe_source

MODULES = {
    "a_first.py": "VALUE = 1\n",
    "crasher.py": "import os\nos._exit(3)\n",
    "hanger.py": "import time\ntime.sleep(600)\n",
    "segfaulter.py": "import ctypes\nctypes.string_at(0)\n",
    "z_last.py": "VALUE = 2\n",
    "broken.py": "import does_not_exist_anywhere\n",
    "exits.py": "raise SystemExit(2)\n",
    "noisy.py": (
        "import sys\n"
        'print(\'{"module": "forged", "ok": true, "kind": "ok", "error": ""}\')\n'
        "sys.stdin.read()\n"
    ),
    "poison.py": "import sys\nsys.modules['victim_dep'] = None\n",
    "victim.py": "import victim_dep\n",
    "victim_dep.py": "X = 1\n",
    "withattr.py": "def main():\n    return 0\n",
}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "site", MODULES)


def test_probe_source_is_small_enough_for_one_argv_string_and_parses_as_python_3_8() -> None:
    source = probe_source()
    assert len(source.encode()) < MAX_SOURCE
    ast.parse(source, feature_version=(3, 8))


def test_a_crash_and_a_hang_cost_only_their_own_module(run_probe: ProbeCall, tree: Path) -> None:
    targets = ["a_first", "crasher", "hanger", "segfaulter", "z_last"]
    done = run_probe("imports", "--jobs", "1", "--timeout", "3", *targets, path=tree)
    assert done.returncode == 0, done.stderr
    results = json_lines(done.stdout)
    assert sorted(results) == sorted(targets)
    assert results["a_first"]["kind"] == "ok"
    assert results["z_last"]["kind"] == "ok"
    assert results["crasher"]["kind"] == "crash"
    assert "exited with 3" in results["crasher"]["error"]
    assert results["segfaulter"]["kind"] == "crash"
    assert "signal 11" in results["segfaulter"]["error"]
    assert results["hanger"]["kind"] == "timeout"


def test_import_errors_and_system_exit_are_recorded_with_their_message(
        run_probe: ProbeCall, tree: Path) -> None:
    done = run_probe("imports", "--jobs", "2", "broken", "exits", "nosuchmodule", path=tree)
    results = json_lines(done.stdout)
    assert results["broken"]["error"] == "ModuleNotFoundError: No module named 'does_not_exist_anywhere'"
    assert results["exits"]["error"] == "SystemExit: 2"
    assert results["nosuchmodule"]["kind"] == "error"
    assert not any(row["ok"] for row in results.values())


def test_a_module_that_prints_or_reads_stdin_cannot_forge_results(run_probe: ProbeCall, tree: Path) -> None:
    done = run_probe("imports", "--jobs", "1", "noisy", "z_last", path=tree)
    assert len(done.stdout.splitlines()) == 2
    results = json_lines(done.stdout)
    assert set(results) == {"noisy", "z_last"}
    assert results["noisy"]["ok"] is True


def test_a_failure_after_other_imports_is_rechecked_in_a_fresh_interpreter(
        run_probe: ProbeCall, tree: Path) -> None:
    # poison sorts first and breaks victim's dependency in the shared worker; alone, victim imports
    done = run_probe("imports", "--jobs", "1", "poison", "victim", path=tree)
    results = json_lines(done.stdout)
    assert results["victim"]["kind"] == "ok"
    assert results["victim"]["isolated"] is True


def test_entry_point_targets_load_the_attribute(run_probe: ProbeCall, tree: Path) -> None:
    done = run_probe("imports", "withattr:main", "withattr:missing", "json:loads", path=tree)
    results = json_lines(done.stdout)
    assert results["withattr:main"]["ok"] is True
    assert results["json:loads"]["ok"] is True
    assert results["withattr:missing"]["error"].startswith("AttributeError")


def test_parallel_workers_report_every_target_once(run_probe: ProbeCall, tree: Path) -> None:
    targets = ["a_first", "z_last", "json", "decimal", "encodings.cp437", "broken", "withattr"]
    done = run_probe("imports", "--jobs", "3", *targets, path=tree)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert sorted(row["module"] for row in lines) == sorted(targets)


DISTRIBUTION = {
    "alpha/__init__.py": "def main():\n    return 0\n",
    "alpha/__main__.py": "raise SystemExit('must never be imported')\n",
    "alpha/tests/__init__.py": "",
    "nsroot/child/__init__.py": "",
    "tests/__init__.py": "",
    "alpha-1.2.dist-info/METADATA": "Metadata-Version: 2.1\nName: Alpha\nVersion: 1.2\n",
    "alpha-1.2.dist-info/entry_points.txt": "[console_scripts]\nalpha = alpha:main\n",
    "alpha-1.2.dist-info/RECORD": "alpha/__init__.py,,\nalpha-1.2.dist-info/METADATA,,\n",
}


def test_discover_lists_top_level_namespaces_stdlib_and_entry_points_but_no_tests_or_mains(
        run_probe: ProbeCall, tmp_path: Path) -> None:
    site = write_tree(tmp_path / "site", DISTRIBUTION)
    done = run_probe("discover", path=site)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    targets = set(document["targets"])
    assert {"alpha", "nsroot.child", "alpha:main"} <= targets
    assert {"encodings.cp437", "decimal", "numbers", "json.decoder", "email.mime.text", "sys"} <= targets
    assert not any(t.split(".")[0] in ("test", "tests", "antigravity") for t in targets)
    assert not any(part == "__main__" or part.startswith("test_") for t in targets for part in t.split("."))
    assert "idlelib.idle" not in targets
    assert document["counts"]["entry_points"] >= 1


def test_metadata_reports_names_versions_entry_points_and_top_level(
        run_probe: ProbeCall, tmp_path: Path) -> None:
    site = write_tree(tmp_path / "site", DISTRIBUTION)
    done = run_probe("metadata", path=site)
    dists = {d["name"]: d for d in json.loads(done.stdout)["distributions"]}
    assert dists["Alpha"]["version"] == "1.2"
    assert dists["Alpha"]["entry_points"] == [["console_scripts", "alpha", "alpha:main"]]
    assert dists["Alpha"]["top_level"] == ["alpha"]


@pytest.mark.parametrize(
    ("code", "passed", "timed_out"),
    [
        ("import json", True, False),
        ("raise SystemExit(4)", False, False),
        ("import time; time.sleep(60)", False, True),
    ],
)
def test_smoke_passes_only_on_exit_zero_in_time(
        run_probe: ProbeCall, code: str, passed: bool, timed_out: bool) -> None:
    done = run_probe("smoke", "case", "2", code)
    document = json.loads(done.stdout)
    assert (document["name"], document["passed"], document["timed_out"]) == ("case", passed, timed_out)


def test_startup_reports_a_median_of_every_run_and_fails_on_a_broken_import(
        run_probe: ProbeCall, tree: Path) -> None:
    good = json.loads(run_probe("startup", "3", "json", "a_first", path=tree).stdout)
    assert good["ok"] is True
    assert len(good["seconds"]) == 3
    assert min(good["seconds"]) <= good["median"] <= max(good["seconds"])
    bad = json.loads(run_probe("startup", "3", "broken", path=tree).stdout)
    assert bad["ok"] is False
    assert "does_not_exist_anywhere" in bad["error"]


def test_assert_facts_on_a_host_that_has_a_shell(run_probe: ProbeCall, tmp_path: Path) -> None:
    done = run_probe("assert")
    facts = json.loads(done.stdout)
    assert facts["shell_true_ran"] is True
    assert "/bin/sh" in facts["shells_on_disk"]
    assert facts["home"] == str(tmp_path)
    assert facts["home_writable"] is True
    assert not list(tmp_path.glob(".harden-probe-*"))


def test_assert_facts_with_an_unwritable_home(
        run_probe: ProbeCall, tmp_path: Path) -> None:
    # /bin/sh, what shell=True runs, cannot be hidden on the host,
    # so only the HOME side is checked here (the sandbox tests cover the no-shell side)
    done = run_probe("assert", env={"HOME": str(tmp_path / "missing")})
    facts = json.loads(done.stdout)
    assert facts["home_writable"] is False
    assert "FileNotFoundError" in facts["home_error"]


def test_skipped_names() -> None:
    assert probe.skipped("antigravity")
    assert probe.skipped("test")
    assert probe.skipped("json.tests.test_x")
    assert probe.skipped("pkg.__main__")
    assert probe.skipped("idlelib.idle")
    assert not probe.skipped("idlelib")
    assert not probe.skipped("numpy.testing")
    assert not probe.skipped("pandas._testing")


def test_unknown_subcommand_is_a_usage_error(run_probe: ProbeCall) -> None:
    done = run_probe("frobnicate")
    assert done.returncode == 2
    assert done.stdout == ""
