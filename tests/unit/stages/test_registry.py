from __future__ import annotations

import pytest

from harden.errors import UsageError
from harden.policy.stage_schema import load_stage_schemas
from harden.stages.registry import STAGE_ORDER, stage_class, stage_classes, stage_data_file


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


def test_every_stage_loads_and_has_a_valid_data_file() -> None:
    schemas = load_stage_schemas()
    for name, cls in stage_classes():
        assert cls.name == name
        assert stage_data_file(name).is_file()
        assert name in schemas


def test_unknown_stage() -> None:
    with pytest.raises(UsageError, match="unknown stage 'strip-everything'"):
        stage_class("strip-everything")
