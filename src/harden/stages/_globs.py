"""The one glob dialect of stage data files, compiled to regexes once.

Patterns are root-relative (no leading ``/``) and matched against whole ``PurePosixPath`` values:

* ``*`` matches any characters inside one path component, ``?`` one character, ``[abc]`` / ``[!abc]`` a class;
* a component that is exactly ``**`` matches zero or more whole components, so ``usr/share/doc/**`` matches
  ``usr/share/doc`` itself and everything below it, and ``**/tests`` matches ``tests`` at any depth.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from harden.errors import PolicyError
from harden.image.path_text import parent_text


def _translate_component(component: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(component):
        char = component[i]
        if char == "*":
            while i + 1 < len(component) and component[i + 1] == "*":
                i += 1
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            start = i + 1
            if component[start : start + 1] == "!":
                start += 1
            if component[start : start + 1] == "]":
                start += 1
            end = component.find("]", start)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = component[i + 1 : end].replace("\\", "\\\\").replace("[", "\\[")
                if body.startswith("!"):
                    body = "^" + body[1:]
                elif body.startswith("^"):
                    body = "\\" + body
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def glob_to_regex(pattern: str) -> str:
    """The regex source (for ``re.fullmatch``) equivalent to ``pattern``."""
    if not pattern or pattern.startswith("/"):
        raise PolicyError("glob patterns are root-relative paths without a leading '/'", details=[repr(pattern)])
    components = [c for c in pattern.split("/") if c not in ("", ".")]
    regex = ""
    need_separator = False
    for index, component in enumerate(components):
        last = index == len(components) - 1
        if component == "**":
            if last:
                regex += "(?:/.*)?" if need_separator else ".*"
            else:
                regex += "/(?:[^/]+/)*" if need_separator else "(?:[^/]+/)*"
                need_separator = False
                continue
        else:
            if need_separator:
                regex += "/"
            regex += _translate_component(component)
        need_separator = True
    return regex


@dataclass(frozen=True, slots=True)
class GlobSet:
    """A set of patterns; ``matches`` answers with one combined regex, ``first_match`` names the pattern."""

    patterns: tuple[str, ...]
    _compiled: tuple[re.Pattern[str], ...] = field(repr=False, compare=False)
    _combined: re.Pattern[str] | None = field(repr=False, compare=False)

    @classmethod
    def of(cls, patterns: Iterable[str]) -> GlobSet:
        unique = tuple(dict.fromkeys(patterns))
        sources = [glob_to_regex(p) for p in unique]
        compiled = tuple(re.compile(s, re.DOTALL) for s in sources)
        combined = re.compile("|".join(f"(?:{s})" for s in sources), re.DOTALL) if sources else None
        return cls(unique, compiled, combined)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def matches(self, path: PurePosixPath | str) -> bool:
        return self._combined is not None and self._combined.fullmatch(str(path)) is not None

    def first_match(self, path: PurePosixPath | str) -> str | None:
        """The first pattern (in file order) matching ``path``, or None."""
        text = str(path)
        if self._combined is None or self._combined.fullmatch(text) is None:
            return None
        for pattern, regex in zip(self.patterns, self._compiled, strict=True):
            if regex.fullmatch(text):
                return pattern
        return None  # pragma: no cover - the combined regex matched, so one of its parts does


class AncestryMatch:
    """Whether a path or one of its parents (the root included) matches ``globs``: ``globs.matches(path) or
    any(globs.matches(p) for p in path.parents)``, with each folder's answer remembered (paths share parents)."""

    __slots__ = ("_globs", "_known")

    def __init__(self, globs: GlobSet) -> None:
        self._globs = globs
        self._known: dict[str, bool] = {}

    def __call__(self, path: PurePosixPath | str) -> bool:
        text = str(path)
        found = self._known.get(text)
        if found is None:
            found = self._globs.matches(text) or (text != "." and self(parent_text(text)))
            self._known[text] = found
        return found
