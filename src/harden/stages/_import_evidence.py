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
import hashlib
import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from harden.image.blobs import BlobStore
from harden.image.files import MAX_TEXT, content_entry, file_bytes
from harden.image.model import Rootfs
from harden.image.path_text import has_parent_in, is_below
from harden.stages._globs import GlobSet
from harden.workers import map_chunks

log = logging.getLogger(__name__)

ROOT = PurePosixPath(".")
_STATEMENT = re.compile(
    rb"(?m)(?:^|[;:])[ \t]*(?:from[ \t]+[\w. \t]*?import[ \t]*(?:\([^)]*\)|[^\n]*)|import[ \t][^\n]*)"
)
_DYNAMIC = re.compile(rb"""(?:import_module|__import__)\(\s*['"]([\w.]+)['"]""")
_ANCHOR = re.compile(rb"[;:]")
_KEYWORD = re.compile(rb"import")
_WORD = re.compile(rb"\w+")
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


@dataclass(frozen=True, slots=True)
class _Found:
    """An import statement and where it sits: the names of the functions/classes around it, and whether it is
    in the body of an ``if __name__ == "__main__":`` block."""

    item: _Import
    enclosing: tuple[str, ...]
    under_main: bool


_BLOCKS = ("body", "orelse", "finalbody", "handlers", "cases")


