"""``*.pth`` files as ``site`` reads them at every interpreter start, and the top-level modules they import.

``site.addpackage`` skips lines starting with ``#`` and blank lines, ``exec``s lines starting with ``import ``
or ``import<TAB>``, and takes every other line as a directory to add to ``sys.path``. The first line that
raises makes it print ``Error processing line N of <file>`` on stderr and ignore the rest of the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

_DYNAMIC = re.compile(r"""\b(?:__import__|import_module)\(\s*(['"])([A-Za-z_][\w.]*)\1""")
_IMPORT = re.compile(r"^import\s+(.+)$")
_FROM = re.compile(r"^from\s+([A-Za-z_][\w.]*)\s+import\b")
_MODULE_SUFFIXES = (".py", ".pyc", ".so", ".pyd")


@dataclass(frozen=True, slots=True)
class ImportLine:
    number: int
    """1-based, as ``site`` reports it."""
    modules: frozenset[str]
    """Top-level modules the line imports."""


@dataclass(frozen=True, slots=True)
class PthFile:
    imports: tuple[ImportLine, ...]
    paths: tuple[str, ...]
    """The ``sys.path`` lines, as written."""


def _top(dotted: str) -> str:
    return dotted.split(".", 1)[0]


def imported_modules(line: str) -> frozenset[str]:
    """Top-level modules an executable line imports: ``import a.b, c``, ``from a import b``, ``__import__('a')``,
    ``importlib.import_module("a")``. Statements are split at ``;`` (enough for one-line hooks)."""
    found = {_top(match.group(2)) for match in _DYNAMIC.finditer(line)}
    for statement in line.split(";"):
        statement = statement.strip()
        if match := _FROM.match(statement):
            found.add(_top(match.group(1)))
        elif match := _IMPORT.match(statement):
            for name in match.group(1).split(","):
                words = name.split()
                if words and words[0].replace(".", "_").isidentifier():
                    found.add(_top(words[0]))
    return frozenset(found)


def parse_pth(text: str) -> PthFile:
    imports: list[ImportLine] = []
    paths: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("#") or not line.strip():
            continue
        if line.startswith(("import ", "import\t")):
            imports.append(ImportLine(number, imported_modules(line)))
        else:
            paths.append(line.rstrip())
    return PthFile(tuple(imports), tuple(paths))


def module_name(path: PurePosixPath, is_dir: bool) -> str | None:
    """The top-level module a child of a ``sys.path`` directory provides: a package (or namespace) directory,
    ``x.py``, ``x.pyc``, an extension ``x.cpython-311-x86_64-linux-gnu.so``; None for anything else."""
    name = path.name
    if is_dir:
        return name if name.isidentifier() and name != "__pycache__" else None
    stem = name.split(".", 1)[0]
    return stem if name.endswith(_MODULE_SUFFIXES) and stem.isidentifier() else None
