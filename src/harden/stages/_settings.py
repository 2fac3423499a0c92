"""Typed stage settings: each stage declares a frozen dataclass whose fields are exactly the keys of the
``[settings]`` table of its ``stages/<stage>.toml`` (the one home of keys and defaults, read by
``harden.policy.stage_schema`` only); the policy loader fills one per stage from the resolved policy.

A field's type says how its TOML value is taken: ``bool``, ``int``, ``float``, ``str``, ``Literal["a", "b"]``
(one of those strings), ``tuple[str, ...]`` (an array of strings) or ``GlobSet`` (an array of root-relative
globs, compiled once). The policy loader has already checked the TOML types, so the type checks here are
guards; a ``Literal`` value and a glob's syntax are checked here only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from types import GenericAlias
from typing import Any, Literal, Self, get_args, get_origin, get_type_hints

from harden.errors import InternalError, PolicyError
from harden.stages._globs import GlobSet

_Convert = Callable[[Any], Any]
"""``convert(value)``: the field's value, or ``_Unfit(problem)``."""


class InvalidSetting(PolicyError):
    """A value the stage cannot take, at ``<stage>.settings.<key>``."""

    def __init__(self, stage: str, key: str, value: Any, problem: str) -> None:
        path = f"{stage}.settings.{key}"
        super().__init__(f"invalid setting {path}: {problem}", details=[f"{path} = {value!r}"])
        self.stage, self.key, self.value, self.problem = stage, key, value, problem


class _Unfit(Exception):
    """What a converter raises: the problem, which ``from_mapping`` names with its path."""


@dataclasses.dataclass(frozen=True, slots=True)
class StageSettings:
    """The base of every stage's settings; ``enabled`` is read by the policy, which runs only enabled
    stages."""

    enabled: bool

    @classmethod
    def from_mapping(cls, stage: str, values: Mapping[str, Any]) -> Self:
        """The settings of ``stage`` from its resolved ``[settings]`` table (every key present, none more):
        InternalError for a key too many or too few, InvalidSetting (a PolicyError) for a value that does not
        fit its field."""
        converters = _converters(cls)
        for key in values:
            if key not in converters:
                raise InternalError(
                    f"{stage}.settings.{key}: {cls.__qualname__} has no such field",
                    details=[f"fields: {', '.join(converters)}"],
                )
        for key in converters:
            if key not in values:
                raise InternalError(f"{stage}.settings.{key}: missing from the resolved settings of {stage}")
        fields: dict[str, Any] = {}
        for key, convert in converters.items():
            try:
                fields[key] = convert(values[key])
            except _Unfit as unfit:
                raise InvalidSetting(stage, key, values[key], str(unfit)) from None
        return cls(**fields)


_CONVERTERS: dict[type[StageSettings], dict[str, _Convert]] = {}


def _converters(cls: type[StageSettings]) -> dict[str, _Convert]:
    """One converter per field, in field order (worked out once per class)."""
    found = _CONVERTERS.get(cls)
    if found is None:
        hints = get_type_hints(cls)
        found = {field.name: _converter_for(cls, field.name, hints[field.name]) for field in dataclasses.fields(cls)}
        _CONVERTERS[cls] = found
    return found


def _converter_for(cls: type, name: str, hint: Any) -> _Convert:
    if hint is bool:
        return _scalar(bool, "a boolean")
    if hint is int:
        return _scalar(int, "an integer")
    if hint is str:
        return _scalar(str, "a string")
    if hint is float:
        return _float
    if hint is GlobSet:
        return _globs
    if isinstance(hint, GenericAlias) and get_origin(hint) is tuple and get_args(hint) == (str, ...):
        return _strings
    if get_origin(hint) is Literal and all(isinstance(choice, str) for choice in get_args(hint)):
        return _choice(tuple(get_args(hint)))
    raise InternalError(f"{cls.__qualname__}.{name}: unsupported settings type {hint!r}")


def _wrong(value: Any, expected: str) -> _Unfit:
    return _Unfit(f"expected {expected}, got {type(value).__name__}")


def _scalar(kind: type, expected: str) -> _Convert:
    def convert(value: Any) -> Any:
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise _wrong(value, expected)
        return value

    return convert


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong(value, "a float")
    return float(value)


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise _wrong(value, "a list of strings")
    return tuple(value)


def _globs(value: Any) -> GlobSet:
    try:
        return GlobSet.of(_strings(value))
    except PolicyError as exc:
        raise _Unfit(f"{exc.message}: {', '.join(exc.details)}") from None


def _choice(allowed: tuple[str, ...]) -> _Convert:
    def convert(value: Any) -> str:
        if not isinstance(value, str):
            raise _wrong(value, "a string")
        if value not in allowed:
            raise _Unfit(f"expected one of {', '.join(allowed)}, got {value!r}")
        return value

    return convert
