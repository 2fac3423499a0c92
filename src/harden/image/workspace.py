"""The run's private temp directory: blobs, saved images, written layers, materialized trees.

``with Workspace() as ws:`` creates it under ``$HARDEN_WORKDIR`` (or the system temp dir) and removes it on
success, failure, Ctrl-C and SIGTERM: while it is open, SIGTERM raises ``Terminated`` (a KeyboardInterrupt) in
the main thread so that every ``finally`` and ``with`` runs; the previous handler is restored on exit.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import signal
import tempfile
import threading
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from harden.atomic import remove_tree
from harden.errors import InternalError, UsageError
from harden.image.blobs import BlobStore

log = logging.getLogger(__name__)

ENV_WORKDIR = "HARDEN_WORKDIR"


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived while a workspace was open."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(f"terminated by signal {signum}")
        self.signum = signum


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)


class Workspace:
    """A temp directory that never outlives the run (unless ``keep=True``, for debugging)."""

    def __init__(self, *, base: Path | None = None, keep: bool = False, prefix: str = "harden-") -> None:
        self._base = base
        self._keep = keep
        self._prefix = prefix
        self._root: Path | None = None
        self._blobs: BlobStore | None = None
        self._previous: Any = None
        self._installed = False

    # -- lifecycle ---------------------------------------------------------------------------------------
    def __enter__(self) -> Workspace:
        base = self._base or workspace_base()
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, _raise_terminated)
            self._installed = True
        try:
            self._create_root(base)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _create_root(self, base: Path) -> None:
        """Name the directory first, then create it: a signal landing right after ``mkdir`` still finds it."""
        try:
            base.mkdir(parents=True, exist_ok=True)
            base = base.resolve()
            while self._root is None:
                candidate = base / f"{self._prefix}{secrets.token_hex(6)}"
                self._root = candidate
                try:
                    candidate.mkdir(mode=0o700)
                except FileExistsError:
                    self._root = None  # someone else's: never cleaned by this workspace
        except OSError as exc:
            self._root = None
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise  # a full disk, which the CLI reports as such
            raise UsageError(f"cannot create a workspace under {base}: {exc.strerror or exc}") from exc

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        pending: list[int] = []
        if self._installed:
            signal.signal(signal.SIGTERM, lambda signum, frame: pending.append(signum))
        try:
            self.cleanup()
        finally:
            if self._installed:
                signal.signal(signal.SIGTERM, self._previous)
                self._installed = False
        if pending and exc_type is None:
            raise Terminated(pending[0])

    def cleanup(self) -> None:
        root, self._root, self._blobs = self._root, None, None
        if root is None:
            return
        if self._keep:
            log.info("keeping workspace %s", root)
            return
        remove_tree(root)

    # -- paths -------------------------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        """The workspace directory (absolute, resolved)."""
        if self._root is None:
            raise InternalError("workspace used outside its `with` block")
        return self._root

    @property
    def blobs(self) -> BlobStore:
        if self._blobs is None:
            self._blobs = BlobStore(self.path / "blobs")
        return self._blobs

    def join(self, *parts: str) -> Path:
        """A path inside the workspace (not created); refuses anything that would leave it."""
        candidate = self.path.joinpath(*parts).resolve()
        if candidate != self.path and self.path not in candidate.parents:
            raise InternalError(f"path {'/'.join(parts)!r} leaves the workspace")
        return candidate

    def mkdtemp(self, prefix: str = "tmp-") -> Path:
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self.path))

    def mkstemp(self, prefix: str = "tmp-", suffix: str = "") -> Path:
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=self.path)
        os.close(fd)
        return Path(name)


def workspace_base() -> Path:
    """Where workspaces go: ``$HARDEN_WORKDIR``, else the system temp directory."""
    return Path(os.environ.get(ENV_WORKDIR) or tempfile.gettempdir())


