"""Outputs appear whole or not at all: everything is written to a temp path next to the destination and moved
into place with ``os.replace`` at the end; any failure, Ctrl-C or SIGTERM removes the temp path instead.

Several outputs are published together by a ``Publication``: each is staged (written to its temp path) first,
then all are committed; a failure while staging changes no destination, and a failure while committing (or
later inside the ``with`` block, e.g. tagging) puts back every destination already replaced. ``atomic_file``
and ``atomic_dir`` are publications of one output.

The temp path is named before it is created and created inside the ``try``: a signal that lands between the
system call that creates it and the next Python instruction still finds it and removes it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import signal
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from harden.errors import InternalError, UsageError

log = logging.getLogger(__name__)

_ATTEMPTS = 16
_HELD_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


def _temp_name(parent: Path, prefix: str, suffix: str) -> Path:
    return parent / f"{prefix}{secrets.token_hex(6)}{suffix}"


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


def _remove_file(path: Path) -> None:
    path.unlink(missing_ok=True)


def _create_dir(path: Path) -> None:
    path.mkdir(mode=0o700)


def _create_public_file(path: Path) -> None:
    """An output file: ordinary permissions, 0666 less the umask (as skopeo and ``cp`` make them)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666))


def _create_public_dir(path: Path) -> None:
    """An output directory: 0777 less the umask."""
    path.mkdir(mode=0o777)


def current_umask() -> int:
    """The process umask, read without changing it where Linux tells it (``/proc/self/status``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no other way to read it: set and restore at once
    os.umask(mask)
    return mask


def make_ordinary(path: Path, *, directory: bool = False) -> None:
    """Give a file made private by ``mkstemp`` (0600) the permissions of an ordinary new file (umask)."""
    os.chmod(path, (0o777 if directory else 0o666) & ~current_umask())


def scratch_dir(parent: Path, prefix: str, suffix: str = "") -> contextlib.AbstractContextManager[Path]:
    """A fresh private directory in ``parent``, removed with everything in it when the block ends."""
    return _owned_temp(parent, prefix, suffix, _create_dir, remove_tree)


# -- where an output may go ----------------------------------------------------------------------------------
def _parent_problem(dest: Path) -> str | None:
    parent = dest.parent
    if not parent.is_dir():
        what = "is not a folder" if parent.exists() else "does not exist"
        return f"cannot be written: the folder {parent} {what}"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot be written: the folder {parent} is not writable"
    return None


def file_destination_problem(dest: Path) -> str | None:
    """Why a file cannot be published at ``dest`` (a phrase following the name), or None."""
    if dest.is_dir():
        return "is a directory; expected a file path"
    return _parent_problem(dest)


def _is_replaceable_dir(dest: Path) -> bool:
    return (
        dest.is_dir()
        and not dest.is_symlink()
        and (not any(dest.iterdir()) or (dest / "oci-layout").is_file())
    )


def dir_destination_problem(dest: Path) -> str | None:
    """Why a directory cannot be published at ``dest``, or None. An existing ``dest`` is replaced only if it is
    empty or an OCI layout (never an unrelated directory)."""
    if (dest.exists() or dest.is_symlink()) and not _is_replaceable_dir(dest):
        return "exists and is not an OCI image layout; refusing to replace it"
    return _parent_problem(dest)


def _refuse(dest: Path, *, is_dir: bool) -> None:
    problem = dir_destination_problem(dest) if is_dir else file_destination_problem(dest)
    if problem is not None:
        raise UsageError(f"{dest} {problem}")


# -- publishing several outputs together ---------------------------------------------------------------------
@contextmanager
def signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block ends: a second Ctrl-C must not stop a rollback halfway.

    Blocking them in this thread is not enough when the process has other threads (a layer compressed on every
    core, a stream sent while it is made): the kernel hands the signal to one of those, and Python runs its
    handler in the main thread all the same. So the main thread also swaps the handlers for one that notes the
    signal, and raises what it noted once the block is done."""
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD_SIGNALS)
    if threading.current_thread() is not threading.main_thread():  # handlers can only change there
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
        return
    arrived: list[int] = []
    previous = {signum: signal.signal(signum, lambda signum, _frame: arrived.append(signum))
                for signum in sorted(_HELD_SIGNALS)}
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)  # a signal pending here is noted too
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        for noted in dict.fromkeys(arrived):
            signal.raise_signal(noted)


@dataclass(slots=True)
class _Staged:
    """One output of a publication: written at ``tmp``, to become ``dest``."""

    tmp: Path
    dest: Path
    is_dir: bool
    old: Path | None = None
    """Where the previous ``dest`` is kept until the publication ends (named before it is created)."""
    started: bool = False
    """Its commit began: a rollback must look at it (the file system tells how far it got)."""


def _set_aside(entry: _Staged, old: Path) -> None:
    """Keep the previous destination at ``old``. A file is hard-linked there, so that ``dest`` never goes
    missing (``os.replace`` swaps it); a directory, or a file system without hard links, is moved."""
    if not entry.is_dir:
        try:
            os.link(entry.dest, old, follow_symlinks=False)
            return
        except OSError:
            pass
    os.replace(entry.dest, old)


def _undo(entry: _Staged) -> None:
    """Put back what ``dest`` was before the commit of ``entry`` began, wherever that commit stopped."""
    old = entry.old if entry.old is not None and os.path.lexists(entry.old) else None
    if not os.path.lexists(entry.tmp) and (entry.is_dir or old is None):
        os.replace(entry.dest, entry.tmp)  # the new output goes back to its temp path, removed with it
    if old is not None:
        os.replace(old, entry.dest)  # a file's previous content simply replaces the new one


