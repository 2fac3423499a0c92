"""Loading policies: read each file of the ``extends`` chain, check it strictly against the stage files and
the section schemas, collect every problem, then merge stage defaults ← ancestors ← child."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from harden._resources import data_dir
from harden.errors import InternalError, PolicyError
from harden.policy._fields import INVALID, Patch
from harden.policy._problems import Problems, key_path, toml_type, unknown_key_hint
from harden.policy.model import FrozenMap, OutputSettings, Policy, SmokeTest, VerifySettings, freeze
from harden.policy.sections import OUTPUT, OUTPUT_DEFAULTS, VERIFY, VERIFY_DEFAULTS
from harden.policy.stage_schema import StageSchema, load_stage_schemas
from harden.stages.base import InvalidSetting, StageSettings
from harden.stages.registry import STAGES

POLICY_SCHEMA_VERSION: Final = 1
_TOP_KEYS: Final = ("schema_version", "name", "extends", "description", "stages", "output", "verify")
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True, slots=True)
class _Layer:
    """One file of a chain, checked but not merged."""

    path: Path
    name: str
    description: str
    extends: str | None
    stages: Mapping[str, Patch] = field(default_factory=dict)
    output: Patch = field(default_factory=Patch)
    verify: Patch = field(default_factory=Patch)


def list_policies(policies_dir: Path | None = None) -> list[str]:
    """Names of the shipped policies (or of those in ``policies_dir``)."""
    folder = data_dir("policies") if policies_dir is None else policies_dir
    return sorted(path.stem for path in folder.glob("*.toml"))


def load_policy(
    name_or_path: str, *, stages_dir: Path | None = None, policies_dir: Path | None = None
) -> Policy:
    """A shipped policy by bare name ("default"), or a file (anything containing "/" or ending in ".toml")."""
    folder = data_dir("policies") if policies_dir is None else policies_dir
    if _is_file_reference(name_or_path):
        return validate_policy_file(Path(name_or_path), stages_dir=stages_dir, policies_dir=folder)
    path = folder / f"{name_or_path}.toml"
    if not path.is_file():
        known = list_policies(folder)
        raise PolicyError(
            f"unknown policy {name_or_path!r}{unknown_key_hint(name_or_path, known)}",
            details=[f"shipped policies: {', '.join(known) or 'none'}"],
        )
    return _load(path, name_or_path, stages_dir, folder)


def validate_policy_file(
    path: Path | str, *, stages_dir: Path | None = None, policies_dir: Path | None = None
) -> Policy:
    """Load one policy file and everything it extends; one PolicyError carries every problem found."""
    path = Path(path)
    if not path.is_file():
        raise PolicyError(f"policy file not found: {path}")
    folder = data_dir("policies") if policies_dir is None else policies_dir
    return _load(path, None, stages_dir, folder)


def _is_file_reference(reference: str) -> bool:
    return "/" in reference or reference.endswith(".toml")


def _load(path: Path, expected_name: str | None, stages_dir: Path | None, policies_dir: Path) -> Policy:
    schemas = load_stage_schemas(stages_dir)
    problems = Problems()
    layers = _walk_chain(path, expected_name, schemas, policies_dir, problems)
    # the stage classes belong to the shipped stage files; other ones (tests of the policy format) get none
    typed = stages_dir is None
    policy = None if problems else _resolve(path, layers, schemas, problems, typed=typed)
    if problems or policy is None:
        count = len(problems)
        raise PolicyError(
            f"invalid policy {path} ({count} problem{'s' if count != 1 else ''})", details=problems.items
        )
    return policy


def _walk_chain(
    path: Path,
    expected_name: str | None,
    schemas: Mapping[str, StageSchema],
    policies_dir: Path,
    problems: Problems,
) -> list[_Layer]:
    """The layers from the root ancestor down to ``path``; ancestors' problems name their file."""
    layers: list[_Layer] = []
    seen: list[Path] = []
    current: Path | None = path
    while current is not None:
        seen.append(current.resolve())
        view = problems.labelled(current.name) if layers else problems
        raw = _read_toml(current, view)
        if raw is None:
            break
        layer = _parse_layer(raw, current, expected_name, schemas, view)
        layers.append(layer)
        if layer.extends is None:
            break
        current, expected_name = _locate_parent(layer.extends, current.parent, policies_dir, view)
        if current is not None and current.resolve() in seen:
            cycle = " -> ".join(p.name for p in [*seen, current])
            view.add("extends", f"extends loop: {cycle}")
            break
    layers.reverse()
    return layers


def _read_toml(path: Path, problems: Problems) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.add("", f"cannot read {path}: {exc}")
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # the message ends with "(at line L, column C)"
        problems.add("", f"{path}: TOML syntax error: {exc}")
        return None


def _locate_parent(
    reference: str, base_dir: Path, policies_dir: Path, problems: Problems
) -> tuple[Path | None, str | None]:
    """The parent's path and, for a shipped name, the name its file must declare."""
    if _is_file_reference(reference):
        path = base_dir / reference
        if not path.is_file():
            problems.add("extends", f"no policy file {path}")
            return None, None
        return path, None
    path = policies_dir / f"{reference}.toml"
    if not path.is_file():
        problems.add(
            "extends",
            f"unknown policy {reference!r}{unknown_key_hint(reference, list_policies(policies_dir))}",
        )
        return None, None
    return path, reference


