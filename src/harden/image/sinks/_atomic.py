"""Outputs appear whole or not at all: everything is written to a temp path next to the destination and moved
into place with ``os.replace`` at the end; any failure, Ctrl-C or SIGTERM removes the temp path instead."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harden.errors import UsageError
from harden.image.workspace import remove_tree


@contextmanager
def atomic_file(dest: Path) -> Iterator[Path]:
    """Yield a temp file path beside ``dest``; on success it replaces ``dest``."""
    if dest.is_dir():
        raise UsageError(f"{dest} is a directory; expected a file path")
    parent = dest.parent
    if not parent.is_dir():
        raise UsageError(f"{parent} does not exist")
    fd, name = tempfile.mkstemp(dir=parent, prefix=f".{dest.name}.", suffix=".partial")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _is_replaceable_dir(dest: Path) -> bool:
    return (
        dest.is_dir()
        and not dest.is_symlink()
        and (not any(dest.iterdir()) or (dest / "oci-layout").is_file())
    )


@contextmanager
def atomic_dir(dest: Path) -> Iterator[Path]:
    """Yield a temp directory beside ``dest``; on success it becomes ``dest``.

    An existing ``dest`` is replaced only if it is empty or an OCI layout (never an unrelated directory);
    the old one is moved aside first and removed after the new one is in place.
    """
    if (dest.exists() or dest.is_symlink()) and not _is_replaceable_dir(dest):
        raise UsageError(f"{dest} exists and is not an OCI image layout; refusing to replace it")
    parent = dest.parent
    if not parent.is_dir():
        raise UsageError(f"{parent} does not exist")
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{dest.name}.", suffix=".partial"))
    try:
        yield tmp
        if dest.exists():
            old = Path(tempfile.mkdtemp(dir=parent, prefix=f".{dest.name}.", suffix=".old"))
            os.replace(dest, old / "layout")
            try:
                os.replace(tmp, dest)
            except BaseException:
                os.replace(old / "layout", dest)
                raise
            finally:
                remove_tree(old)
        else:
            os.replace(tmp, dest)
    except BaseException:
        remove_tree(tmp)
        raise
