"""A BenchResult back from its JSON (``dataclasses.asdict`` output), so results can be re-rendered unchanged."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any

from imagebench.model import BenchResult


def _convert(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        options = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        return _convert(options[0], value)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        hints = typing.get_type_hints(tp)
        return tp(**{f.name: _convert(hints[f.name], value[f.name])
                     for f in dataclasses.fields(tp) if f.name in value})
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], item) for item in value)
        return tuple(_convert(arg, item) for arg, item in zip(args, value, strict=True))
    return value


def load_result(path: Path, naive_verify: Path | None = None) -> BenchResult:
    data = json.loads(path.read_text())
    if naive_verify is not None and naive_verify.exists():
        data["naive_verify_report"] = json.loads(naive_verify.read_text())
    result = _convert(BenchResult, data)
    assert isinstance(result, BenchResult)
    return result
