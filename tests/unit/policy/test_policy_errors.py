"""Invalid policies: every problem, with its dotted path, in one PolicyError (exit code 2)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harden.errors import PolicyError
from harden.policy import load_policy, validate_policy_file

WritePolicy = Callable[[str, str], Path]
HEAD = 'schema_version = 1\nname = "p"\n'


def problems_of(path: Path, stages_dir: Path, policies_dir: Path | None = None) -> tuple[str, ...]:
    with pytest.raises(PolicyError) as caught:
        validate_policy_file(path, stages_dir=stages_dir, policies_dir=policies_dir)
    assert caught.value.exit_code == 2
    assert str(path) in caught.value.message
    return caught.value.details


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # Wrong types, with the index of the offending array item.
        (
            '[stages.remove-tests]\nkeep = ["a", "b", 3]\n',
            "stages.remove-tests.keep[2]: expected a string, got integer",
        ),
        (
            '[stages.remove-tests]\nkeep = "a"\n',
            "stages.remove-tests.keep: expected an array of strings, got string",
        ),
        (
            "[stages.remove-docs]\nenabled = 1\n",
            "stages.remove-docs.enabled: expected a boolean, got integer",
        ),
        ("[stages.add-user]\nuid = true\n", "stages.add-user.uid: expected an integer, got boolean"),
        ('[stages.add-user]\nuid = "65532"\n', "stages.add-user.uid: expected an integer, got string"),
        ("[stages.add-user]\nname = 1979-05-27\n", "stages.add-user.name: expected a string, got datetime"),
        ("[stages.add-user]\nhome = 3\n", "stages.add-user.home: expected a table, got integer"),
        ("[stages.add-user]\nlabels = []\n", "stages.add-user.labels: expected a table, got array"),
        ("[stages.add-user.home]\nmode = 1.5\n", "stages.add-user.home.mode: expected an integer, got float"),
        (
            "[stages.add-user.home]\nextra_dirs = [1]\n",
            "stages.add-user.home.extra_dirs[0]: expected a string, got integer",
        ),
        ('stages = "all"\n', "stages: expected a table, got string"),
        ("[stages]\nremove-docs = true\n", "stages.remove-docs: expected a table, got boolean"),
        # Unknown keys and stages, with a hint.
        (
            "[stages.remove-docs]\nkeeps = []\n",
            "stages.remove-docs.keeps: unknown key (did you mean 'keep'?)",
        ),
        (
            "[stages.remove-tests]\nextra_enabled = true\n",
            "stages.remove-tests.extra_enabled: 'enabled' is not an array",
        ),
        ("[stages.remove-tests]\nextra_nothing = []\n", "stages.remove-tests.extra_nothing: unknown key"),
        (
            "[stages.remove-doc]\nenabled = false\n",
            "stages.remove-doc: unknown stage (did you mean 'remove-docs'?)",
        ),
        ('[stages."a.b"]\nenabled = false\n', 'stages."a.b": unknown stage'),
        ('colour = "blue"\n', "colour: unknown key"),
        ("[output]\nflatten = true\n", "output.flatten: unknown key"),
        # Section values.
        ("[output]\nsquash = false\n", "output.squash: only true is supported"),
        (
            '[output]\ntag_suffix = "no spaces"\n',
            "output.tag_suffix: 'no spaces' is not valid in an image tag",
        ),
        ("[verify]\ntimeout_seconds = 0\n", "verify.timeout_seconds: must be positive, got 0"),
        ("[verify]\nstartup_runs = -1\n", "verify.startup_runs: must be positive, got -1"),
        (
            '[verify]\nimports = ["pandas", "not-a-module"]\n',
            "verify.imports[1]: 'not-a-module' is not a dotted module name",
        ),
        (
            '[verify]\nextra_plugins = ["a..b"]\n',
            "verify.extra_plugins[0]: 'a..b' is not a dotted module name",
        ),
        (
            '[[verify.smoke]]\nname = "x"\ncode = "pass"\ntimeout_seconds = "60"\n',
            "verify.smoke[0].timeout_seconds: expected an integer, got string",
        ),
        ('[[verify.smoke]]\nname = "x"\n', "verify.smoke[0].code: missing (required)"),
        ('[[verify.smoke]]\ncode = "pass"\n', "verify.smoke[0].name: missing (required)"),
        ('[[verify.smoke]]\nname = " "\ncode = "pass"\n', "verify.smoke[0].name: must not be empty"),
        (
            '[[verify.smoke]]\nname = "x"\ncode = "pass"\nretries = 2\n',
            "verify.smoke[0].retries: unknown key",
        ),
        (
            '[[verify.smoke]]\nname = "x"\ncode = "x = (1,\\n"\n',
            "verify.smoke[0].code: Python syntax error at line 1",
        ),
        ('[verify]\nsmoke = ["print(1)"]\n', "verify.smoke[0]: expected a table, got string"),
        (
            '[[verify.smoke]]\nname = "x"\ncode = "pass"\n[[verify.smoke]]\nname = "x"\ncode = "pass"\n',
            "verify.smoke: more than one smoke test named 'x'",
        ),
        ("description = 3\n", "description: expected a string, got integer"),
        ('extends = ""\n', "extends: must not be empty"),
    ],
)
def test_each_error_has_its_dotted_path(
    body: str, expected: str, stages_dir: Path, write_policy: WritePolicy
) -> None:
    path = write_policy("p.toml", HEAD + body)
    details = problems_of(path, stages_dir)
    assert len(details) == 1, details
    assert details[0].startswith(expected), details


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('name = "p"\n', "schema_version: missing (required)"),
        ('schema_version = 2\nname = "p"\n', "schema_version: unsupported version 2 (supported: 1)"),
        ('schema_version = "1"\nname = "p"\n', "schema_version: expected an integer, got string"),
        ('schema_version = true\nname = "p"\n', "schema_version: expected an integer, got boolean"),
        ("schema_version = 1\n", "name: missing (required)"),
        ("schema_version = 1\nname = 5\n", "name: expected a string, got integer"),
        ('schema_version = 1\nname = "has space"\n', "name: 'has space' is not a policy name"),
    ],
)
def test_top_level_errors(text: str, expected: str, stages_dir: Path, write_policy: WritePolicy) -> None:
    details = problems_of(write_policy("p.toml", text), stages_dir)
    assert len(details) == 1, details
    assert details[0].startswith(expected), details


def test_all_errors_are_reported_together(stages_dir: Path, write_policy: WritePolicy) -> None:
    path = write_policy(
        "p.toml",
        """