class Publication:
    """Outputs published together, all or nothing::

        with Publication() as publication:
            fill(publication.stage_file(Path("a.tar")))
            fill_dir(publication.stage_dir(Path("layout")))
            publication.commit()
            tag()  # a failure here still takes both outputs back

    ``stage_file`` / ``stage_dir`` check the destination and hand out a fresh temp path beside it, with the
    permissions of an ordinary new file or directory (the umask's: an image output is readable like any other
    file, as skopeo's are; ``scratch_dir`` stays private). ``commit``
    moves every temp path into place, keeping each previous destination aside (``.old``) until the block
    ends. Leaving the block normally commits (if not done yet) and drops the previous destinations; leaving
    it by an exception (any failure, Ctrl-C, SIGTERM) restores them and removes every temp path.
    """

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._staged: list[_Staged] = []
        self._kept: set[Path] = set()
        self._committed = False
        self._settled = False

    def __enter__(self) -> Publication:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self._abandon()
            return
        try:
            if not self._committed:
                self.commit()
        except BaseException:
            self._abandon()
            raise
        self._settled = True
        self._stack.close()  # the temp paths are gone (moved into place); drops the previous destinations

    def stage_file(self, dest: Path) -> Path:
        """An empty temp file beside ``dest``, to replace it when the publication commits."""
        return self._stage(dest, is_dir=False)

    def stage_dir(self, dest: Path) -> Path:
        """An empty temp directory beside ``dest`` (absent, empty or an OCI layout), to replace it."""
        return self._stage(dest, is_dir=True)

    def commit(self) -> None:
        """Move every staged output into place, in the order staged. Inside the ``with`` block only: a failure
        propagates out of it, and leaving the block by an exception undoes every commit."""
        if self._committed:
            raise InternalError("a publication commits once")
        self._committed = True
        for entry in self._staged:
            self._place(entry)

    def _stage(self, dest: Path, *, is_dir: bool) -> Path:
        if self._committed:
            raise InternalError(f"{dest} staged after the publication committed")
        _refuse(dest, is_dir=is_dir)
        target = dest.parent.resolve() / dest.name
        if any(entry.dest.parent.resolve() / entry.dest.name == target for entry in self._staged):
            raise UsageError(f"{dest} is written twice in one publication")
        create, remove = (_create_public_dir, remove_tree) if is_dir else (_create_public_file, _remove_file)
        tmp = self._stack.enter_context(_owned_temp(dest.parent, f".{dest.name}.", ".partial", create, remove))
        self._staged.append(_Staged(tmp, dest, is_dir))
        return tmp

    def _place(self, entry: _Staged) -> None:
        _refuse(entry.dest, is_dir=entry.is_dir)  # again: the destination may have changed while staging
        entry.started = True
        if os.path.lexists(entry.dest):
            keep = self._stack.enter_context(
                _owned_temp(entry.dest.parent, f".{entry.dest.name}.", ".old", _create_dir, self._drop_old)
            )
            entry.old = keep / "previous"
            _set_aside(entry, entry.old)
        os.replace(entry.tmp, entry.dest)

    def _drop_old(self, keep: Path) -> None:
        """Remove a ``.old`` folder, unless it may hold the only copy of a previous output: its restore failed,
        or the publication never settled (a second signal cut the rollback short)."""
        if self._settled and keep not in self._kept:
            remove_tree(keep)
        elif not any(keep.iterdir()):
            keep.rmdir()

    def _abandon(self) -> None:
        """Restore every destination already replaced, then remove every temp path; signals wait."""
        with signals_held():
            try:
                self._roll_back()
                self._settled = True
            finally:
                self._stack.close()

    def _roll_back(self) -> None:
        for entry in reversed(self._staged):
            if not entry.started:
                continue
            entry.started = False
            try:
                _undo(entry)
            except BaseException as exc:  # whatever stops one restore, the others still run
                reason = (exc.strerror if isinstance(exc, OSError) else None) or repr(exc)
                if entry.old is not None and os.path.lexists(entry.old):
                    self._kept.add(entry.old.parent)  # never deleted: the only copy of the previous output
                    log.error("could not restore %s (%s); its previous content is kept in %s",
                              entry.dest, reason, entry.old)
                else:
                    log.error("could not take back %s: %s", entry.dest, reason)


def joined(publication: Publication | None) -> contextlib.AbstractContextManager[Publication]:
    """``publication`` itself (its owner commits it), else a publication of its own, committed when the block
    ends: how a writer serves both a caller publishing several outputs and one writing a single output."""
    return contextlib.nullcontext(publication) if publication is not None else Publication()


@contextmanager
def atomic_file(dest: Path) -> Iterator[Path]:
    """Yield a temp file path beside ``dest``; on success it replaces ``dest``."""
    with Publication() as publication:
        yield publication.stage_file(dest)


@contextmanager
def atomic_dir(dest: Path) -> Iterator[Path]:
    """Yield a temp directory beside ``dest``; on success it becomes ``dest``.

    An existing ``dest`` is replaced only if it is empty or an OCI layout (never an unrelated directory);
    the old one is moved aside first and removed after the new one is in place.
    """
    with Publication() as publication:
        yield publication.stage_dir(dest)


def remove_tree(root: Path) -> None:
    """``rm -rf`` that also copes with read-only directories (a materialized rootfs keeps 0555 dirs)."""
    if root.is_symlink() or not root.exists():
        root.unlink(missing_ok=True)
        return
    try:
        shutil.rmtree(root)
        return
    except OSError:
        pass
    os.chmod(root, stat.S_IRWXU)
    for dirpath, dirnames, _files in os.walk(root):
        for name in dirnames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, stat.S_IRWXU)
    try:
        shutil.rmtree(root)
    except OSError as exc:
        log.warning("could not remove workspace %s: %s", root, exc)
