"""Stage default files (top-level ``stages/<stage>.toml``): their ``[settings]`` table is both the defaults
and the schema a policy's ``[stages.<stage>]`` table is checked against (same keys, same TOML types)."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from harden._resources import data_dir
from harden.errors import PolicyError
from harden.policy._fields import Field, FreeTable, ListOf, Record, Scalar
from harden.policy._problems import Problems, key_path, toml_type

STAGE_SCHEMA_VERSION = 1
_TOP_KEYS = ("schema_version", "stage", "description", "settings")


@dataclass(frozen=True, slots=True)
class StageSchema:
    name: str
    description: str
    source: Path
    defaults: Mapping[str, Any]
    """The ``[settings]`` table as parsed (treat as read-only)."""
    field: Record
    """Validates one policy's ``[stages.<name>]`` table into a patch."""


def load_stage_schemas(stages_dir: Path | None = None) -> Mapping[str, StageSchema]:
    """Every ``*.toml`` in ``stages_dir`` (default: the shipped stages), by stage name; one PolicyError for
    all problems found in them."""
    folder = data_dir("stages") if stages_dir is None else stages_dir
    problems = Problems()
    schemas = {}
    for path in sorted(folder.glob("*.toml")):
        schema = _load_one(path, problems.labelled(path.name))
        if schema is not None:
            schemas[schema.name] = schema
    if problems:
        raise PolicyError(f"invalid stage defaults in {folder}", details=problems.items)
    return MappingProxyType(schemas)


def _load_one(path: Path, problems: Problems) -> StageSchema | None:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        problems.add("", f"cannot read: {exc}")
        return None
    before = len(problems)
    for key in raw:
        if key not in _TOP_KEYS:
            problems.add(key, f"unknown key (known: {', '.join(_TOP_KEYS)})")
    version = raw.get("schema_version")
    if version != STAGE_SCHEMA_VERSION or isinstance(version, bool):
        problems.add("schema_version", f"expected {STAGE_SCHEMA_VERSION}, got {version!r}")
    stage = raw.get("stage")
    if stage != path.stem:
        problems.add("stage", f"expected {path.stem!r} (the file name), got {stage!r}")
    description = raw.get("description", "")
    if not isinstance(description, str):
        problems.add("description", f"expected a string, got {toml_type(description)}")
    settings = raw.get("settings")
    if not isinstance(settings, dict):
        problems.add(
            "settings", f"expected a table, got {toml_type(settings) if settings is not None else 'nothing'}"
        )
        return None
    record = _record_for(settings, "settings", problems)
    if len(problems) > before:
        return None
    return StageSchema(path.stem, str(description), path, settings, record)


def _record_for(defaults: Mapping[str, Any], path: str, problems: Problems) -> Record:
    fields: dict[str, Field] = {}
    for key, value in defaults.items():
        found = _field_for(value, key_path(path, key), problems)
        if found is not None:
            fields[key] = found
    return Record(fields, patch=True)


def _field_for(value: Any, path: str, problems: Problems) -> Field | None:
    """The field a default value implies: its TOML type; arrays take their items' type (strings if empty)."""
    if isinstance(value, bool | int | float | str):
        return Scalar(type(value))
    if isinstance(value, dict):
        return _record_for(value, path, problems) if value else FreeTable()
    if isinstance(value, list):
        kinds = {type(item) for item in value}
        if not kinds or kinds == {str}:
            return ListOf(Scalar(str))
        if len(kinds) == 1 and kinds <= {bool, int, float}:
            return ListOf(Scalar(kinds.pop()))
        if kinds == {dict}:
            return ListOf(FreeTable())
        problems.add(
            path, "arrays in stage settings must hold one type: strings, integers, floats, booleans or tables"
        )
        return None
    problems.add(path, f"unsupported setting type {toml_type(value)}")
    return None