def _found_in_tree(tree: ast.Module) -> tuple[_Found, ...]:
    """Every import statement, nested ones included (inside functions, ``try`` and ``if`` blocks), with its
    context, in the order a depth-first walk meets them. A ``Scope`` then only filters (see ``_in_scope``),
    so one parse serves every scope."""
    found: list[_Found] = []
    stack: list[tuple[ast.AST, tuple[str, ...], bool]] = [(node, (), False) for node in reversed(tree.body)]
    while stack:
        node, enclosing, under_main = stack.pop()
        if isinstance(node, ast.Import):
            found.extend(_Found(_Import(0, alias.name), enclosing, under_main) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names = tuple(alias.name for alias in node.names if alias.name != "*")
            found.append(_Found(_Import(node.level, node.module or "", names), enclosing, under_main))
        inner = enclosing
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            inner = (*enclosing, node.name)
        main = isinstance(node, ast.If) and _is_main_check(node.test)
        for name in _BLOCKS:
            children = getattr(node, name, None)
            if children:
                flag = under_main or (main and name == "body")
                stack.extend((child, inner, flag) for child in reversed(children))
    return tuple(found)


def _in_scope(found: _Found, scope: Scope) -> bool:
    """Whether ``scope`` counts ``found``: not under a main block it skips, not inside a test function."""
    if scope.skip_main_blocks and found.under_main:
        return False
    return scope.test_functions is None or not any(scope.test_functions.match(n) for n in found.enclosing)


def _imports_from_tree(found: tuple[_Found, ...], source: bytes, scope: Scope) -> list[_Import]:
    imports = [f.item for f in found if _in_scope(f, scope)]
    imports.extend(_dynamic_imports(source))
    return imports


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


def parse_imports(source: bytes, scope: Scope = EVERYTHING, parsed: ParsedImports | None = None) -> list[_Import]:
    """The imports of one Python source file (``ast``, else a regex, which ignores ``scope``); ``parsed``
    remembers a file's parse by content."""
    found = (parsed or ParsedImports(0)).of(source)
    if found is None:
        return _imports_from_regex(source.decode("utf-8", errors="replace"))
    return _imports_from_tree(found, source, scope)


class ParsedImports:
    """The imports ``ast`` finds in a source (None when it does not parse), remembered by content for one
    pipeline run: stages that each gather import evidence (remove-docs, remove-tests) parse a big module once,
    not once each. It ends with the run (held by its stage contexts), not with the process: what it holds was
    ~12 MB resident on the 3.3x image when verification began."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._found: OrderedDict[bytes, tuple[_Found, ...] | None] = OrderedDict()

    def of(self, source: bytes) -> tuple[_Found, ...] | None:
        key = hashlib.sha256(source).digest()
        if key in self._found:
            self._found.move_to_end(key)
            return self._found[key]
        found = _found_in(source)
        self.remember(key, found)
        return found

    def knows(self, key: bytes) -> bool:
        return key in self._found

    def remember(self, key: bytes, found: tuple[_Found, ...] | None) -> None:
        """Keep ``found``, the parse of the source whose sha256 digest is ``key`` (made here, or by a worker)."""
        if self._size:
            self._found[key] = found
            if len(self._found) > self._size:
                self._found.popitem(last=False)


def _found_in(source: bytes) -> tuple[_Found, ...] | None:
    try:
        return _found_in_tree(ast.parse(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def import_statements(data: bytes) -> Iterator[bytes]:
    """The texts ``_STATEMENT.finditer(data)`` matches, found ~10x faster: a statement starts on the line of its
    first ``import`` keyword, at the line start or at a ``;``/``:`` before the keyword, so only those places are
    tried (leftmost first, each once), instead of every position of the file."""
    scan = 0  # the next statement starts here or later (the end of the previous one)
    tried = 0  # every start position below this has been tried
    for keyword in _KEYWORD.finditer(data):
        at = keyword.start()
        if at < scan:
            continue
        low = max(scan, tried)
        line = max(data.rfind(b"\n", low, at) + 1, low)
        starts = {anchor.start() for anchor in _ANCHOR.finditer(data, line, at)}
        if line == 0 or data[line - 1] == 0x0A:
            starts.add(line)
        tried = at + 1
        for start in sorted(starts):
            found = _STATEMENT.match(data, start)
            if found is not None:
                yield found.group(0)
                scan = found.end()
                break


class _Mention:
    r"""Whether bytes mention one of ``words`` (a whole identifier: ``\bword\b``) or ``fragments`` (anywhere).

    The same answer as one ``\bword\b|…|fragment`` alternation, which the regex engine tries at every byte;
    here each alternative starts with its literal, so each is one fast literal scan."""

    def __init__(self, patterns: tuple[re.Pattern[bytes], ...], fragments: tuple[bytes, ...]) -> None:
        self._patterns = patterns
        self._fragments = fragments
        # "\n" acts like the edge of a text for \b, so texts joined by it mention exactly what one of them does
        # unless an alternative could match the newline itself
        self._joinable = not any(b"\n" in f for f in fragments) and not any(b"\n" in p.pattern for p in patterns)

    @classmethod
    def of(cls, words: Iterable[str], fragments: Iterable[str]) -> _Mention | None:
        patterns: list[re.Pattern[bytes]] = []
        for word in sorted(set(words)):
            literal = word.encode()
            if not literal:
                continue
            if _WORD.fullmatch(literal):  # \bword\b: not preceded, not followed by a word character
                escaped = re.escape(literal)
                patterns.append(re.compile(escaped + rb"(?!\w)(?<!\w" + escaped + rb")"))
            else:
                patterns.append(re.compile(rb"\b" + re.escape(literal) + rb"\b"))
        texts = tuple(f.encode() for f in sorted(set(fragments)) if f)
        return cls(tuple(patterns), texts) if patterns or texts else None

    def search(self, data: bytes) -> bool:
        return any(f in data for f in self._fragments) or any(p.search(data) is not None for p in self._patterns)

    def search_any(self, texts: Iterable[bytes]) -> bool:
        if self._joinable:
            return self.search(b"\n".join(texts))
        return any(self.search(text) for text in texts)


PARALLEL_MIN_PARSES = 16
"""Sources to parse from which ``ImportEvidence`` parses them in worker processes."""
_PARSE_CHUNK = 4
"""Files per parse task: the parsed files are the big ones (~10 ms each), and few."""


def _parse_chunk(blobs: BlobStore, digests: Sequence[str]) -> list[tuple[bytes, tuple[_Found, ...] | None]]:
    """In a worker process: each source's sha256 (``ParsedImports``' key) and its parse."""
    found = []
    for digest in digests:
        source = blobs.read(digest)
        found.append((hashlib.sha256(source).digest(), _found_in(source)))
    return found


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
        parsed: ParsedImports | None = None,
        jobs: int = 1,
    ) -> None:
        self.roots = tuple(dict.fromkeys(roots))
        self._parsed = parsed if parsed is not None else ParsedImports()
        self._jobs = jobs
        self._rootfs = rootfs
        self._blobs = blobs
        self._scope = scope
        self._mention = _Mention.of(words, fragments)
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
        self._chains: dict[PurePosixPath, tuple[tuple[str, ...], ...]] = {}
        log.debug("import evidence: %d files read, %d mention candidates", len(sources), len(relevant))

    def _mentions(self, data: bytes) -> bool:
        """Whether an import statement (or a dynamic import) of ``data`` mentions a word or fragment."""
        mention = self._mention
        if mention is None or not mention.search(data):
            return False
        if mention.search_any(import_statements(data)):
            return True
        if b"import_module" not in data and b"__import__" not in data:  # a literal scan, faster than the regex
            return False
        return mention.search_any(m.group(1) for m in _DYNAMIC.finditer(data))

    def _parse_ahead(self, sources: Iterable[PurePosixPath]) -> None:
        """Parse, in worker processes, the Python files among ``sources`` whose parse is not known yet (not
        another stage's either): the stages leave the other cores idle meanwhile. What is found goes into
        ``ParsedImports``, where ``targets_of`` finds it."""
        if self._jobs <= 1:
            return
        digests: dict[str, None] = {}
        for source in sources:
            if source in self._targets or _is_entry_points(source):
                continue
            entry = content_entry(self._rootfs, source)
            digest = entry.digest if entry is not None and entry.size <= MAX_TEXT else None
            # a blob's digest is the sha256 of its content, the key of ParsedImports
            if digest is not None and digest in self._blobs and not self._parsed.knows(bytes.fromhex(digest)):
                digests[digest] = None
        if len(digests) < PARALLEL_MIN_PARSES:
            return
        needed = self._blobs.subset(digests)
        for key, found in map_chunks(self._jobs, _parse_chunk, list(digests), _PARSE_CHUNK, needed):
            self._parsed.remember(key, found)

    def _in_roots(self, path: PurePosixPath) -> bool:
        return any(is_below(path, root) for root in self.roots)

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
        for item in parse_imports(data, scope, self._parsed):
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
        by_text = {str(key): candidate for key, candidate in keys.items()}
        found: dict[PurePosixPath, PurePosixPath] = {}
        self._parse_ahead([s for s in self._relevant if s not in self._chains and not excluded(s)])
        for source in self._relevant:
            if excluded(source):
                continue
            for chain in self._chains_of(source):
                for key in chain:
                    candidate = by_text.get(key)
                    if candidate is not None and candidate not in found and source != candidate:
                        found[candidate] = source
        return found

    def _chains_of(self, source: PurePosixPath) -> tuple[tuple[str, ...], ...]:
        """``(target, *target.parents)`` as text for each target of ``source``, built once (``settle`` asks
        again; strings, because hashing thousands of paths per round is what this stage spent its time on)."""
        chains = self._chains.get(source)
        if chains is None:
            chains = tuple(_ancestry(str(target)) for target in self.targets_of(source))
            self._chains[source] = chains
        return chains


def _ancestry(text: str) -> tuple[str, ...]:
    """``str`` of a relative path and of each of its parents, as ``(p, *p.parents)`` would give them."""
    found = [text]
    while (cut := text.rfind("/")) > 0:
        text = text[:cut]
        found.append(text)
    if text != ".":
        found.append(".")
    return tuple(found)


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

        texts = {str(c) for c in removed}

        def excluded(source: PurePosixPath, texts: set[str] = texts) -> bool:
            return str(source) in texts or has_parent_in(source, texts)

        new = {c: s for c, s in evidence.importers(keys, excluded).items() if c not in kept}
        if not new:
            break
        kept.update(new)
    removed = {c for c in candidates if c not in kept}
    top = tuple(sorted(c for c in removed if not any(p in removed for p in c.parents)))
    return Settlement(top, kept)
