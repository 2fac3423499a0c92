"""A tiny but real Python image, made of the host's Debian interpreter, the libraries it links and the pure
Python part of its standard library (~25 MB, no extension modules: no ``_ssl``, no ``_json``), plus one
installed distribution ``hello``. Verification can run in it with the bwrap sandbox, no engine needed.

``unavailable()`` says why it cannot be built here (tests skip with that reason)."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from imagefactory import TarEntry, default_config, diff_id, directory, file, make_layer_tar, symlink

PYTHON = Path("/usr/bin/python3.11")
STDLIB = Path("/usr/lib/python3.11")
SKIP_DIRS = frozenset({"test", "idlelib", "tkinter", "turtledemo", "lib2to3", "ensurepip", "pydoc_data",
                       "__pycache__", "distutils", "lib-dynload", "site-packages", "dist-packages"})
SITE = "usr/local/lib/python3.11/dist-packages"
PASSWD = b"root:x:0:0:root:/root:/sbin/nologin\napp:x:1000:1000:app:/home/app:/sbin/nologin\n"
GROUP = b"root:x:0:\napp:x:1000:\n"

FAST_POLICY = """\
schema_version = 1
name = "host-python-fast"
extends = "default"

[verify]
discover = false
imports = ["json", "email.message", "hello"]
"""
"""Verification without discovery (the whole stdlib would take a minute): a few named imports."""


def unavailable() -> str | None:
    if not PYTHON.is_file() or not STDLIB.is_dir():
        return f"{PYTHON} (Debian's python3.11) is needed to build the tiny Python image"
    if shutil.which("ldd") is None:
        return "ldd is needed to find the interpreter's libraries"
    if shutil.which("bwrap") is None:
        return "bwrap (Debian package bubblewrap) is needed to verify in the sandbox"
    return None


def _libraries() -> list[Path]:
    out = subprocess.run(["ldd", str(PYTHON)], capture_output=True, text=True, check=True).stdout
    return [Path(match) for match in re.findall(r"(/\S+) \(0x", out)]


def _entries() -> Iterator[TarEntry]:
    dirs: set[str] = set()

    def parents(path: str) -> Iterator[TarEntry]:
        parts = PurePosixPath(path).parts[:-1]
        for depth in range(1, len(parts) + 1):
            name = "/".join(parts[:depth])
            if name not in dirs:
                dirs.add(name)
                yield directory(name)

    def host_file(host: Path, name: str, mode: int = 0o644) -> Iterator[TarEntry]:
        yield from parents(name)
        yield file(name, host.read_bytes(), mode=mode)

    yield from host_file(PYTHON, "usr/bin/python3.11", 0o755)
    yield symlink("usr/bin/python3", "python3.11")
    for library in _libraries():
        yield from host_file(library.resolve(), str(library).lstrip("/"), 0o755)
    for dirpath, dirnames, filenames in os.walk(STDLIB):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            if name.endswith(".py"):
                host = Path(dirpath, name)
                yield from host_file(host, str(host).lstrip("/"))
    yield from parents(f"{SITE}/hello/__init__.py")
    yield file(f"{SITE}/hello/__init__.py", b"GREETING = 'hello'\n")
    yield directory(f"{SITE}/hello-1.0.dist-info")
    yield file(f"{SITE}/hello-1.0.dist-info/METADATA", b"Metadata-Version: 2.1\nName: hello\nVersion: 1.0\n")
    yield file(f"{SITE}/hello-1.0.dist-info/RECORD", b"hello/__init__.py,,\n")
    yield from parents("etc/passwd")
    yield file("etc/passwd", PASSWD)
    yield file("etc/group", GROUP)
    yield directory("home")
    yield directory("home/app", uid=1000, gid=1000, mode=0o750)


@functools.cache
def python_layer() -> bytes:
    """The image's one layer (built once per test session)."""
    return make_layer_tar(_entries())


def python_config(layers: list[bytes], **container: Any) -> dict[str, Any]:
    container.setdefault("Cmd", ["python3", "-c", "import hello; print(hello.GREETING)"])
    container.setdefault("Env", ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"])
    return default_config([diff_id(layer) for layer in layers], **container)
