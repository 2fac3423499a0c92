"""Outputs appear whole or not at all: everything is written to a temp path next to the destination and moved
into place with ``os.replace`` at the end; any failure, Ctrl-C or SIGTERM removes the temp path instead.

The temp path is named before it is created and created inside the ``try``: a signal that lands between the
system call that creates it and the next Python instruction still finds it and removes it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from harden.errors import InternalError, UsageError
from harden.image.workspace import remove_tree

_ATTEMPTS = 16


def _temp_name(parent: Path, prefix: str, suffix: str) -> Path:
    return parent / f"{prefix}{secrets.token_hex(6)}{suffix}"


def _check_parent(dest: Path) -> None:
    if not dest.parent.is_dir():
        raise UsageError(f"{dest.parent} does not exist")


@contextmanager
def _owned_temp(
    parent: Path, prefix: str, suffix: str, create: Callable[[Path], None], remove: Callable[[Path], None]
) -> Iterator[Path]:
    """Create a fresh temp path in ``parent`` with ``create`` and remove it with ``remove`` on any exit that
    did not hand it over (a caller's ``os.replace`` moves it away)."""
    for _ in range(_ATTEMPTS):
        tmp = _temp_name(parent, prefix, suffix)
        owned = True
        try:
            try:
                create(tmp)
            except FileExistsError:
                owned = False  # someone else's path: never remove it
                continue
            yield tmp
            return
        finally:
            if owned and (tmp.exists() or tmp.is_symlink()):
                remove(tmp)
    raise InternalError(f"no free temp name in {parent} after {_ATTEMPTS} attempts")


def _create_file(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))


def _remove_file(path: Path) -> None:
    path.unlink(missing_ok=True)


def _create_dir(path: Path) -> None:
    path.mkdir(mode=0o700)


def scratch_dir(parent: Path, prefix: str, suffix: str = "") -> contextlib.AbstractContextManager[Path]:
    """A fresh private directory in ``parent``, removed with everything in it when the block ends."""
    return _owned_temp(parent, prefix, suffix, _create_dir, remove_tree)


@contextmanager
def atomic_file(dest: Path) -> Iterator[Path]:
    """Yield a temp file path beside ``dest``; on success it replaces ``dest``."""
    if dest.is_dir():
        raise UsageError(f"{dest} is a directory; expected a file path")
    _check_parent(dest)
    with _owned_temp(dest.parent, f".{dest.name}.", ".partial", _create_file, _remove_file) as tmp:
        yield tmp
        os.replace(tmp, dest)


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
    _check_parent(dest)
    with scratch_dir(dest.parent, f".{dest.name}.", ".partial") as tmp:
        yield tmp
        if not dest.exists():
            os.replace(tmp, dest)
            return
        with scratch_dir(dest.parent, f".{dest.name}.", ".old") as old:
            os.replace(dest, old / "layout")
            try:
                os.replace(tmp, dest)
            except BaseException:
                os.replace(old / "layout", dest)
                raise
