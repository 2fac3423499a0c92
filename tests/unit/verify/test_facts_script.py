"""``facts.py`` as the runners run it: the hardening assertions' facts (shells named by the caller, shell=True,
HOME writable, CA bundles, tzdata) and the start-up median of a fresh interpreter."""

from __future__ import annotations

import json
import os
from pathlib import Path

from verify_support import ScriptCall, write_tree


def test_assert_facts_on_a_host_that_has_a_shell(run_script: ScriptCall, home: Path) -> None:
    done = run_script("facts", "assert", "sh", "no-such-shell-name")
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout)
    assert facts["shell_true_ran"] is True
    assert "/bin/sh" in facts["shells_on_disk"]
    assert not [path for path in facts["shells_on_disk"] if path.endswith("/no-such-shell-name")]
    assert (facts["uid"], facts["euid"]) == (os.getuid(), os.geteuid())
    assert (facts["home"], facts["home_writable"], facts["home_error"]) == (str(home), True, "")
    assert not list(home.iterdir()), "the probe file is removed"


def test_only_the_shell_names_given_are_looked_for(run_script: ScriptCall) -> None:
    facts = json.loads(run_script("facts", "assert").stdout)
    assert facts["shells_on_disk"] == []


def test_assert_facts_with_an_unwritable_home(run_script: ScriptCall, tmp_path: Path) -> None:
    # /bin/sh, what shell=True runs, cannot be hidden on the host: the sandbox tests cover the no-shell side
    done = run_script("facts", "assert", env={"HOME": str(tmp_path / "missing")})
    facts = json.loads(done.stdout)
    assert facts["home_writable"] is False
    assert facts["home_error"].startswith("FileNotFoundError")


def test_startup_reports_the_median_of_every_run_and_fails_on_a_broken_import(run_script: ScriptCall,
                                                                              tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "site", {"fine.py": "", "broken.py": "import does_not_exist_anywhere\n"})
    good = json.loads(run_script("facts", "startup", "3", "json", "fine", path=tree).stdout)
    assert good["ok"] is True and good["error"] == ""
    assert len(good["seconds"]) == 3
    assert sorted(good["seconds"])[1] == good["median"]
    bad = json.loads(run_script("facts", "startup", "3", "broken", path=tree).stdout)
    assert (bad["ok"], bad["median"], bad["seconds"]) == (False, None, [])
    assert "does_not_exist_anywhere" in bad["error"]
