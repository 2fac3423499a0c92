"""Programs and libraries Python code names literally: what it may run (``subprocess``, ``os.system``,
``os.exec*``/``spawn*``, ``shutil.which``, ``asyncio.create_subprocess_*``) and load by name (``ctypes.CDLL``,
``cdll.LoadLibrary``, ``ctypes.util.find_library``). Only string literals count: a name computed at run time is
invisible here (the policy's keep lists cover those)."""

from __future__ import annotations

import ast
import re
import shlex
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

from harden.image.blobs import BlobStore
from harden.image.files import file_bytes
from harden.image.model import Rootfs

_CALL = (rb"(?:run|call|check_call|check_output|Popen|system|popen|which|getoutput|getstatusoutput|exec[lv]p?e?|"
         rb"posix_spawnp?|create_subprocess_(?:exec|shell)|CDLL|PyDLL|LoadLibrary|find_library)")
_LITERAL_ARGUMENT = rb"\s*[\[(]?\s*[rbuRBU]?['\"]"
_HINT = re.compile(_CALL + rb"\s*\(" + _LITERAL_ARGUMENT + rb"|spawn[lv]p?e?\s*\([^,()]*," + _LITERAL_ARGUMENT)
"""A call whose program or library argument starts with a string literal: only such files are parsed."""
_OPENING = re.compile(rb"\(" + _LITERAL_ARGUMENT)
_CALLED = re.compile(_CALL + rb"\s*\Z")
_SPAWN = re.compile(rb"spawn[lv]p?e?\s*\([^,()]*," + _LITERAL_ARGUMENT)
_LOOK_BACK = 64


def hinted(data: bytes) -> bool:
    """``_HINT.search(data)``, three times faster: an opening parenthesis with a literal after it is found
    by its first byte, and only the bytes before it are matched against the call names."""
    for match in _OPENING.finditer(data):
        start = match.start()
        if _CALLED.search(data, max(0, start - _LOOK_BACK), start):
            return True
    return b"spawn" in data and _SPAWN.search(data) is not None
_PROCESS_MODULES = frozenset({"subprocess", "os", "shutil", "asyncio", "posix"})
_LIBRARY_MODULES = frozenset({"ctypes", "ctypes.util", "util", "cdll", "ctypes.cdll"})
_SHELL_CALLS = frozenset({"system", "popen", "getoutput", "getstatusoutput", "create_subprocess_shell"})
_PROCESS_CALLS = frozenset({
    "run", "call", "check_call", "check_output", "Popen", "which", "create_subprocess_exec", "execv", "execve",
    "execvp", "execvpe", "execl", "execle", "execlp", "execlpe", "posix_spawn", "posix_spawnp",
    *_SHELL_CALLS,
})
_SPAWN_CALLS = frozenset({"spawnv", "spawnve", "spawnvp", "spawnvpe", "spawnl", "spawnle", "spawnlp", "spawnlpe"})
_LIBRARY_CALLS = frozenset({"CDLL", "PyDLL", "LoadLibrary", "find_library"})


@dataclass(frozen=True, slots=True)
class RuntimeName:
    kind: str
    """"program" (a name or path it runs) or "library" (a file name it loads; "find:<name>" for
    ``find_library("<name>")``)."""
    name: str
    source: PurePosixPath
    call: str
    shell: bool = False
    """The program runs through ``/bin/sh`` (``os.system``, ``shell=True`` …): without a shell it never runs."""


def runtime_names(rootfs: Rootfs, blobs: BlobStore, files: Iterable[PurePosixPath]) -> tuple[RuntimeName, ...]:
    found: list[RuntimeName] = []
    for path in files:
        data = file_bytes(rootfs, blobs, path)
        if data is None or not hinted(data):
            continue
        try:
            tree = ast.parse(data, filename=str(path))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        found.extend(_names(tree, path))
    return tuple(found)


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else ""
    return ""


def _aliases(imports: Iterable[ast.Import | ast.ImportFrom]) -> dict[str, str]:
    """Local names bound to the modules and functions of interest: ``import subprocess as sp``,
    ``from subprocess import check_output``."""
    names: dict[str, str] = {}
    for node in imports:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in _PROCESS_MODULES | _LIBRARY_MODULES:
                    names[alias.asname or alias.name] = alias.name
        elif node.module:
            for alias in node.names:
                if node.module in _PROCESS_MODULES | _LIBRARY_MODULES or node.module.startswith("ctypes"):
                    names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _names(tree: ast.AST, path: PurePosixPath) -> Iterator[RuntimeName]:
    imports: list[ast.Import | ast.ImportFrom] = []
    calls: list[ast.Call] = []
    for node in ast.walk(tree):  # one walk: the imports bind names for calls anywhere in the file
        if isinstance(node, ast.Call):
            calls.append(node)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            imports.append(node)
    aliases = _aliases(imports)
    for node in calls:
        dotted = _dotted(node.func)
        if not dotted:
            continue
        head, _, rest = dotted.partition(".")
        full = aliases.get(head, head) + (f".{rest}" if rest else "")
        module, _, function = full.rpartition(".")
        if module in _PROCESS_MODULES and function in _PROCESS_CALLS | _SPAWN_CALLS:
            index = 1 if function in _SPAWN_CALLS else 0
            shell = function in _SHELL_CALLS or _uses_shell(node)
            program = _program(node, index, shell=shell)
            if program:
                yield RuntimeName("program", program, path, full, shell)
        elif function in _LIBRARY_CALLS and (module in _LIBRARY_MODULES or module.startswith("ctypes")):
            library = _literal(node.args[0]) if node.args else None
            if library:
                name = f"find:{library}" if function == "find_library" else library
                yield RuntimeName("library", name, path, full)


def _literal(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _uses_shell(call: ast.Call) -> bool:
    return any(k.arg == "shell" and isinstance(k.value, ast.Constant) and k.value.value is True
               for k in call.keywords)


def _program(call: ast.Call, index: int, *, shell: bool) -> str | None:
    if len(call.args) <= index:
        return None
    argument = call.args[index]
    text = _literal(argument)
    if text is not None:
        if not shell:
            return text.strip() or None
        try:
            words = shlex.split(text)
        except ValueError:
            words = text.split()
        words = [w.strip("()") for w in words if "=" not in w.split("/")[0]]
        return words[0] if words and words[0] else None
    if isinstance(argument, ast.List | ast.Tuple) and argument.elts:
        return _literal(argument.elts[0])
    return None