def _parse_layer(
    raw: dict[str, Any],
    path: Path,
    expected_name: str | None,
    schemas: Mapping[str, StageSchema],
    problems: Problems,
) -> _Layer:
    for key in raw:
        if key not in _TOP_KEYS:
            problems.add(key_path("", key), "unknown key" + unknown_key_hint(key, _TOP_KEYS))
    _check_schema_version(raw, problems)
    name = _check_name(raw, expected_name, problems) or path.stem
    extends = _optional_string(raw, "extends", problems, non_empty=True)
    description = _optional_string(raw, "description", problems) or ""
    stages = _check_stages(raw.get("stages", {}), schemas, problems)
    output = OUTPUT.validate(raw.get("output", {}), "output", problems)
    verify = VERIFY.validate(raw.get("verify", {}), "verify", problems)
    return _Layer(
        path,
        name,
        description,
        extends,
        stages,
        output if isinstance(output, Patch) else Patch(),
        verify if isinstance(verify, Patch) else Patch(),
    )


def _check_schema_version(raw: Mapping[str, Any], problems: Problems) -> None:
    if "schema_version" not in raw:
        problems.add("schema_version", "missing (required)")
        return
    version = raw["schema_version"]
    if not isinstance(version, int) or isinstance(version, bool):
        problems.add("schema_version", f"expected an integer, got {toml_type(version)}")
    elif version != POLICY_SCHEMA_VERSION:
        problems.add("schema_version", f"unsupported version {version} (supported: {POLICY_SCHEMA_VERSION})")


def _check_name(raw: Mapping[str, Any], expected_name: str | None, problems: Problems) -> str | None:
    if "name" not in raw:
        problems.add("name", "missing (required)")
        return None
    name = raw["name"]
    if not isinstance(name, str):
        problems.add("name", f"expected a string, got {toml_type(name)}")
        return None
    if not _NAME.fullmatch(name):
        problems.add("name", f"{name!r} is not a policy name (letters, digits, '.', '_', '-')")
        return None
    if expected_name is not None and name != expected_name:
        problems.add("name", f"{name!r} does not match the shipped file name {expected_name!r}")
    return name


def _optional_string(
    raw: Mapping[str, Any], key: str, problems: Problems, *, non_empty: bool = False
) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        problems.add(key, f"expected a string, got {toml_type(value)}")
        return None
    if non_empty and not value.strip():
        problems.add(key, "must not be empty")
        return None
    return value


def _check_stages(table: Any, schemas: Mapping[str, StageSchema], problems: Problems) -> dict[str, Patch]:
    if not isinstance(table, dict):
        problems.add("stages", f"expected a table, got {toml_type(table)}")
        return {}
    patches: dict[str, Patch] = {}
    for stage, settings in table.items():
        where = key_path("stages", stage)
        if stage not in schemas:
            problems.add(where, "unknown stage" + unknown_key_hint(stage, schemas))
            continue
        patch = schemas[stage].field.validate(settings, where, problems)
        if patch is not INVALID:
            patches[stage] = patch
    return patches


def _resolve(
    path: Path, layers: list[_Layer], schemas: Mapping[str, StageSchema], problems: Problems, *, typed: bool
) -> Policy | None:
    stages: dict[str, Any] = {name: dict(schemas[name].defaults) for name in sorted(schemas)}
    output: dict[str, Any] = dict(OUTPUT_DEFAULTS)
    verify: dict[str, Any] = dict(VERIFY_DEFAULTS)
    for layer in layers:
        for stage, patch in layer.stages.items():
            stages[stage] = schemas[stage].field.merge(stages[stage], patch)
        output = OUTPUT.merge(output, layer.output)
        verify = VERIFY.merge(verify, layer.verify)
    smoke = [SmokeTest(**test) for test in verify["smoke"]]
    names = [test.name for test in smoke]
    for duplicate in sorted({name for name in names if names.count(name) > 1}):
        problems.add("verify.smoke", f"more than one smoke test named {duplicate!r}")
    frozen = freeze(stages)
    stage_settings = _typed_settings(frozen, problems) if typed else {}
    if problems:
        return None
    child = layers[-1]
    return Policy(
        name=child.name,
        schema_version=POLICY_SCHEMA_VERSION,
        description=child.description,
        source=path.resolve(),
        chain=tuple(layer.name for layer in layers),
        stages=frozen,
        output=OutputSettings(**output),
        verify=VerifySettings.of(verify, smoke=smoke),
        stage_settings=FrozenMap(stage_settings),
    )


def _typed_settings(stages: Mapping[str, Mapping[str, Any]], problems: Problems) -> dict[str, StageSettings]:
    """Each stage class's settings, filled from its resolved table; a value the TOML types allow but the stage
    does not (a choice, a glob) is a problem of the policy."""
    typed: dict[str, StageSettings] = {}
    for cls in STAGES:
        if cls.name not in stages:
            raise InternalError(f"stage {cls.name} has no stage data file",
                                details=[f"stage files: {', '.join(stages)}"])
        try:
            typed[cls.name] = cls.settings_type.from_mapping(cls.name, stages[cls.name])
        except InvalidSetting as exc:
            problems.add(key_path(key_path("stages", exc.stage), exc.key), exc.problem)
    unknown = sorted(set(stages) - {cls.name for cls in STAGES})
    if unknown:
        raise InternalError(f"stage data files without a stage class: {', '.join(unknown)}")
    return typed
