"""What to tell a user whose import or smoke snippet needs a writable path when the hardened image runs as a
restricted Kubernetes pod (``readOnlyRootFilesystem: true``, no writable ``/tmp``): the environment variable or
the mount that gives it one."""

from __future__ import annotations

import re
from collections.abc import Sequence

_ROFS = re.compile(r"(?:Read-only file system|Permission denied)[^']*'([^']+)'")

# (where the write went, or what the error says; what fixes it): the first match wins.
_REMEDIES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"/matplotlib(/|$)|Matplotlib requires access to a writable"),
     "set MPLCONFIGDIR to a writable mounted directory (an emptyDir)"),
    (re.compile(r"/numba(_cache)?(/|$)|__pycache__/.*numba"), "set NUMBA_CACHE_DIR to a writable mounted directory"),
    (re.compile(r"/fontconfig(/|$)"), "set XDG_CACHE_HOME to a writable mounted directory"),
    (re.compile(r"/huggingface(/|$)"), "set HF_HOME to a writable mounted directory"),
    (re.compile(r"/\.cache(/|$)"), "set XDG_CACHE_HOME to a writable mounted directory (an emptyDir)"),
    (re.compile(r"/\.config(/|$)"), "set XDG_CONFIG_HOME to a writable mounted directory (an emptyDir)"),
    (re.compile(r"^/(var/)?tmp(/|$)|No usable temporary directory"),
     "mount an emptyDir at /tmp (or set TMPDIR to a writable mount)"),
)


def written_paths(writes: Sequence[str], error: str) -> tuple[str, ...]:
    """The paths a failed run tried to write: what the audit hook saw, else the path in the OSError text.
    Bytecode caches are left out: Python imports without them when it cannot write them."""
    found = list(dict.fromkeys(path for path in writes if "__pycache__" not in path.split("/")))
    match = _ROFS.search(error)
    if match and match.group(1) not in found:
        found.append(match.group(1))
    return tuple(found)


def remedy(paths: Sequence[str], error: str = "", home: str = "") -> str:
    for pattern, text in _REMEDIES:
        if any(pattern.search(place) for place in (*paths, error)):
            return text
    for path in paths:
        if home and (path == home or path.startswith(home.rstrip("/") + "/")):
            return f"mount an emptyDir at HOME ({home})"
    if paths:
        folder = paths[0].rsplit("/", 1)[0] or "/"
        return f"mount a writable volume (an emptyDir) at {folder}"
    return "give it a writable directory (an emptyDir) and point the library's cache/config variable at it"
