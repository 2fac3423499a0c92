"""Typed access to a stage's settings.

The defaults live in one place only, the stage's data file ``stages/<name>.toml``; ``ctx.settings`` (the
policy's resolved ``[settings]`` table) is laid over them, so a stage given a partial mapping still sees
every key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Any

from harden._resources import data_dir
from harden.errors import InternalError, PolicyError
from harden.stages._globs import GlobSet


@cache
def stage_defaults(stage: str) -> Mapping[str, Any]:
    """The ``[settings]`` table of ``stages/<stage>.toml``."""
    path = data_dir("stages") / f"{stage}.toml"
    try:
        with path.open("rb") as stream:
            document = tomllib.load(stream)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InternalError(f"stage data file {path} cannot be read: {exc}") from exc
    settings = document.get("settings")
    if not isinstance(settings, dict):
        raise InternalError(f"stage data file {path} has no [settings] table")
    return MappingProxyType(settings)


@dataclass(frozen=True, slots=True)
class StageSettings:
    stage: str
    values: Mapping[str, Any]

    @classmethod
    def resolve(cls, stage: str, overrides: Mapping[str, Any]) -> StageSettings:
        return cls(stage, MappingProxyType({**stage_defaults(stage), **overrides}))

    def _get(self, key: str) -> Any:
        if key not in self.values:
            raise InternalError(f"stage {self.stage} has no setting {key!r}")
        return self.values[key]

    def _wrong(self, key: str, expected: str) -> PolicyError:
        value = self.values.get(key)
        return PolicyError(
            f"invalid setting {self.stage}.settings.{key}: expected {expected}, got {type(value).__name__}",
            details=[f"{self.stage}.settings.{key} = {value!r}"],
        )

    def flag(self, key: str) -> bool:
        value = self._get(key)
        if not isinstance(value, bool):
            raise self._wrong(key, "a boolean")
        return value

    def integer(self, key: str) -> int:
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong(key, "an integer")
        return value

    def text(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            raise self._wrong(key, "a string")
        return value

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        value = self.text(key)
        if value not in allowed:
            raise PolicyError(
                f"invalid setting {self.stage}.settings.{key}: expected one of {', '.join(allowed)}",
                details=[f"{self.stage}.settings.{key} = {value!r}"],
            )
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self._get(key)
        if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
            raise self._wrong(key, "a list of strings")
        return tuple(value)

    def globs(self, key: str) -> GlobSet:
        return GlobSet.of(self.strings(key))

    @property
    def enabled(self) -> bool:
        return self.flag("enabled") if "enabled" in self.values else True
