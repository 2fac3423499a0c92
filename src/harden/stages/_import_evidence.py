"""Import evidence: which module paths the Python code of an image imports.

Stages that remove directories which *sound* removable (``pkg/tests``, ``pkg/examples``) keep the ones
that code outside them imports. Each ``.py`` file (read through the blob store) is parsed with ``ast``; a
file that does not parse (Python 2, syntax newer than ours) falls back to a regex.
``import_module("a.b")``/``__import__("a.b")`` with a constant argument and every
``*-info/entry_points.txt`` object reference count as imports too.

Imports are turned into root-relative *module paths* (``usr/lib/python3.11/site-packages/pkg/tests/helpers``):
absolute imports against every import root (site-packages and stdlib directories; for files outside them also
their own directory and its parents, since the script directory is ``sys.path[0]``), relative imports against
the file's package. A candidate (a directory, or a ``.py`` file without its suffix) is imported when a module
path equals it or lies below it.
"""

from __future__ import annotations

import ast
import fnmatch
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from harden.image.blobs import BlobStore
from harden.image.model import Rootfs
from harden.pyenv import file_bytes
from harden.stages._globs import GlobSet

log = logging.getLogger(__name__)

ROOT = PurePosixPath(".")
_STATEMENT = re.compile(
    rb"(?m)(?:^|[;:])[ \t]*(?:from[ \t]+[\w. \t]*?import[ \t]*(?:\([^)]*\)|[^\n]*)|import[ \t][^\n]*)"
)
_DYNAMIC = re.compile(rb"""(?:import_module|__import__)\(\s*['"]([\w.]+)['"]""")
_REGEX_FROM = re.compile(r"^\s*from\s+(\.*)([\w.]*)\s+import\s+\(?([\w\s,]+)", re.M)
_REGEX_IMPORT = re.compile(r"^\s*import\s+([\w.\s,]+)", re.M)
_ENTRY_POINT = re.compile(r"^\s*[^=\[#;]+?=\s*([\w.]+)", re.M)


@dataclass(frozen=True, slots=True)
class _Import:
    """``level`` 0 is absolute; ``module`` may be ""; ``names`` are the ``from … import`` names."""

    level: int
    module: str
    names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Scope:
    """Which imports count. ``skip_main_blocks``: not those under ``if __name__ == "__main__":`` (they run
    only when the module is executed as a script). ``test_functions``: not those inside a function or class
    whose name matches (``def runtests(): from .tests import …`` runs only when tests are run)."""

    skip_main_blocks: bool = False
    test_functions: re.Pattern[str] | None = None

    @classmethod
    def with_test_functions(cls, patterns: Iterable[str], *, skip_main_blocks: bool) -> Scope:
        sources = [fnmatch.translate(p) for p in patterns]
        regex = re.compile("|".join(sources), re.IGNORECASE) if sources else None
        return cls(skip_main_blocks, regex)


EVERYTHING = Scope()


def _is_main_check(test: ast.expr) -> bool:
    if not isinstance(test, ast.Compare) or len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s.id for s in sides if isinstance(s, ast.Name)]
    constants = [s.value for s in sides if isinstance(s, ast.Constant)]
    return names == ["__name__"] and constants == ["__main__"]


def _statements(body: list[ast.stmt], scope: Scope) -> Iterator[ast.AST]:
    """Every statement, nested ones included (imports inside functions, ``try`` and ``if`` blocks), except
    the blocks ``scope`` leaves out."""
    stack: list[ast.AST] = list(reversed(body))
    while stack:
        node = stack.pop()
        yield node
        if (
            scope.test_functions is not None
            and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and scope.test_functions.match(node.name)
        ):
            continue
        if scope.skip_main_blocks and isinstance(node, ast.If) and _is_main_check(node.test):
            stack.extend(reversed(node.orelse))
            continue
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(node, name, None)
            if children:
                stack.extend(reversed(children))


