"""The container part of an image config (``config.User``, ``Env``, ``Cmd`` …) checked for the JSON types the
OCI image spec and Docker give them, whatever the source. Docker refuses a config whose ``Env`` is a string;
without this check harden would split such an ``Env`` into characters, or fail with an internal error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harden.errors import BadArchive
from harden.image.model import ImageConfig


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _string_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(item, str) for item in value.values())


def _object(value: Any) -> bool:
    return isinstance(value, dict)


def _string(value: Any) -> bool:
    return isinstance(value, str)


def _healthcheck(value: Any) -> bool:
    return isinstance(value, dict) and (value.get("Test") is None or _strings(value["Test"]))


_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "User": (_string, "a string"),
    "WorkingDir": (_string, "a string"),
    "StopSignal": (_string, "a string"),
    "Env": (_strings, "an array of strings"),
    "Entrypoint": (_strings, "an array of strings"),
    "Cmd": (_strings, "an array of strings"),
    "Shell": (_strings, "an array of strings"),
    "Labels": (_string_map, "an object of strings"),
    "ExposedPorts": (_object, "an object"),
    "Volumes": (_object, "an object"),
    "Healthcheck": (_healthcheck, "an object whose Test is an array of strings"),
}


def _json_type(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


def config_problems(config: ImageConfig) -> list[str]:
    """Every container-config field with the wrong JSON type, as ``config.Env: expected …, got string``."""
    container = config.raw.get("config")
    if container is None:
        return []
    if not isinstance(container, dict):
        return [f"config: expected an object, got {_json_type(container)}"]
    problems = []
    for key, (valid, expected) in _FIELDS.items():
        value = container.get(key)
        if value is not None and not valid(value):
            problems.append(f"config.{key}: expected {expected}, got {_json_type(value)}")
    return problems


def check_config(config: ImageConfig, where: str) -> None:
    """BadArchive (exit 3) naming every malformed field of ``config``."""
    problems = config_problems(config)
    if problems:
        raise BadArchive(f"{where}: malformed image config", details=problems)