schema_version = 3
colour = "blue"
[stages.remove-tests]
keep = ["a", 2, false]
[stages.nope]
enabled = true
[verify]
timeout_seconds = "soon"
[[verify.smoke]]
name = "x"
""",
    )
    details = problems_of(path, stages_dir)
    assert details == (
        "colour: unknown key (known: description, extends, name, output, schema_version, stages, verify)",
        "schema_version: unsupported version 3 (supported: 1)",
        "name: missing (required)",
        "stages.remove-tests.keep[1]: expected a string, got integer",
        "stages.remove-tests.keep[2]: expected a string, got boolean",
        "stages.nope: unknown stage (known: add-user, remove-docs, remove-installers, remove-tests)",
        "verify.timeout_seconds: expected an integer, got string",
        "verify.smoke[0].code: missing (required)",
    )


def test_errors_in_a_parent_name_its_file(
    stages_dir: Path, policies_dir: Path, write_policy: WritePolicy
) -> None:
    (policies_dir / "broken.toml").write_text(
        'schema_version = 1\nname = "broken"\n[verify]\nimports = [1]\n', encoding="utf-8"
    )
    path = write_policy("p.toml", HEAD + 'extends = "broken"\n[verify]\nimports = [2]\n')
    details = problems_of(path, stages_dir, policies_dir)
    assert details == (
        "verify.imports[0]: expected a string, got integer",
        "broken.toml: verify.imports[0]: expected a string, got integer",
    )


def test_shipped_name_must_match_its_file(stages_dir: Path, policies_dir: Path) -> None:
    (policies_dir / "alias.toml").write_text('schema_version = 1\nname = "other"\n', encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy("alias", stages_dir=stages_dir, policies_dir=policies_dir)
    assert caught.value.details == ("name: 'other' does not match the shipped file name 'alias'",)


def test_unknown_parent_name(stages_dir: Path, policies_dir: Path, write_policy: WritePolicy) -> None:
    path = write_policy("p.toml", HEAD + 'extends = "defaults"\n')
    assert problems_of(path, stages_dir, policies_dir) == (
        "extends: unknown policy 'defaults' (did you mean 'default'?)",
    )


def test_missing_parent_file(stages_dir: Path, policies_dir: Path, write_policy: WritePolicy) -> None:
    path = write_policy("p.toml", HEAD + 'extends = "../gone.toml"\n')
    (detail,) = problems_of(path, stages_dir, policies_dir)
    assert detail.startswith("extends: no policy file ")
    assert detail.endswith("gone.toml")


def test_extends_loop(stages_dir: Path, write_policy: WritePolicy) -> None:
    a = write_policy("a.toml", 'schema_version = 1\nname = "a"\nextends = "b.toml"\n')
    write_policy("b.toml", 'schema_version = 1\nname = "b"\nextends = "./c.toml"\n')
    write_policy("c.toml", 'schema_version = 1\nname = "c"\nextends = "a.toml"\n')
    assert problems_of(a, stages_dir) == (
        "c.toml: extends: extends loop: a.toml -> b.toml -> c.toml -> a.toml",
    )


def test_extends_itself(stages_dir: Path, write_policy: WritePolicy) -> None:
    a = write_policy("a.toml", 'schema_version = 1\nname = "a"\nextends = "a.toml"\n')
    assert problems_of(a, stages_dir) == ("extends: extends loop: a.toml -> a.toml",)


def test_toml_syntax_error_gives_file_and_line(stages_dir: Path, write_policy: WritePolicy) -> None:
    path = write_policy("p.toml", HEAD + '[verify]\nimports = ["a"\ntimeout_seconds = 3\n')
    (detail,) = problems_of(path, stages_dir)
    assert detail.startswith(f"{path}: TOML syntax error: ")
    assert "line 5" in detail


def test_syntax_error_in_parent_is_reported_with_childs_errors(
    stages_dir: Path, write_policy: WritePolicy
) -> None:
    write_policy("parent.toml", "schema_version = = 1\n")
    path = write_policy("p.toml", HEAD + 'extends = "parent.toml"\n[output]\nsquash = false\n')
    details = problems_of(path, stages_dir)
    assert details[0].startswith("output.squash: only true")
    assert (
        details[1].startswith("parent.toml: ")
        and "TOML syntax error" in details[1]
        and "line 1" in details[1]
    )
    assert len(details) == 2


def test_one_line_summary_counts_the_rest(stages_dir: Path, write_policy: WritePolicy) -> None:
    path = write_policy("p.toml", HEAD + "[verify]\nimports = [1, 2, 3, 4, 5]\n")
    with pytest.raises(PolicyError) as caught:
        validate_policy_file(path, stages_dir=stages_dir)
    assert "(5 problems)" in caught.value.message
    assert caught.value.one_line().endswith("(+2 more)")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('schema_version = 1\nstage = "x"\n[settings]\nenabled = true\n', "x.toml: stage: expected 'x'"),
        ('schema_version = 2\nstage = "x"\n[settings]\n', "x.toml: schema_version: expected 1, got 2"),
        ('schema_version = 1\nstage = "x"\n', "x.toml: settings: expected a table, got nothing"),
        ('schema_version = 1\nstage = "x"\nmore = 1\n[settings]\n', "x.toml: more: unknown key"),
        (
            'schema_version = 1\nstage = "x"\n[settings]\nmixed = [1, "a"]\n',
            "x.toml: settings.mixed: arrays in stage settings must hold one type",
        ),
        (
            'schema_version = 1\nstage = "x"\n[settings]\nwhen = 1979-05-27\n',
            "x.toml: settings.when: unsupported",
        ),
        ("schema_version = \n", "x.toml: cannot read: "),
    ],
)
def test_broken_stage_files(text: str, expected: str, tmp_path: Path, write_policy: WritePolicy) -> None:
    folder = tmp_path / "bad-stages"
    folder.mkdir()
    body = text.replace('stage = "x"', 'stage = "y"') if expected.startswith("x.toml: stage:") else text
    (folder / "x.toml").write_text(body, encoding="utf-8")
    path = write_policy("p.toml", HEAD)
    with pytest.raises(PolicyError) as caught:
        validate_policy_file(path, stages_dir=folder)
    assert caught.value.details[0].startswith(expected), caught.value.details