def _imports_from_tree(tree: ast.Module, source: bytes, scope: Scope) -> list[_Import]:
    found: list[_Import] = []
    for node in _statements(tree.body, scope):
        if isinstance(node, ast.Import):
            found.extend(_Import(0, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names = tuple(alias.name for alias in node.names if alias.name != "*")
            found.append(_Import(node.level, node.module or "", names))
    found.extend(_dynamic_imports(source))
    return found


def _dynamic_imports(source: bytes) -> list[_Import]:
    """``import_module("a.b")`` / ``__import__("a.b")`` with a constant name (found by regex: cheaper than
    walking every expression, and a mention in a comment only keeps more)."""
    found = []
    for match in _DYNAMIC.finditer(source):
        module = match.group(1).decode()
        level = len(module) - len(module.lstrip("."))
        found.append(_Import(level, module.lstrip(".")))
    return found


def _imports_from_regex(text: str) -> list[_Import]:
    found: list[_Import] = []
    for match in _REGEX_FROM.finditer(text):
        names = tuple(n.strip() for n in match.group(3).replace("\n", ",").split(",") if n.strip())
        found.append(_Import(len(match.group(1)), match.group(2), tuple(n.split()[0] for n in names)))
    for match in _REGEX_IMPORT.finditer(text):
        for part in match.group(1).split(","):
            words = part.split()
            if words:
                found.append(_Import(0, words[0]))
    found.extend(_dynamic_imports(text.encode()))
    return found


def parse_imports(source: bytes, scope: Scope = EVERYTHING) -> list[_Import]:
    """The imports of one Python source file (``ast``, else a regex, which ignores ``scope``)."""
    try:
        return _imports_from_tree(ast.parse(source), source, scope)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return _imports_from_regex(source.decode("utf-8", errors="replace"))


def _module_path(base: PurePosixPath, dotted: str) -> PurePosixPath:
    parts = [p for p in dotted.split(".") if p]
    return base.joinpath(*parts) if parts else base


class ImportEvidence:
    """Module paths imported by the Python files that mention, in an import, one of ``words`` (whole
    identifiers) or ``fragments`` (any substring, for name patterns like ``test_*``). Files are read once up
    front (to filter) and parsed only when their evidence is first asked for: files inside removed
    candidates never are."""

    def __init__(
        self,
        rootfs: Rootfs,
        blobs: BlobStore,
        roots: Iterable[PurePosixPath],
        words: Iterable[str],
        progress: Callable[[int, int], None] | None = None,
        fragments: Iterable[str] = (),
        scope: Scope = EVERYTHING,
        ignore: GlobSet | None = None,
    ) -> None:
        self.roots = tuple(dict.fromkeys(roots))
        self._rootfs = rootfs
        self._blobs = blobs
        self._scope = scope
        alternatives = [rb"\b" + re.escape(w.encode()) + rb"\b" for w in sorted(set(words)) if w]
        alternatives += [re.escape(f.encode()) for f in sorted(set(fragments)) if f]
        self._mention = re.compile(b"|".join(alternatives)) if alternatives else None
        sources = sorted(
            e.path
            for e in rootfs.entries.values()
            if e.has_content
            and (e.path.suffix == ".py" or _is_entry_points(e.path))
            and not (ignore is not None and ignore.matches(e.path))
        )
        relevant: list[PurePosixPath] = []
        for done, path in enumerate(sources, 1):
            data = file_bytes(rootfs, blobs, path)
            if data is not None and (_is_entry_points(path) or self._mentions(data)):
                relevant.append(path)
            if progress is not None and (done % 500 == 0 or done == len(sources)):
                progress(done, len(sources))
        self._relevant = tuple(relevant)
        self._targets: dict[PurePosixPath, tuple[PurePosixPath, ...]] = {}
        log.debug("import evidence: %d files read, %d mention candidates", len(sources), len(relevant))

    def _mentions(self, data: bytes) -> bool:
        if self._mention is None or self._mention.search(data) is None:
            return False
        for statement in _STATEMENT.finditer(data):
            if self._mention.search(statement.group(0)):
                return True
        return any(self._mention.search(m.group(1)) for m in _DYNAMIC.finditer(data))

    def _in_roots(self, path: PurePosixPath) -> bool:
        return any(root == ROOT or root in path.parents for root in self.roots)

    def _roots_for(self, path: PurePosixPath) -> tuple[PurePosixPath, ...]:
        if self._in_roots(path):
            return self.roots
        own = tuple(p for p in path.parents if p != ROOT)
        return self.roots + own + (ROOT,)

    def targets_of(self, path: PurePosixPath) -> tuple[PurePosixPath, ...]:
        """The module paths ``path`` imports (cached)."""
        cached = self._targets.get(path)
        if cached is None:
            data = file_bytes(self._rootfs, self._blobs, path) or b""
            cached = self._parse(path, data)
            self._targets[path] = cached
        return cached

    def _parse(self, path: PurePosixPath, data: bytes) -> tuple[PurePosixPath, ...]:
        roots = self._roots_for(path)
        if _is_entry_points(path):
            text = data.decode("utf-8", errors="replace")
            return tuple(_module_path(root, m.group(1)) for m in _ENTRY_POINT.finditer(text) for root in roots)
        # application code keeps every import: its __main__ block may be what the image runs
        scope = self._scope if self._in_roots(path) else EVERYTHING
        targets: list[PurePosixPath] = []
        for item in parse_imports(data, scope):
            if item.level:
                base = path.parent
                for _ in range(item.level - 1):
                    base = base.parent
                bases: tuple[PurePosixPath, ...] = (_module_path(base, item.module),)
            else:
                bases = tuple(_module_path(root, item.module) for root in roots)
            for module in bases:
                targets.append(module)
                targets.extend(module / name for name in item.names)
        return tuple(dict.fromkeys(targets))

    def importers(
        self, keys: Mapping[PurePosixPath, PurePosixPath], excluded: Callable[[PurePosixPath], bool]
    ) -> dict[PurePosixPath, PurePosixPath]:
        """For each candidate imported by a file that is not ``excluded``: the first such file.

        ``keys`` maps module paths (a directory, or a ``.py`` path without suffix) to their candidate.
        """
        found: dict[PurePosixPath, PurePosixPath] = {}
        for source in self._relevant:
            if excluded(source):
                continue
            for target in self.targets_of(source):
                for key in (target, *target.parents):
                    candidate = keys.get(key)
                    if candidate is not None and candidate not in found and source != candidate:
                        found[candidate] = source
        return found


def _is_entry_points(path: PurePosixPath) -> bool:
    return path.name == "entry_points.txt" and path.parent.suffix in (".dist-info", ".egg-info")


def module_key(path: PurePosixPath) -> PurePosixPath:
    """The module path of a candidate: a directory as is, ``x.py`` without its suffix."""
    return path.with_suffix("") if path.suffix == ".py" else path


@dataclass(frozen=True, slots=True)
class Settlement:
    removed: tuple[PurePosixPath, ...]
    """Candidates nothing outside the removed ones imports (topmost only: nested ones go with them)."""
    kept: Mapping[PurePosixPath, PurePosixPath]
    """Candidate → the file that imports it."""


def settle(evidence: ImportEvidence, candidates: Sequence[PurePosixPath]) -> Settlement:
    """Remove every candidate unless code outside the removed candidates imports it; repeat until stable
    (code inside a kept candidate is evidence too)."""
    keys = {module_key(c): c for c in candidates}
    kept: dict[PurePosixPath, PurePosixPath] = {}
    while True:
        removed = {c for c in candidates if c not in kept}

        def excluded(source: PurePosixPath, removed: set[PurePosixPath] = removed) -> bool:
            return source in removed or any(parent in removed for parent in source.parents)

        new = {c: s for c, s in evidence.importers(keys, excluded).items() if c not in kept}
        if not new:
            break
        kept.update(new)
    removed = {c for c in candidates if c not in kept}
    top = tuple(sorted(c for c in removed if not any(p in removed for p in c.parents)))
    return Settlement(top, kept)
