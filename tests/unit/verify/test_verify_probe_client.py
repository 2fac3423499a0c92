"""The host side of the probe (``Probe``): batching, parsing, failures of the probe itself, and the same probe
through the bwrap sandbox as an unprivileged user."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from verify_support import LocalRunner, write_tree

from harden.verify import probes
from harden.verify.probes import Probe, ProbeFailed, parse_import_lines
from harden.verify.result import OutcomeKind
from harden.verify.runners import SandboxRunner, bwrap_path
from harden.verify.users import RunAs

SITE = {
    "good.py": "X = 1\n",
    "bad.py": "import nowhere_to_be_found\n",
    "slow.py": "import time\ntime.sleep(600)\n",
    "demo-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: demo\nVersion: 0.1\n",
    "demo-0.1.dist-info/entry_points.txt": "[console_scripts]\ndemo = good:X\n",
    "demo-0.1.dist-info/top_level.txt": "good\n",
}


@pytest.fixture
def local(tmp_path: Path) -> LocalRunner:
    site = write_tree(tmp_path / "site", SITE)
    home = tmp_path / "home"
    home.mkdir()
    return LocalRunner({"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site), "HOME": str(home)}, tmp_path)


def test_imports_run_in_batches_and_every_target_gets_an_outcome(local: LocalRunner,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probes, "BATCH", 2)
    seen: list[int] = []
    probe = Probe(local, sys.executable, "original", jobs=2, timeout_seconds=2)
    outcomes = probe.imports(["good", "bad", "slow", "json", "good:X"], seen.append)
    assert len(local.calls) == 3
    assert seen == [2, 2, 1]
    assert outcomes["good"].ok and outcomes["json"].ok and outcomes["good:X"].ok
    assert outcomes["bad"].kind is OutcomeKind.ERROR
    assert outcomes["slow"].kind is OutcomeKind.TIMEOUT


def test_an_interpreter_that_does_not_exist_fails_the_probe(local: LocalRunner) -> None:
    probe = Probe(local, "/nonexistent/python3", "hardened")
    with pytest.raises(ProbeFailed, match="hardened image with /nonexistent/python3"):
        probe.discover()
    with pytest.raises(ProbeFailed):
        probe.imports(["json"])
    assert not probe.smoke("s", "pass", 5).passed


def test_metadata_smoke_facts_and_startup(local: LocalRunner) -> None:
    probe = Probe(local, sys.executable, "original")
    dists = probe.metadata()
    assert dists["demo"].version == "0.1"
    assert dists["demo"].entry_points == (("console_scripts", "demo", "good:X"),)
    assert probe.smoke("ok", "import good", 30).passed
    failed = probe.smoke("boom", "raise RuntimeError('kaputt')", 30)
    assert not failed.passed
    assert "RuntimeError: kaputt" in failed.detail
    assert "home_writable" in probe.facts()
    startup = probe.startup(["json"], 2)
    assert startup.median is not None and startup.median > 0
    assert probe.startup(["bad"], 1).median is None


def test_discover_includes_the_tree_and_the_entry_point(local: LocalRunner) -> None:
    discovery = Probe(local, sys.executable, "original").discover()
    assert {"good", "bad", "slow", "good:X", "decimal"} <= set(discovery.targets)
    assert discovery.version == f"{sys.version_info[0]}.{sys.version_info[1]}"


def test_partial_or_garbled_probe_output_keeps_what_parsed() -> None:
    stdout = ('{"module": "a", "ok": true, "kind": "ok", "error": ""}\n'
              "garbage\n"
              '{"module": "b", "ok": false, "kind": "weird", "error": ""}\n'
              '{"module": "c", "ok": false, "kind": "crash", "error": "worker crashed"}\n'
              '{"module": "d", "ok": tr')
    outcomes = parse_import_lines(stdout)
    assert set(outcomes) == {"a", "c"}
    assert outcomes["c"].kind is OutcomeKind.CRASH


@pytest.mark.skipif(bwrap_path() is None, reason="bwrap (Debian package bubblewrap) is not installed")
@pytest.mark.skipif(not os.access("/usr/bin/python3", os.X_OK), reason="/usr/bin/python3 is needed")
def test_the_probe_through_the_sandbox_as_an_unprivileged_user() -> None:
    runner = SandboxRunner(Path("/"), RunAs(65534, 65534, "/nonexistent"), ["PATH=/usr/bin:/bin"])
    probe = Probe(runner, "/usr/bin/python3", "hardened", jobs=2, timeout_seconds=30)
    outcomes = probe.imports(["json", "decimal", "encodings.cp437", "no_such_module_here"])
    assert [m for m, o in sorted(outcomes.items()) if o.ok] == ["decimal", "encodings.cp437", "json"]
    facts = probe.facts()
    assert facts["uid"] == 65534
    assert facts["home_writable"] is False
