from __future__ import annotations

import pytest

from harden.errors import UsageError
from harden.policy.stage_schema import load_stage_schemas
from harden.stages.base import StageSettings
from harden.stages.registry import STAGE_ORDER, STAGES, stage_class


def test_pipeline_order() -> None:
    assert STAGE_ORDER == (
        "remove-installers",
        "remove-jvm-payload",
        "remove-bytecode",
        "remove-docs",
        "remove-tests",
        "drop-shells",
        "remove-unreachable",
        "strip-debug",
        "add-user",
        "prune-package-db",
        "dedupe",
    )


def test_every_stage_has_its_own_settings_type_and_a_valid_data_file() -> None:
    schemas = load_stage_schemas()
    assert set(schemas) == set(STAGE_ORDER)
    types = [cls.settings_type for cls in STAGES]
    assert len(set(types)) == len(types)
    for cls in STAGES:
        assert stage_class(cls.name) is cls
        assert issubclass(cls.settings_type, StageSettings) and cls.settings_type is not StageSettings


def test_unknown_stage() -> None:
    with pytest.raises(UsageError, match="unknown stage 'strip-everything'"):
        stage_class("strip-everything")
