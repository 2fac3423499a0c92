"""An ImageResult back from its JSON (``dataclasses.asdict`` output), so results can be re-rendered unchanged."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any

from imagebench.model import ImageResult


def convert(tp: Any, value: Any) -> Any:
    """``value`` (JSON) as type ``tp``: dataclasses, optional values, tuples (fixed and variadic)."""
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        options = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        return convert(options[0], value)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        hints = typing.get_type_hints(tp)
        return tp(**{f.name: convert(hints[f.name], value[f.name])
                     for f in dataclasses.fields(tp) if f.name in value})
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(convert(args[0], item) for item in value)
        return tuple(convert(arg, item) for arg, item in zip(args, value, strict=True))
    return value


def load_result(path: Path) -> ImageResult:
    result = convert(ImageResult, json.loads(path.read_text()))
    assert isinstance(result, ImageResult)
    return result
