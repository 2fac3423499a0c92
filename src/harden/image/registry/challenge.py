"""``WWW-Authenticate`` challenges (RFC 7235): ``Bearer realm="…",service="…",scope="…"`` or ``Basic realm="…"``."""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_PARAM_RE = re.compile(rf'\s*({_TOKEN})\s*=\s*(?:"((?:[^"\\]|\\.)*)"|({_TOKEN}))\s*(?:,|$)')
_SCHEME_RE = re.compile(rf"\s*({_TOKEN})(?:\s+|\s*,|\s*$)")


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str
    """Lower case: ``bearer`` or ``basic`` (others are kept, and refused by the authenticator)."""
    params: tuple[tuple[str, str], ...] = ()

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key == name:
                return value
        return None


def parse_challenges(header: str) -> tuple[Challenge, ...]:
    """Every challenge in one header value; malformed trailing text is ignored."""
    challenges: list[Challenge] = []
    pos = 0
    while pos < len(header):
        scheme = _SCHEME_RE.match(header, pos)
        if scheme is None:
            break
        pos = scheme.end()
        params: list[tuple[str, str]] = []
        while pos < len(header):
            param = _PARAM_RE.match(header, pos)
            if param is None:
                break
            value = param.group(2)
            value = re.sub(r"\\(.)", r"\1", value) if value is not None else param.group(3)
            params.append((param.group(1).lower(), value))
            pos = param.end()
        challenges.append(Challenge(scheme.group(1).lower(), tuple(params)))
    return tuple(challenges)
