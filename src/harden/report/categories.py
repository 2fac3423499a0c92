"""Where an image's bytes are: each file's content falls in one category (bytecode, tests, docs, debug
symbols, shells, installers, Java archives, duplicates, other), so the report can show size by category
before and after.

This is the report's own reading of the files, independent of the stages (which record what they removed): it
classifies by path, and counts ELF debug sections (``.debug*``, ``.symtab``) as debug symbols wherever they
are.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath

from harden.image.model import EntryType, Rootfs
from harden.report.model import SizeCount
from harden.shipped_names import MULTI_CALL_BINARIES, installer_distributions, installer_modules, shell_names

CATEGORIES: tuple[str, ...] = (
    "bytecode", "tests", "docs", "debug-symbols", "shells", "installers", "jvm-payload", "duplicates", "other",
)
LABELS: dict[str, str] = {
    "bytecode": "Python bytecode (*.pyc)",
    "tests": "test suites",
    "docs": "documentation and man pages",
    "debug-symbols": "debug symbols",
    "shells": "shells",
    "installers": "package installers",
    "jvm-payload": "Java archives (jars)",
    "duplicates": "duplicate files",
    "other": "everything else",
    "user": "user and group",
    "permissions": "permissions",
    "config": "image config",
    "package-db": "package database records",
}

_INSTALLER_BIN_PREFIXES = ("pip", "easy_install", "apt", "dpkg")
_DOC_DIRS = (
    ("usr", "share", "doc"), ("usr", "share", "man"), ("usr", "share", "info"), ("usr", "share", "gtk-doc"),
    ("usr", "local", "share", "doc"), ("usr", "local", "share", "man"), ("usr", "local", "man"),
)
_TEST_DIRS = frozenset({"test", "tests", "idle_test", "testsuite"})
_LIB_MARKERS = frozenset({"site-packages", "dist-packages"})


def _python_lib_index(parts: tuple[str, ...]) -> int:
    """Index just past the Python library root in ``parts`` (site-packages or lib/pythonX.Y), or -1."""
    for i, part in enumerate(parts):
        if part in _LIB_MARKERS:
            return i + 1
    for i in range(len(parts) - 1):
        if parts[i] == "lib" and parts[i + 1].startswith("python"):
            return i + 2
    return -1


def is_bytecode(path: PurePosixPath) -> bool:
    return path.suffix in (".pyc", ".pyo") or "__pycache__" in path.parts


def is_test(path: PurePosixPath) -> bool:
    parts = path.parts
    start = _python_lib_index(parts)
    if start < 0:
        return False
    inner = parts[start:]
    if any(part in _TEST_DIRS for part in inner[:-1]):
        return True
    name = inner[-1] if inner else ""
    return name == "conftest.py" or (name.startswith("test_") and name.endswith(".py"))


def is_doc(path: PurePosixPath) -> bool:
    parts = path.parts
    return any(parts[: len(prefix)] == prefix and len(parts) > len(prefix) for prefix in _DOC_DIRS)


def is_debug_file(path: PurePosixPath) -> bool:
    return path.parts[:3] == ("usr", "lib", "debug") or path.suffix == ".debug"


def is_shell(path: PurePosixPath) -> bool:
    name = path.name
    return path.parent.name in ("bin", "sbin") and (name in shell_names() or name in MULTI_CALL_BINARIES)


def is_installer(path: PurePosixPath) -> bool:
    parts = path.parts
    if path.parent.name in ("bin", "sbin") and path.name.startswith(_INSTALLER_BIN_PREFIXES):
        return True
    if parts[:3] == ("usr", "lib", "apt"):
        return True
    start = _python_lib_index(parts)
    if start < 0 or start >= len(parts):
        return False
    top = parts[start]
    if top in installer_modules() or top == "distutils-precedence.pth":
        return True
    if not top.endswith((".dist-info", ".egg-info")):
        return False
    return top.split("-", 1)[0].lower() in installer_distributions()


def classify_path(path: PurePosixPath) -> str | None:
    """The path-based category of a file, or None (then duplicates and "other" are decided by content)."""
    if is_bytecode(path):
        return "bytecode"
    if is_test(path):
        return "tests"
    if is_doc(path):
        return "docs"
    if is_debug_file(path):
        return "debug-symbols"
    if is_shell(path):
        return "shells"
    if is_installer(path):
        return "installers"
    if path.suffix in (".jar", ".war"):
        return "jvm-payload"
    return None


def size_by_category(
    rootfs: Rootfs, debug_bytes: Mapping[PurePosixPath, int] | None = None
) -> dict[str, SizeCount]:
    """Files and bytes per category. Regular files carry bytes; symlinks and hardlinks count as files only.

    ``debug_bytes`` maps ELF files to the bytes of their debug sections: those bytes move to "debug-symbols"
    while the file itself stays counted in its own category.
    """
    debug_bytes = debug_bytes or {}
    files = dict.fromkeys(CATEGORIES, 0)
    sizes = dict.fromkeys(CATEGORIES, 0)
    seen_digests: set[str] = set()
    for entry in rootfs:
        if entry.is_dir or entry.type in (EntryType.CHAR, EntryType.BLOCK, EntryType.FIFO):
            continue
        size = entry.size if entry.type is EntryType.FILE else 0
        category = classify_path(entry.path)
        if category is None:
            category = "other"
            if entry.type is EntryType.FILE and entry.size > 0 and entry.digest is not None:
                if entry.digest in seen_digests:
                    category = "duplicates"
                seen_digests.add(entry.digest)
        debug = min(debug_bytes.get(entry.path, 0), size)
        files[category] += 1
        sizes[category] += size - debug
        sizes["debug-symbols"] += debug
    return {name: SizeCount(files[name], sizes[name]) for name in CATEGORIES}
