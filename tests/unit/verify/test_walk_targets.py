"""Entry points (from every distribution's metadata) and the policy's targets are imported by the survey with
their ``:attribute`` loaded; ``discover`` and ``metadata`` report what importlib.metadata sees."""

from __future__ import annotations

from pathlib import Path

import pytest
from verify_support import ScriptCall, config, lines, modules, of_type, write_tree

DISTRIBUTION = {
    "alpha/__init__.py": "def main():\n    return 0\n",
    "alpha/sub.py": "class Thing:\n    run = staticmethod(lambda: 0)\n",
    "_alpha_vendored/__init__.py": "",
    "alpha-1.2.dist-info/METADATA": "Metadata-Version: 2.1\nName: Alpha\nVersion: 1.2\n",
    "alpha-1.2.dist-info/entry_points.txt": (
        "[console_scripts]\nalpha = alpha:main\nbroken = alpha:missing\n"
        "[alpha.plugins]\nthing = alpha.sub:Thing.run [extra]\n"
    ),
    "alpha-1.2.dist-info/RECORD": "alpha/__init__.py,,\nalpha/sub.py,,\n_alpha_vendored/__init__.py,,\n"
                                  "alpha-1.2.dist-info/METADATA,,\n",
    "beta-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: beta\nVersion: 0.1\n",
    "beta-0.1.dist-info/top_level.txt": "beta_mod\n",
    "beta_mod.py": "",
}


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "site", DISTRIBUTION)


def test_entry_points_and_policy_targets_are_imported_with_their_attribute(run_script: ScriptCall, python: str,
                                                                           site: Path) -> None:
    done = run_script("walk", "survey", config(interpreters=[python], targets=["json:loads", "json:nothing"]),
                      path=site)
    assert done.returncode == 0, done.stderr
    walked = modules(done.stdout)
    assert walked["alpha:main"]["kind"] == "ok"
    assert walked["alpha.sub:Thing.run"]["kind"] == "ok"  # the extra is not part of the target
    assert walked["alpha:missing"]["error"] == "AttributeError: module 'alpha' has no attribute 'missing'"
    assert walked["json:loads"]["kind"] == "ok"
    assert walked["json:nothing"]["error"].startswith("AttributeError")
    (env,) = of_type(done.stdout, "env")
    assert env["entry_points"] == 3


def test_discover_lists_trees_with_their_place_and_the_entry_point_targets(run_script: ScriptCall,
                                                                            site: Path) -> None:
    done = run_script("walk", "discover", path=site)
    assert done.returncode == 0, done.stderr
    (document,) = lines(done.stdout)
    trees = {tree["name"]: tree for tree in document["trees"]}
    assert trees["alpha"]["where"] == str(site) and trees["alpha"]["stdlib"] is False
    assert trees["alpha"]["size"] == 2
    assert trees["json"]["stdlib"] is True and trees["sys"]["stdlib"] is True
    assert document["entry_points"] == ["alpha.sub:Thing.run", "alpha:main", "alpha:missing"]


def test_metadata_reports_names_versions_entry_points_top_level_and_roots(run_script: ScriptCall,
                                                                          site: Path) -> None:
    done = run_script("walk", "metadata", path=site)
    assert done.returncode == 0, done.stderr
    (document,) = lines(done.stdout)
    dists = {d["name"]: d for d in document["distributions"]}
    assert set(dists) == {"Alpha", "beta"}
    alpha = dists["Alpha"]
    assert alpha["version"] == "1.2"
    assert alpha["entry_points"] == [["alpha.plugins", "thing", "alpha.sub:Thing.run [extra]"],
                                     ["console_scripts", "alpha", "alpha:main"],
                                     ["console_scripts", "broken", "alpha:missing"]]
    assert alpha["top_level"] == alpha["roots"] == ["_alpha_vendored", "alpha"]  # no top_level.txt: RECORD
    assert dists["beta"]["top_level"] == ["beta_mod"]


def test_targets_are_grouped_by_top_level_name_largest_group_first() -> None:
    from harden.verify.inimage.walk import by_tree

    assert by_tree(["b.x:f", "c.d", "a.b", "b", "a", "a:main"]) == [["a", "a.b", "a:main"], ["b", "b.x:f"], ["c.d"]]
    assert by_tree([]) == []
