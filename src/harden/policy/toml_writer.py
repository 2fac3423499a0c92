"""A small TOML writer for ``harden policy show``: tables, arrays of tables, strings (multi-line literal
strings for code), integers, floats, booleans and arrays; ``tomllib.loads(dumps(doc)) == doc`` for such
documents."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
_INLINE_WIDTH = 100


def dumps(doc: Mapping[str, Any], *, header: Sequence[str] = ()) -> str:
    """The document as TOML, preceded by ``header`` lines as comments."""
    lines = [f"# {line}".rstrip() for line in header]
    _table(lines, (), doc)
    while lines and not lines[0]:
        lines.pop(0)
    return "\n".join(lines) + "\n"


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list | tuple) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _table(lines: list[str], path: tuple[str, ...], table: Mapping[str, Any]) -> None:
    plain = {k: v for k, v in table.items() if not isinstance(v, Mapping) and not _is_table_array(v)}
    tables = {k: v for k, v in table.items() if isinstance(v, Mapping)}
    arrays = {k: v for k, v in table.items() if _is_table_array(v)}
    if path and (plain or not (tables or arrays)):
        lines += ["", f"[{_dotted(path)}]"]
    lines += [f"{_key(k)} = {_value(v)}" for k, v in plain.items()]
    for key, sub in tables.items():
        _table(lines, (*path, key), sub)
    for key, items in arrays.items():
        for item in items:
            lines += ["", f"[[{_dotted((*path, key))}]]"]
            lines += [f"{_key(k)} = {_value(v)}" for k, v in item.items()]


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(_key(part) for part in path)


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _basic(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(value, list | tuple):
        items = [_value(v) for v in value]
        one_line = "[" + ", ".join(items) + "]"
        if len(one_line) <= _INLINE_WIDTH and "\n" not in one_line:
            return one_line
        return "[\n" + "".join(f"    {item},\n" for item in items) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _string(value: str) -> str:
    """Multi-line literal strings for readable code, else a basic string with escapes."""
    literal_ok = (
        "\n" in value
        and "'''" not in value
        and not value.endswith("'")
        and all(ch in "\n\t" or (ord(ch) >= 0x20 and ord(ch) != 0x7F) for ch in value)
    )
    if literal_ok:
        return "'''\n" + value + "'''"
    return _basic(value)


def _basic(value: str) -> str:
    out = []
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
