"""What needs a writable path as a restricted pod: the paths a failed import or snippet tried to write, and the
mount or variable that gives it one."""

from __future__ import annotations

import pytest

from harden.verify.writable import remedy, written_paths

HOME = "/home/app"
EROFS = "OSError: [Errno 30] Read-only file system: '/var/lib/app/state.db'"


@pytest.mark.parametrize(
    ("paths", "error", "expected"),
    [
        ((f"{HOME}/.config/matplotlib",), "", "set MPLCONFIGDIR to a writable mounted directory (an emptyDir)"),
        ((), "Matplotlib requires access to a writable cache directory",
         "set MPLCONFIGDIR to a writable mounted directory (an emptyDir)"),
        (("/opt/venv/lib/python3.11/site-packages/numba_cache/x",), "",
         "set NUMBA_CACHE_DIR to a writable mounted directory"),
        (("/tmp/tmpab12cd",), "", "mount an emptyDir at /tmp (or set TMPDIR to a writable mount)"),
        (("/var/tmp/x",), "", "mount an emptyDir at /tmp (or set TMPDIR to a writable mount)"),
        ((), "FileNotFoundError: No usable temporary directory found in ['/tmp', '/var/tmp', '/usr/tmp', '/']",
         "mount an emptyDir at /tmp (or set TMPDIR to a writable mount)"),
        ((f"{HOME}/.cache/pip",), "", "set XDG_CACHE_HOME to a writable mounted directory (an emptyDir)"),
        ((f"{HOME}/.config/app.ini",), "", "set XDG_CONFIG_HOME to a writable mounted directory (an emptyDir)"),
        ((f"{HOME}/.myapp/state",), "", f"mount an emptyDir at HOME ({HOME})"),
        ((HOME,), "", f"mount an emptyDir at HOME ({HOME})"),
        (("/var/lib/app/state.db",), EROFS, "mount a writable volume (an emptyDir) at /var/lib/app"),
        ((), "OSError: something", "give it a writable directory (an emptyDir) and point the library's "
                                   "cache/config variable at it"),
    ],
)
def test_the_remedy_for_a_need_of_a_writable_path(paths: tuple[str, ...], error: str, expected: str) -> None:
    assert remedy(paths, error, HOME) == expected


def test_a_path_beside_home_is_not_home() -> None:
    assert remedy(("/home/application/x",), "", HOME) == "mount a writable volume (an emptyDir) at /home/application"


def test_written_paths_adds_the_path_of_a_read_only_or_permission_error_once() -> None:
    assert written_paths([], EROFS) == ("/var/lib/app/state.db",)
    assert written_paths(["/var/lib/app/state.db"], EROFS) == ("/var/lib/app/state.db",)
    assert written_paths(["/tmp/a", "/tmp/a"], "PermissionError: [Errno 13] Permission denied: '/srv/out'") == (
        "/tmp/a", "/srv/out")
    assert written_paths(["/tmp/a"], "ImportError: nothing to do with files") == ("/tmp/a",)


def test_bytecode_cache_writes_are_not_needs_of_a_writable_path() -> None:
    """Python ignores a bytecode cache it cannot write: in a hardened image without .pyc files every import
    tries one, and the remedy must name where the code really writes, not site-packages."""
    site = "/opt/venv/lib/python3.11/site-packages"
    writes = [f"{site}/app/__pycache__", f"{site}/app/__pycache__/run.cpython-311.pyc.140234",
              "/run/app/app.pid"]
    assert written_paths(writes, "exit code 1: PermissionError") == ("/run/app/app.pid",)
    assert remedy(written_paths(writes, ""), "", HOME) == "mount a writable volume (an emptyDir) at /run/app"
