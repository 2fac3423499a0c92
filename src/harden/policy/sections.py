"""The schema and built-in defaults of the ``[output]`` and ``[verify]`` sections (the stage sections come
from the stage files, see ``stage_schema``)."""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any, Final

from harden.policy._fields import ListOf, Record, Scalar

_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_TAG_SUFFIX = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")

DEFAULT_SMOKE_TIMEOUT: Final = 120


def _module_name(value: str) -> str | None:
    return None if _MODULE.fullmatch(value) else f"{value!r} is not a dotted module name"


def _positive(value: int) -> str | None:
    return None if value > 0 else f"must be positive, got {value}"


def _non_empty(value: str) -> str | None:
    return None if value.strip() else "must not be empty"


def _squash_only(value: bool) -> str | None:
    return None if value else "only true is supported (one rewritten layer)"


def _tag_suffix(value: str) -> str | None:
    if _TAG_SUFFIX.fullmatch(value):
        return None
    return f"{value!r} is not valid in an image tag (letters, digits, '_', '.', '-'; at most 128)"


def _python_code(value: str) -> str | None:
    try:
        compile(value, "<smoke>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        return f"Python syntax error at line {exc.lineno}: {exc.msg}"
    except ValueError as exc:  # e.g. NUL bytes
        return f"not valid Python source: {exc}"
    return None


_MODULES = ListOf(Scalar(str, _module_name))

SMOKE = Record(
    {
        "name": Scalar(str, _non_empty),
        "code": Scalar(str, _python_code),
        "timeout_seconds": Scalar(int, _positive),
    },
    patch=False,
    required=frozenset({"name", "code"}),
    defaults={"timeout_seconds": DEFAULT_SMOKE_TIMEOUT},
)

OUTPUT = Record(
    {
        "squash": Scalar(bool, _squash_only),
        "tag_suffix": Scalar(str, _tag_suffix),
    },
    patch=True,
)

VERIFY = Record(
    {
        "enabled": Scalar(bool),
        "imports": _MODULES,
        "plugins": _MODULES,
        "timeout_seconds": Scalar(int, _positive),
        "discover": Scalar(bool),
        "startup_modules": _MODULES,
        "startup_runs": Scalar(int, _positive),
        "smoke": ListOf(SMOKE),
    },
    patch=True,
)

OUTPUT_DEFAULTS: Final[MappingProxyType[str, Any]] = MappingProxyType(
    {"squash": True, "tag_suffix": "hardened"}
)

VERIFY_DEFAULTS: Final[MappingProxyType[str, Any]] = MappingProxyType(
    {
        "enabled": True,
        "imports": [],
        "plugins": [],
        "timeout_seconds": 60,
        "discover": True,
        "startup_modules": [],
        "startup_runs": 5,
        "smoke": [],
    }
)
