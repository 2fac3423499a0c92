"""A tiny typed schema for TOML values: every field validates a parsed value, reports problems at dotted
paths and never stops at the first one; patch tables also know how to merge onto what a parent resolved.

A *patch* table is what one policy file says about a section: the keys it sets (replacing inherited values)
and, for every array key ``K``, an optional ``extra_K`` whose items are appended to the inherited array.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from harden.policy._problems import Problems, index_path, key_path, toml_type, unknown_key_hint

EXTRA_PREFIX: Final = "extra_"

Check = Callable[[Any], str | None]
"""Returns a problem message for a well-typed but unacceptable value, else None."""


class _Invalid:
    __slots__ = ()

    def __repr__(self) -> str:
        return "INVALID"


INVALID: Final = _Invalid()
"""What ``validate`` returns for a value that had problems (already recorded)."""


@dataclass(frozen=True, slots=True)
class Patch:
    """One file's contribution to a table: ``sets`` replace, ``appends`` extend inherited arrays."""

    sets: Mapping[str, Any] = field(default_factory=dict)
    appends: Mapping[str, list[Any]] = field(default_factory=dict)


class Field(ABC):
    expected: str = "a value"
    plural: str = "values"
    appendable: bool = False

    @abstractmethod
    def validate(self, value: Any, path: str, problems: Problems) -> Any:
        """The normalized value, or INVALID after recording what is wrong."""

    def merge(self, inherited: Any, given: Any) -> Any:
        """What a child's (validated) value makes of the inherited one: by default it replaces it."""
        return given

    def _wrong_type(self, value: Any, path: str, problems: Problems) -> _Invalid:
        problems.add(path, f"expected {self.expected}, got {toml_type(value)}")
        return INVALID


class Scalar(Field):
    """A boolean, integer, float or string, with an optional extra check."""

    _NAMES: Final = {
        bool: ("a boolean", "booleans"),
        int: ("an integer", "integers"),
        float: ("a float", "floats"),
        str: ("a string", "strings"),
    }

    def __init__(self, kind: type, check: Check | None = None) -> None:
        self.kind = kind
        self.expected, self.plural = self._NAMES[kind]
        self.check = check

    def validate(self, value: Any, path: str, problems: Problems) -> Any:
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        ok = isinstance(value, self.kind) and (self.kind is bool or not isinstance(value, bool))
        if not ok:
            return self._wrong_type(value, path, problems)
        if self.check is not None:
            message = self.check(value)
            if message is not None:
                problems.add(path, message)
                return INVALID
        return value


class ListOf(Field):
    """A TOML array whose items all match ``item``; child policies may append to it with ``extra_<key>``."""

    appendable = True

    def __init__(self, item: Field) -> None:
        self.item = item
        self.expected = f"an array of {item.plural}"
        self.plural = f"arrays of {item.plural}"

    def validate(self, value: Any, path: str, problems: Problems) -> Any:
        if not isinstance(value, list):
            return self._wrong_type(value, path, problems)
        items = [self.item.validate(item, index_path(path, i), problems) for i, item in enumerate(value)]
        return INVALID if any(item is INVALID for item in items) else items


class FreeTable(Field):
    """A table with keys of the user's choosing (its default in a stage file is empty); merged key by key."""

    expected = "a table"
    plural = "tables"

    def validate(self, value: Any, path: str, problems: Problems) -> Any:
        if not isinstance(value, dict):
            return self._wrong_type(value, path, problems)
        return dict(value)

    def merge(self, inherited: Any, given: Any) -> Any:
        return {**(inherited or {}), **given}


class Record(Field):
    """A table with a fixed set of keys.

    As a *patch* (``patch=True``: stage settings, ``[output]``, ``[verify]``) it validates to a ``Patch``
    and accepts ``extra_K`` for array keys; as a plain value (``patch=False``: one ``[[verify.smoke]]``
    entry) it validates to a complete dict with ``defaults`` filled in and ``required`` keys enforced.
    """

    expected = "a table"
    plural = "tables"

    def __init__(
        self,
        fields: Mapping[str, Field],
        *,
        patch: bool,
        required: frozenset[str] = frozenset(),
        defaults: Mapping[str, Any] | None = None,
    ) -> None:
        self.fields = dict(fields)
        self.patch = patch
        self.required = required
        self.defaults = dict(defaults or {})

    def known_keys(self) -> list[str]:
        keys = list(self.fields)
        if self.patch:
            keys += [EXTRA_PREFIX + k for k, f in self.fields.items() if f.appendable]
        return keys

    def validate(self, value: Any, path: str, problems: Problems) -> Any:
        if not isinstance(value, dict):
            return self._wrong_type(value, path, problems)
        ok = True
        sets: dict[str, Any] = {}
        appends: dict[str, list[Any]] = {}
        for key, item in value.items():
            where = key_path(path, key)
            base_key = key.removeprefix(EXTRA_PREFIX)
            if key in self.fields:
                checked = self.fields[key].validate(item, where, problems)
                sets[key] = checked
            elif self.patch and key != base_key and base_key in self.fields:
                base = self.fields[base_key]
                if not base.appendable:
                    problems.add(where, f"{base_key!r} is not an array; only arrays take {EXTRA_PREFIX}*")
                    ok = False
                    continue
                checked = base.validate(item, where, problems)
                appends[base_key] = checked
            else:
                problems.add(where, "unknown key" + unknown_key_hint(key, self.known_keys()))
                ok = False
                continue
            ok = ok and checked is not INVALID
        for key in sorted(self.required - value.keys()):
            problems.add(key_path(path, key), "missing (required)")
            ok = False
        if not ok:
            return INVALID
        if self.patch:
            return Patch(sets, appends)
        complete = {**self.defaults, **sets}
        return {key: complete[key] for key in self.fields if key in complete}

    def merge(self, inherited: Any, given: Any) -> Any:
        if not self.patch:
            return given
        assert isinstance(given, Patch)
        result = dict(inherited or {})
        for key, value in given.sets.items():
            result[key] = self.fields[key].merge(result.get(key), value)
        for key, items in given.appends.items():
            current = list(result.get(key) or [])
            for item in items:
                if item not in current:
                    current.append(item)
            result[key] = current
        return result
