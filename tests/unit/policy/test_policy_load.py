"""Loading and resolving valid policies: stage defaults <- ancestors <- child, extra_* appends."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import pytest

from harden.errors import InternalError, PolicyError
from harden.policy import list_policies, load_policy, validate_policy_file

WritePolicy = Callable[[str, str], Path]

CHILD = """
schema_version = 1
name = "child"
extends = "default"
description = "child policy"
[stages.remove-tests]
extra_keep = ["**/pandas/_testing/**", "**/numpy/testing/**"]
[stages.remove-docs]
remove = ["usr/share/info/**"]
extra_remove = ["usr/share/man/**"]
[stages.add-user]
uid = 1000
[stages.add-user.home]
mode = 493
extra_dirs = ["data"]
[stages.add-user.labels]
team = "data"
[verify]
extra_imports = ["csv"]
plugins = ["pyarrow.parquet"]
[[verify.smoke]]
name = "one plus one"
code = "assert 1 + 1 == 2"
"""


def test_bare_name_loads_shipped_file(stages_dir: Path, policies_dir: Path) -> None:
    policy = load_policy("default", stages_dir=stages_dir, policies_dir=policies_dir)
    assert policy.name == "default"
    assert policy.chain == ("default",)
    assert policy.source == (policies_dir / "default.toml").resolve()
    assert policy.description == "base"
    assert not policy.stage_enabled("remove-installers")
    assert policy.stage_enabled("remove-docs")
    # A stage the policy does not mention gets its file's defaults.
    assert policy.stages["remove-docs"]["keep"] == ("**/*.dist-info/METADATA",)
    assert set(policy.stages) == {"remove-docs", "remove-tests", "remove-installers", "add-user"}
    # Sections not given fall back to the built-in defaults.
    assert policy.output.squash is True
    assert policy.output.tag_suffix == "hardened"
    assert policy.verify.imports == ("json",)
    assert policy.verify.timeout_seconds == 30
    assert policy.verify.discover is True
    assert policy.verify.startup_runs == 5
    assert policy.verify.smoke == ()


def test_child_resolution_order_and_extra_appends(
    stages_dir: Path, policies_dir: Path, write_policy: WritePolicy
) -> None:
    path = write_policy("child.toml", CHILD)
    policy = load_policy(str(path), stages_dir=stages_dir, policies_dir=policies_dir)
    assert policy.name == "child"
    assert policy.chain == ("default", "child")
    assert policy.description == "child policy"
    # Inherited from the parent.
    assert not policy.stage_enabled("remove-installers")
    assert policy.verify.timeout_seconds == 30
    # extra_keep appends to the stage default, without repeating an item already there.
    assert policy.stages["remove-tests"]["keep"] == ("**/numpy/testing/**", "**/pandas/_testing/**")
    # A key replaces; extra_ of the same key then appends to the replacement.
    assert policy.stages["remove-docs"]["remove"] == ("usr/share/info/**", "usr/share/man/**")
    # Nested tables merge key by key; a free-form table takes new keys.
    user = policy.stages["add-user"]
    assert user["uid"] == 1000
    assert user["name"] == "nonroot"
    assert dict(user["home"]) == {"path": "/home/nonroot", "mode": 493, "dirs": ("cache", "data")}
    assert dict(user["labels"]) == {"team": "data"}
    # verify: extra_imports appends to the parent's list, plugins replaces the (empty) default.
    assert policy.verify.imports == ("json", "csv")
    assert policy.verify.plugins == ("pyarrow.parquet",)
    (smoke,) = policy.verify.smoke
    assert (smoke.name, smoke.code, smoke.timeout_seconds) == ("one plus one", "assert 1 + 1 == 2", 120)


def test_grandchild_sees_both_ancestors(
    stages_dir: Path, policies_dir: Path, write_policy: WritePolicy
) -> None:
    write_policy("child.toml", CHILD)
    path = write_policy(
        "nested/grandchild.toml",
        """
schema_version = 1
name = "grandchild"
extends = "../child.toml"
[stages.remove-tests]
extra_keep = ["**/scipy/_lib/_testutils.py"]
[verify]
extra_imports = ["decimal"]
extra_smoke = [{ name = "two", code = "pass", timeout_seconds = 5 }]
""",
    )
    policy = validate_policy_file(path, stages_dir=stages_dir, policies_dir=policies_dir)
    assert policy.chain == ("default", "child", "grandchild")
    assert policy.description == ""  # descriptions are not inherited
    assert policy.stages["remove-tests"]["keep"] == (
        "**/numpy/testing/**",
        "**/pandas/_testing/**",
        "**/scipy/_lib/_testutils.py",
    )
    assert policy.verify.imports == ("json", "csv", "decimal")
    assert [t.name for t in policy.verify.smoke] == ["one plus one", "two"]
    assert policy.verify.smoke[1].timeout_seconds == 5


def test_child_value_wins_over_parent(
    stages_dir: Path, policies_dir: Path, write_policy: WritePolicy
) -> None:
    path = write_policy(
        "p.toml",
        'schema_version = 1\nname = "p"\nextends = "default"\n'
        "[stages.remove-installers]\nenabled = true\n[verify]\ntimeout_seconds = 7\nimports = []\n",
    )
    policy = load_policy(str(path), stages_dir=stages_dir, policies_dir=policies_dir)
    assert policy.stage_enabled("remove-installers")
    assert policy.verify.timeout_seconds == 7
    assert policy.verify.imports == ()


def test_float_setting_accepts_an_integer(stages_dir: Path, write_policy: WritePolicy) -> None:
    path = write_policy("p.toml", 'schema_version = 1\nname = "p"\n[stages.add-user]\numask_ratio = 1\n')
    policy = validate_policy_file(path, stages_dir=stages_dir)
    value = policy.stages["add-user"]["umask_ratio"]
    assert isinstance(value, float)
    assert value == 1.0


def test_resolved_policy_is_read_only(stages_dir: Path, policies_dir: Path) -> None:
    policy = load_policy("default", stages_dir=stages_dir, policies_dir=policies_dir)
    with pytest.raises(TypeError):
        policy.stages["remove-docs"]["enabled"] = False  # type: ignore[index]
    assert isinstance(policy.stages["remove-docs"]["keep"], tuple)


def test_resolved_policy_pickles_and_hashes(stages_dir: Path, policies_dir: Path) -> None:
    policy = load_policy("default", stages_dir=stages_dir, policies_dir=policies_dir)
    copy = pickle.loads(pickle.dumps(policy))
    assert copy == policy
    assert hash(copy) == hash(policy)
    assert copy.stages["add-user"]["home"]["dirs"] == ("cache",)


def test_stage_enabled_for_unknown_stage_is_an_internal_error(stages_dir: Path, policies_dir: Path) -> None:
    policy = load_policy("default", stages_dir=stages_dir, policies_dir=policies_dir)
    with pytest.raises(InternalError):
        policy.stage_enabled("no-such-stage")


def test_list_policies(policies_dir: Path) -> None:
    (policies_dir / "zeta.toml").write_text('schema_version = 1\nname = "zeta"\n', encoding="utf-8")
    (policies_dir / "notes.txt").write_text("not a policy", encoding="utf-8")
    assert list_policies(policies_dir) == ["default", "zeta"]


def test_unknown_bare_name(stages_dir: Path, policies_dir: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy("defualt", stages_dir=stages_dir, policies_dir=policies_dir)
    assert "did you mean 'default'" in caught.value.message
    assert caught.value.exit_code == 2


def test_missing_file(stages_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="not found"):
        load_policy(str(tmp_path / "absent.toml"), stages_dir=stages_dir)
