"""The digest identifies the effective policy; ``to_toml`` writes a standalone policy with the same digest."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from pathlib import Path

from harden.policy import load_policy, validate_policy_file

WritePolicy = Callable[[str, str], Path]

CHILD = """
schema_version = 1
name = "child"
extends = "default"
[stages.remove-tests]
extra_keep = ["**/pandas/_testing/**"]
[stages.add-user.labels]
"team name" = "data \\"core\\""
[[verify.smoke]]
name = "quotes"
code = '''
text = "it's \\\\ fine"
assert text.count("'") == 1
'''
timeout_seconds = 9
"""


def test_digest_is_stable(stages_dir: Path, policies_dir: Path, write_policy: WritePolicy) -> None:
    path = write_policy("child.toml", CHILD)
    first = load_policy(str(path), stages_dir=stages_dir, policies_dir=policies_dir)
    second = load_policy(str(path), stages_dir=stages_dir, policies_dir=policies_dir)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", first.digest)
    assert first.digest == second.digest
    assert first == second


def test_digest_changes_when_any_value_changes(
    stages_dir: Path, policies_dir: Path, write_policy: WritePolicy
) -> None:
    base = load_policy(
        str(write_policy("child.toml", CHILD)), stages_dir=stages_dir, policies_dir=policies_dir
    )
    variants = [
        CHILD.replace("timeout_seconds = 9", "timeout_seconds = 10"),
        CHILD.replace("pandas/_testing", "pandas/testing"),
        CHILD + "[output]\ntag_suffix = 'slim'\n",
        CHILD + "[stages.remove-docs]\nenabled = false\n",
    ]
    digests = {base.digest}
    for i, text in enumerate(variants):
        policy = load_policy(
            str(write_policy(f"v{i}.toml", text)), stages_dir=stages_dir, policies_dir=policies_dir
        )
        digests.add(policy.digest)
    assert len(digests) == len(variants) + 1
    # A parent's change reaches the child's digest too.
    parent = policies_dir / "default.toml"
    parent.write_text(
        parent.read_text(encoding="utf-8").replace("timeout_seconds = 30", "timeout_seconds = 31")
    )
    changed = load_policy(
        str(write_policy("child.toml", CHILD)), stages_dir=stages_dir, policies_dir=policies_dir
    )
    assert changed.digest not in digests


def test_digest_ignores_how_the_policy_was_composed(
    stages_dir: Path, policies_dir: Path, write_policy: WritePolicy
) -> None:
    composed = load_policy(
        str(write_policy("child.toml", CHILD)), stages_dir=stages_dir, policies_dir=policies_dir
    )
    flat = validate_policy_file(write_policy("flat.toml", composed.to_toml()), stages_dir=stages_dir)
    assert flat.chain == ("child",)
    assert composed.chain == ("default", "child")
    assert flat.digest == composed.digest


def test_to_dict_is_json_and_resolved(
    stages_dir: Path, policies_dir: Path, write_policy: WritePolicy
) -> None:
    policy = load_policy(
        str(write_policy("child.toml", CHILD)), stages_dir=stages_dir, policies_dir=policies_dir
    )
    data = json.loads(json.dumps(policy.to_dict()))
    assert data["chain"] == ["default", "child"]
    assert data["stages"]["remove-tests"]["keep"] == ["**/numpy/testing/**", "**/pandas/_testing/**"]
    assert data["stages"]["remove-installers"]["enabled"] is False
    assert data["stages"]["add-user"]["labels"] == {"team name": 'data "core"'}
    assert data["verify"]["imports"] == ["json"]
    assert data["verify"]["smoke"][0]["timeout_seconds"] == 9
    assert list(data) == ["schema_version", "name", "description", "chain", "output", "verify", "stages"]


def test_to_toml_round_trips(stages_dir: Path, policies_dir: Path, write_policy: WritePolicy) -> None:
    policy = load_policy(
        str(write_policy("child.toml", CHILD)), stages_dir=stages_dir, policies_dir=policies_dir
    )
    text = policy.to_toml()
    assert text.startswith("# Resolved policy 'child'")
    assert f"# digest: {policy.digest}" in text
    assert "'''\ntext = \"it's \\\\ fine\"" in text  # code stays readable
    parsed = tomllib.loads(text)
    expected = policy.to_dict()
    del expected["chain"]
    assert parsed == expected
    again = validate_policy_file(write_policy("again.toml", text), stages_dir=stages_dir)
    assert again.to_dict() | {"chain": None} == policy.to_dict() | {"chain": None}
