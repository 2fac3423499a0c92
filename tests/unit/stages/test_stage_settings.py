"""Typed stage settings: the fields of each stage's settings class are exactly the keys of its data file (the
one home of keys and defaults), the policy fills them, and the pipeline runs only the enabled stages."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

import pytest
from stage_helpers import FakeImage, settings_of

from harden.errors import InternalError, PolicyError
from harden.pipeline import run_pipeline
from harden.policy import load_policy, validate_policy_file
from harden.policy.stage_schema import load_stage_schemas
from harden.stages._globs import GlobSet
from harden.stages.base import InvalidSetting, StageSettings
from harden.stages.drop_shells import DropShells, DropShellsSettings
from harden.stages.registry import STAGE_ORDER, STAGES


@pytest.mark.parametrize("stage", STAGES, ids=STAGE_ORDER)
def test_the_settings_fields_are_the_keys_of_the_data_file(stage: Any) -> None:
    schema = load_stage_schemas()[stage.name]
    fields = [field.name for field in dataclasses.fields(stage.settings_type)]
    assert fields[0] == "enabled"
    assert sorted(fields) == sorted(schema.defaults)


@pytest.mark.parametrize("stage", STAGES, ids=STAGE_ORDER)
def test_the_defaults_fill_the_settings(stage: Any) -> None:
    settings = settings_of(stage)
    assert type(settings) is stage.settings_type
    for key, value in load_stage_schemas()[stage.name].defaults.items():
        typed = getattr(settings, key)
        if isinstance(typed, GlobSet):
            assert typed == GlobSet.of(value)
        else:
            assert typed == (tuple(value) if isinstance(value, list) else value)


@dataclasses.dataclass(frozen=True, slots=True)
class _Sample(StageSettings):
    count: int
    ratio: float
    name: str
    mode: Literal["a", "b"]
    names: tuple[str, ...]
    keep: GlobSet


SAMPLE = {"enabled": True, "count": 3, "ratio": 1, "name": "x", "mode": "b", "names": ["p", "q"],
          "keep": ("usr/share/doc/**",)}


def test_values_are_taken_by_field_type() -> None:
    sample = _Sample.from_mapping("sample", SAMPLE)
    assert sample == _Sample(True, 3, 1.0, "x", "b", ("p", "q"), GlobSet.of(["usr/share/doc/**"]))
    assert sample.keep.matches("usr/share/doc/x/README")


def test_a_key_too_many_or_too_few_is_an_internal_error() -> None:
    with pytest.raises(InternalError, match=r"^sample\.settings\.extra: _Sample has no such field"):
        _Sample.from_mapping("sample", {**SAMPLE, "extra": 1})
    with pytest.raises(InternalError, match=r"^sample\.settings\.mode: missing"):
        _Sample.from_mapping("sample", {k: v for k, v in SAMPLE.items() if k != "mode"})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("enabled", 1, "invalid setting sample.settings.enabled: expected a boolean, got int"),
        ("count", True, "invalid setting sample.settings.count: expected an integer, got bool"),
        ("name", ["x"], "invalid setting sample.settings.name: expected a string, got list"),
        ("mode", "c", "invalid setting sample.settings.mode: expected one of a, b, got 'c'"),
        ("names", "p", "invalid setting sample.settings.names: expected a list of strings, got str"),
        ("keep", ["/usr"], "invalid setting sample.settings.keep: glob patterns are root-relative paths"),
    ],
)
def test_a_value_that_does_not_fit_is_a_policy_error_at_its_dotted_path(key: str, value: Any, message: str) -> None:
    with pytest.raises(InvalidSetting) as caught:
        _Sample.from_mapping("sample", {**SAMPLE, key: value})
    assert isinstance(caught.value, PolicyError) and caught.value.exit_code == 2
    assert caught.value.message.startswith(message)
    assert caught.value.details == (f"sample.settings.{key} = {value!r}",)


def test_an_unsupported_field_type_is_an_internal_error() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Odd(StageSettings):
        sizes: tuple[int, ...]

    with pytest.raises(InternalError, match="unsupported settings type"):
        Odd.from_mapping("odd", {"enabled": True, "sizes": [1]})


def test_the_policy_fills_the_typed_settings_in_pipeline_order() -> None:
    policy = load_policy("spark-k8s-python-deps")
    assert tuple(policy.stage_settings) == STAGE_ORDER
    docs = policy.settings_for("remove-docs")
    assert docs.remove_code == GlobSet.of(["**/pyspark/examples"])  # type: ignore[attr-defined]
    shells = policy.settings_for("drop-shells")
    assert isinstance(shells, DropShellsSettings) and shells.shells == policy.stages["drop-shells"]["shells"]
    assert [(type(stage), settings) for stage, settings in policy.enabled_stages()] == [
        (cls, policy.settings_for(cls.name)) for cls in STAGES
    ]


def test_a_choice_or_a_glob_the_stage_cannot_take_is_a_policy_problem(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('schema_version = 1\nname = "p"\nextends = "default"\n[stages.drop-shells]\nmode = "most"\n'
                    '[stages.remove-docs]\nkeep = ["/abs"]\n', encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        validate_policy_file(path)
    assert caught.value.details == (
        "stages.remove-docs.keep: glob patterns are root-relative paths without a leading '/': '/abs'",
        "stages.drop-shells.mode: expected one of shells, all-binaries, got 'most'",
    )


@pytest.mark.parametrize("disabled", STAGE_ORDER)
def test_the_pipeline_skips_a_disabled_stage(disabled: str, tmp_path: Path) -> None:
    """Stages do not look at ``enabled``: the policy hands the pipeline the enabled stages only."""
    off = "".join(f"[stages.{name}]\nenabled = {'false' if name == disabled else 'true'}\n" for name in STAGE_ORDER)
    path = tmp_path / "p.toml"
    path.write_text(f'schema_version = 1\nname = "p"\nextends = "default"\n{off}', encoding="utf-8")
    policy = validate_policy_file(path)
    assert policy.settings_for(disabled).enabled is False
    image = FakeImage(tmp_path)
    image.python()
    image.file("usr/share/doc/x/README", "x")
    result = run_pipeline(image.rootfs(), image.image_config(), image.blobs, policy.enabled_stages())
    assert tuple(record.stage for record in result.records) == tuple(n for n in STAGE_ORDER if n != disabled)


def test_the_pipeline_refuses_settings_of_another_stage(tmp_path: Path) -> None:
    image = FakeImage(tmp_path)
    with pytest.raises(InternalError, match="stage drop-shells was given RemoveDocsSettings"):
        from harden.stages.remove_docs import RemoveDocs

        run_pipeline(image.rootfs(), image.image_config(), image.blobs,
                     [(DropShells(), settings_of(RemoveDocs))])
