"""The resolved policy: what every stage, the output and the verification run with."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import harden.policy.toml_writer as toml_writer
from harden.errors import InternalError
from harden.stages.base import Stage, StageSettings
from harden.stages.registry import STAGES

SettingsT = TypeVar("SettingsT", bound=StageSettings)


@dataclass(frozen=True, slots=True)
class SmokeTest:
    """Python code run in the hardened image as the non-root user; it passes when it exits 0 in time."""

    name: str
    code: str
    timeout_seconds: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "code": self.code, "timeout_seconds": self.timeout_seconds}


@dataclass(frozen=True, slots=True)
class VerifySettings:
    enabled: bool
    imports: tuple[str, ...]
    """Modules that must import in the hardened image."""
    plugins: tuple[str, ...]
    """Modules loaded by name at run time, which import discovery cannot see; must import too."""
    timeout_seconds: int
    """Per-module import timeout."""
    discover: bool
    """Also check the import surface: every top-level module and the standard library."""
    startup_modules: tuple[str, ...]
    startup_runs: int
    smoke: tuple[SmokeTest, ...]

    @classmethod
    def of(cls, values: Mapping[str, Any] | None = None, **overrides: Any) -> VerifySettings:
        """Settings from a resolved ``[verify]`` table (or none), the format's defaults filling the rest."""
        from harden.policy.sections import VERIFY_DEFAULTS

        merged = {**VERIFY_DEFAULTS, **(values or {}), **overrides}
        smoke = tuple(t if isinstance(t, SmokeTest) else SmokeTest(t["name"], t["code"], t["timeout_seconds"])
                      for t in merged["smoke"])
        return cls(enabled=merged["enabled"], imports=tuple(merged["imports"]), plugins=tuple(merged["plugins"]),
                   timeout_seconds=merged["timeout_seconds"], discover=merged["discover"],
                   startup_modules=tuple(merged["startup_modules"]), startup_runs=merged["startup_runs"],
                   smoke=smoke)

    def to_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "imports": list(self.imports),
            "plugins": list(self.plugins),
            "timeout_seconds": self.timeout_seconds,
            "discover": self.discover,
            "startup_modules": list(self.startup_modules),
            "startup_runs": self.startup_runs,
            "smoke": [test.to_dict() for test in self.smoke],
        }


@dataclass(frozen=True, slots=True)
class OutputSettings:
    squash: bool
    """One rewritten layer on top of nothing (the only mode for now)."""
    tag_suffix: str

    def to_dict(self) -> dict[str, Any]:
        return {"squash": self.squash, "tag_suffix": self.tag_suffix}


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    schema_version: int
    description: str
    source: Path
    chain: tuple[str, ...]
    """Policy names from the root ancestor to this one (child last)."""
    stages: Mapping[str, Mapping[str, Any]]
    """Every known stage's settings: stage defaults ← ancestors ← this policy (arrays are tuples). What
    ``harden policy show`` prints and the digest covers."""
    output: OutputSettings
    verify: VerifySettings
    stage_settings: Mapping[str, StageSettings] = field(default_factory=lambda: FrozenMap({}), compare=False)
    """The same settings typed, by stage name, in pipeline order: each stage's ``settings_type`` filled from
    ``stages``. Empty for a policy loaded against other stage data files than the shipped ones (``stages_dir``,
    for tests of the policy format): no stage class belongs to those."""

    def stage_enabled(self, name: str) -> bool:
        if name not in self.stages:
            raise InternalError(f"no stage defaults for {name!r}", details=sorted(self.stages))
        return bool(self.stages[name].get("enabled", True))

    def settings_for(self, name: str) -> StageSettings:
        """The typed settings of stage ``name``."""
        settings = self.stage_settings.get(name)
        if settings is None:
            raise InternalError(f"policy {self.name!r} has no typed settings for stage {name!r}",
                                details=[f"typed stages: {', '.join(self.stage_settings) or 'none'}"])
        return settings

    def settings_of(self, stage: type[Stage[SettingsT]], kind: type[SettingsT]) -> SettingsT:
        """The typed settings of ``stage``, as its own settings class (``kind``)."""
        settings = self.settings_for(stage.name)
        if not isinstance(settings, kind):
            raise InternalError(f"stage {stage.name!r} has settings of type {type(settings).__name__}, "
                                f"not {kind.__name__}")
        return settings

    def enabled_stages(self) -> tuple[tuple[Stage[Any], StageSettings], ...]:
        """What the pipeline runs: every enabled stage, in pipeline order, with its typed settings."""
        return tuple((cls(), settings) for cls in STAGES if (settings := self.settings_for(cls.name)).enabled)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able and fully resolved (``chain`` records how it was composed)."""
        return {
            "schema_version": self.schema_version,
            "name": self.name,
            "description": self.description,
            "chain": list(self.chain),
            "output": self.output.to_dict(),
            "verify": self.verify.to_dict(),
            "stages": {name: thaw(settings) for name, settings in sorted(self.stages.items())},
        }

    @property
    def digest(self) -> str:
        """sha256 of the canonical JSON of the effective policy (``to_dict`` without ``chain``): policies that
        resolve to the same settings share a digest however composed; any value change changes it."""
        effective = self.to_dict()
        del effective["chain"]
        canonical = json.dumps(effective, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def to_toml(self) -> str:
        """The resolved policy as a standalone policy file (no ``extends``) with the same digest."""
        doc = self.to_dict()
        del doc["chain"]
        header = [
            f"Resolved policy {self.name!r} from {self.source}",
            f"chain (child last): {', '.join(self.chain)}",
            f"digest: {self.digest}",
        ]
        return toml_writer.dumps(doc, header=header)


class FrozenMap(Mapping[str, Any]):
    """A read-only, hashable, picklable mapping (stage settings travel to worker processes)."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = dict(data)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(tuple(self._data.items()))

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"

    def __reduce__(self) -> tuple[type[FrozenMap], tuple[dict[str, Any]]]:
        return (FrozenMap, (self._data,))


def freeze(value: Any) -> Any:
    """Read-only copy: tables become FrozenMaps, arrays tuples."""
    if isinstance(value, Mapping):
        return FrozenMap({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    return value


def thaw(value: Any) -> Any:
    """JSON-able copy of a frozen value."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(item) for item in value]
    return value
