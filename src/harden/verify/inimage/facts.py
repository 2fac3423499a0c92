"""In-image facts: one self-contained, stdlib-only script that harden runs INSIDE an image, like ``walk.py``.

Commands (JSON on stdout):
  assert SHELL...        facts for the hardening assertions: uid, shells on disk (the names given, which the
                         drop-shells stage data lists), whether shell=True runs, HOME, CA bundles, tzdata
  startup RUNS MODULE... median wall time of a fresh interpreter importing MODULE...
"""

from __future__ import annotations

import json
import os
import sys

_BIN_DIRS = ("/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin")
_CA_CANDIDATES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
                  "/etc/ssl/ca-bundle.pem", "/etc/ssl/cert.pem")
_TAIL = 2000


def emit(document: object) -> None:
    sys.stdout.write(json.dumps(document, sort_keys=True) + "\n")
    sys.stdout.flush()


def tail(text: str, limit: int = _TAIL) -> str:
    return text if len(text) <= limit else text[-limit:]


# ---------------------------------------------------------------- startup


def run_code(code: str, timeout: float) -> dict[str, object]:
    import subprocess

    try:
        done = subprocess.run([sys.executable, "-c", code], stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout, text=True, errors="replace")
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr if isinstance(exc.stderr, str) else ""
        return {"returncode": None, "timed_out": True, "stdout": "", "stderr": tail(err)}
    return {"returncode": done.returncode, "timed_out": False, "stdout": tail(done.stdout),
            "stderr": tail(done.stderr)}


def startup(runs: int, modules: list[str]) -> dict[str, object]:
    import time

    code = "import " + ", ".join(modules) if modules else "pass"
    seconds: list[float] = []
    for _ in range(max(1, runs)):
        started = time.perf_counter()
        result = run_code(code, 600)
        elapsed = time.perf_counter() - started
        if result["returncode"] != 0:
            return {"ok": False, "seconds": seconds, "median": None,
                    "error": tail(str(result["stderr"]).strip(), 500) or "timed out"}
        seconds.append(elapsed)
    ordered = sorted(seconds)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return {"ok": True, "seconds": seconds, "median": median, "error": ""}


# ---------------------------------------------------------------- assert


def shell_facts() -> dict[str, object]:
    import subprocess

    try:
        code = subprocess.run("exit 0", shell=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=30).returncode
        return {"shell_true_ran": code == 0, "shell_true_error": "" if code == 0 else f"exit {code}"}
    except Exception as exc:
        return {"shell_true_ran": False, "shell_true_error": type(exc).__name__ + ": " + str(exc)}


def shells_on_disk(shells: list[str]) -> list[str]:
    folders = list(_BIN_DIRS) + [p for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    found = set()
    for folder in folders:
        for name in shells:
            path = os.path.join(folder, name)
            if os.path.lexists(path):
                found.add(path)
    return sorted(found)


def home_facts() -> dict[str, object]:
    import tempfile

    home = os.environ.get("HOME", "")
    if not home:
        return {"home": "", "home_writable": False, "home_error": "HOME is not set"}
    try:
        fd, path = tempfile.mkstemp(dir=home, prefix=".harden-probe-")
        os.close(fd)
        os.unlink(path)
    except Exception as exc:
        return {"home": home, "home_writable": False, "home_error": type(exc).__name__ + ": " + str(exc)}
    return {"home": home, "home_writable": True, "home_error": ""}


def nonempty_file(path: str | None) -> bool:
    try:
        return bool(path) and os.path.isfile(str(path)) and os.path.getsize(str(path)) > 0
    except OSError:
        return False


def ca_files() -> list[str]:
    import importlib.util

    candidates = [os.environ.get("SSL_CERT_FILE"), os.environ.get("REQUESTS_CA_BUNDLE")]
    try:
        import ssl
    except ImportError:  # a Python built without _ssl: only the well-known locations tell
        pass
    else:
        paths = ssl.get_default_verify_paths()
        candidates.extend((paths.cafile, paths.openssl_cafile))
    candidates.extend(_CA_CANDIDATES)
    try:
        spec = importlib.util.find_spec("certifi")
    except Exception:
        spec = None
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidates.append(os.path.join(location, "cacert.pem"))
    return sorted({str(path) for path in candidates if nonempty_file(path)})


def tz_facts() -> dict[str, object]:
    folder = os.environ.get("TZDIR") or "/usr/share/zoneinfo"
    lookup = ""
    try:
        import zoneinfo

        zoneinfo.ZoneInfo("America/New_York")
        lookup = "ok"
    except ImportError:
        lookup = "unavailable"
    except Exception as exc:
        lookup = type(exc).__name__
    return {"zoneinfo_dir": nonempty_file(os.path.join(folder, "UTC")), "zoneinfo_lookup": lookup}


def assertions(shells: list[str]) -> dict[str, object]:
    facts: dict[str, object] = {
        "uid": os.getuid(),
        "gid": os.getgid(),
        "euid": os.geteuid(),
        "groups": sorted(os.getgroups()),
        "shells_on_disk": shells_on_disk(shells),
        "ca_files": ca_files(),
    }
    facts.update(shell_facts())
    facts.update(home_facts())
    facts.update(tz_facts())
    return facts


# ---------------------------------------------------------------- command line


def main(args: list[str]) -> int:
    command, rest = (args[0], args[1:]) if args else ("", [])
    if command == "assert":
        emit(assertions(rest))
    elif command == "startup" and rest:
        emit(startup(int(rest[0]), rest[1:]))
    else:
        sys.stderr.write("usage: facts {assert SHELL...|startup RUNS MODULE...}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
