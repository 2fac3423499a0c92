"""The in-image probe: one self-contained, stdlib-only script that harden runs INSIDE an image.

The host passes this file's source as ``python -c SOURCE SUBCOMMAND ARGS…`` (exec form, no shell; the hardened
image has none), so it must run on any Python >= 3.8 and import nothing but the standard library. Every
subcommand writes JSON on stdout only; anything a probed module prints goes to stderr.

Subcommands:
  discover                      importable targets: top-level modules on sys.path, builtins, every stdlib
                                module (submodules too, tests excluded), "module:attr" of every entry point
  metadata                      importlib.metadata distributions: name, version, entry points, top-level names
  imports [--jobs N] [--timeout S] TARGET…
                                import each target in a worker child; one JSON line per target as it finishes.
                                A crash or hang of one target costs only that target: the worker is replaced
  smoke NAME TIMEOUT CODE       run CODE in a fresh interpreter; passed = exit code 0 within TIMEOUT seconds
  assert                        facts for the hardening assertions (uid, shell, HOME, CA bundle, tzdata)
  startup RUNS MODULE…          median wall time of a fresh interpreter importing MODULE…
  worker                        (internal) the import worker the ``imports`` parent drives over pipes
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only; never evaluated at run time (Python 3.8 in the image)
    from collections.abc import Callable
    from importlib.metadata import Distribution

    Report = Callable[[dict[str, object]], None]

# Everything else is imported inside the function that needs it: the import worker must start with as few
# modules preloaded as possible, or it could not notice that one of them is gone from the image.

# Names we never import: they only run programs (``__main__``), open GUIs, or are test suites.
_SKIP_PARTS = ("__main__", "test", "tests", "idle_test")
_SKIP_TOP = ("antigravity", "idlelib", "turtledemo", "test", "tests")
_SHELLS = ("sh", "bash", "dash", "zsh", "ash", "ksh", "mksh", "pdksh", "csh", "tcsh", "fish", "busybox",
           "rbash", "yash", "posh", "toybox")
_BIN_DIRS = ("/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin")
_CA_CANDIDATES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
                  "/etc/ssl/ca-bundle.pem", "/etc/ssl/cert.pem")
_TAIL = 2000


def emit(document: object) -> None:
    sys.stdout.write(json.dumps(document, sort_keys=True) + "\n")
    sys.stdout.flush()


def tail(text: str, limit: int = _TAIL) -> str:
    return text if len(text) <= limit else text[-limit:]


def own_source() -> str:
    """This script's source text: from the file when run as one, else from ``-c`` on our command line."""
    path = globals().get("__file__")
    if path and os.path.isfile(path):
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    argv = getattr(sys, "orig_argv", None)
    if not argv:
        with open("/proc/self/cmdline", "rb") as handle:
            argv = [part.decode("utf-8", "surrogateescape") for part in handle.read().split(b"\0")]
    for index, arg in enumerate(argv[:-1]):
        if arg == "-c":
            return str(argv[index + 1])
    raise RuntimeError("probe source not found on the command line")


def skipped(name: str) -> bool:
    parts = name.split(".")
    if parts[0] in _SKIP_TOP and (len(parts) > 1 or parts[0] in ("antigravity", "test", "tests")):
        return True
    return any(part in _SKIP_PARTS or part.startswith("test_") for part in parts[1:])


# ---------------------------------------------------------------- discover


def stdlib_dirs() -> list[str]:
    import sysconfig

    paths = sysconfig.get_paths()
    found = []
    for key in ("stdlib", "platstdlib"):
        value = paths.get(key)
        if value and os.path.isdir(value) and value not in found:
            found.append(value)
    for base in list(found):
        dynload = os.path.join(base, "lib-dynload")
        if os.path.isdir(dynload) and dynload not in found:
            found.append(dynload)
    return found


def walk_package(name: str, path: str, into: set[str]) -> None:
    """Every submodule below a package directory, from the file system only (nothing is imported)."""
    import pkgutil

    for info in pkgutil.iter_modules([path]):
        full = name + "." + info.name
        if skipped(full):
            continue
        into.add(full)
        if info.ispkg:
            walk_package(full, os.path.join(path, info.name), into)


def top_level_modules(paths: list[str]) -> set[str]:
    import pkgutil

    names = set()
    for info in pkgutil.iter_modules(paths):
        if info.name.isidentifier():
            names.add(info.name)
    for entry in paths:
        names.update(namespace_children(entry or "."))
    return names


def namespace_children(entry: str) -> set[str]:
    """``ns.child`` for directories without ``__init__`` (PEP 420 namespaces such as ``google``)."""
    import pkgutil

    found: set[str] = set()
    if not os.path.isdir(entry):
        return found
    try:
        names = sorted(os.listdir(entry))
    except OSError:
        return found
    for name in names:
        folder = os.path.join(entry, name)
        if not name.isidentifier() or not os.path.isdir(folder):
            continue
        if any(os.path.exists(os.path.join(folder, "__init__" + ext)) for ext in (".py", ".pyc")):
            continue
        for info in pkgutil.iter_modules([folder]):
            if info.name.isidentifier() and info.ispkg:
                found.add(name + "." + info.name)
    return found


def stdlib_modules() -> set[str]:
    import importlib.util
    import pkgutil

    names: set[str] = set(sys.builtin_module_names)
    for directory in stdlib_dirs():
        for info in pkgutil.iter_modules([directory]):
            if not info.name.isidentifier():
                continue
            names.add(info.name)
            if info.ispkg and not skipped(info.name + ".x"):
                walk_package(info.name, os.path.join(directory, info.name), names)
    for name in getattr(sys, "stdlib_module_names", ()):
        if name not in names and importlib.util.find_spec(name) is not None:
            names.add(name)
    return names


def entry_point_targets() -> set[str]:
    targets = set()
    for dist in distributions():
        for entry in dist.entry_points:
            value = entry.value.split("[", 1)[0].strip().replace(" ", "")
            if value:
                targets.add(value)
    return targets


def discover() -> dict[str, object]:
    stdlib = stdlib_modules()
    top = top_level_modules(list(sys.path))
    entry_points = entry_point_targets()
    targets = sorted(name for name in stdlib | top | entry_points if not skipped(name))
    return {
        "executable": sys.executable,
        "version": f"{sys.version_info[0]}.{sys.version_info[1]}",
        "sys_path": list(sys.path),
        "targets": targets,
        "counts": {"stdlib": len(stdlib), "top_level": len(top), "entry_points": len(entry_points)},
    }


# ---------------------------------------------------------------- metadata


def distributions() -> list[Distribution]:
    try:
        from importlib import metadata
    except ImportError:
        return []
    return list(metadata.distributions())


def normalize(name: str) -> str:
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def top_level_of(dist: Distribution) -> list[str]:
    text = dist.read_text("top_level.txt")
    if text:
        return sorted({line.strip() for line in text.splitlines() if line.strip()})
    return file_roots(dist)


def file_roots(dist: Distribution) -> list[str]:
    """Top-level module names the distribution's installed files provide (from RECORD)."""
    names = set()
    for file in dist.files or ():
        parts = str(file).split("/")
        head = parts[0]
        if head.endswith((".dist-info", ".egg-info", ".data")) or head in ("..", "__pycache__"):
            continue
        if len(parts) > 1:
            names.add(head)
        elif head.endswith(".py"):
            names.add(head[:-3])
        elif head.endswith(".so") or head.endswith(".pyd"):
            names.add(head.split(".", 1)[0])
    return sorted(name for name in names if name.isidentifier())


def metadata() -> dict[str, object]:
    found: dict[str, dict[str, object]] = {}
    for dist in distributions():
        name = dist.metadata["Name"] if dist.metadata else None
        if not name:
            continue
        key = normalize(name)
        if key in found:  # shadowed by an earlier sys.path entry, as importlib itself would see it
            continue
        entry_points = sorted([ep.group, ep.name, ep.value] for ep in dist.entry_points)
        found[key] = {
            "name": name,
            "version": dist.version,
            "entry_points": entry_points,
            "top_level": top_level_of(dist),
            "roots": file_roots(dist),
        }
    return {"distributions": [found[key] for key in sorted(found)]}


# ---------------------------------------------------------------- imports (worker + parent)


def load_target(target: str) -> None:
    import importlib

    module_name, _, attribute = target.partition(":")
    obj = importlib.import_module(module_name)
    for part in attribute.split(".") if attribute else ():
        obj = getattr(obj, part)


def worker() -> None:
    """Read target names on (a copy of) stdin, import each, answer one JSON line on (a copy of) stdout.

    Modules that print or read stdin see stderr and /dev/null instead, so they cannot corrupt the protocol.
    """
    import warnings

    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    warnings.simplefilter("ignore")
    for line in requests:
        target = line.strip()
        if not target:
            continue
        try:
            load_target(target)
            origin = getattr(sys.modules.get(target.partition(":")[0]), "__file__", None) or ""
            reply = {"module": target, "ok": True, "kind": "ok", "error": "", "origin": str(origin)}
        except BaseException as exc:
            message = str(exc).splitlines()[0] if str(exc) else ""
            error = type(exc).__name__ + (": " + message if message else "")
            reply = {"module": target, "ok": False, "kind": "error", "error": error[:500]}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()
    os._exit(0)


class Worker:
    """One worker child and the threads that read its replies and keep the tail of its stderr."""

    def __init__(self, source: str) -> None:
        import collections
        import queue
        import subprocess
        import threading

        self.process = subprocess.Popen(
            [sys.executable, "-c", source, "worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            encoding="utf-8",
            errors="replace",
        )
        self.replies: queue.Queue[str] = queue.Queue()
        self.stderr: collections.deque[str] = collections.deque(maxlen=20)
        threading.Thread(target=self._read_replies, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_replies(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.replies.put(line)
        self.replies.put("")

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line.rstrip("\n"))

    def ask(self, target: str, timeout: float) -> str | None:
        """The reply line; "" when the worker died; None on timeout."""
        import queue

        self.stderr.clear()
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(target + "\n")
            self.process.stdin.flush()
        except OSError:
            return ""
        try:
            return self.replies.get(timeout=timeout)
        except queue.Empty:
            return None

    def death(self) -> str:
        import subprocess

        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.process.returncode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exited with {code}"
        last = [line for line in self.stderr if line.strip()][-3:]
        return "worker crashed (" + how + ")" + (": " + " | ".join(last) if last else "")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def close(self) -> None:
        assert self.process.stdin is not None
        import contextlib
        import subprocess

        with contextlib.suppress(OSError):
            self.process.stdin.close()

        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()


def ask(child: Worker, target: str, timeout: float) -> dict[str, object]:
    """One target's outcome; a timed-out worker is killed, a crashed one is reaped (both unusable after)."""
    line = child.ask(target, timeout)
    if line is None:
        child.kill()
        return {"module": target, "ok": False, "kind": "timeout",
                "error": f"import did not finish within {timeout:g}s"}
    if not line:
        return {"module": target, "ok": False, "kind": "crash", "error": child.death()}
    result: dict[str, object] = json.loads(line)
    return result


def run_shard(source: str, targets: list[str], timeout: float, report: Report) -> None:
    """Import ``targets`` in order, one worker after another. A target that failed in a worker that had
    already imported others is asked again in a fresh worker: its verdict must not depend on import order."""
    retry = []
    index = 0
    while index < len(targets):
        child = Worker(source)
        fresh = True
        while index < len(targets):
            target = targets[index]
            index += 1
            result = ask(child, target, timeout)
            if result["kind"] in ("error", "crash") and not fresh:
                retry.append(target)
            else:
                report(result)
            fresh = False
            if result["kind"] in ("timeout", "crash"):
                break
        else:
            child.close()
    for target in retry:
        child = Worker(source)
        result = ask(child, target, timeout)
        result["isolated"] = True
        report(result)
        if result["kind"] == "ok" or result["kind"] == "error":
            child.close()


def imports(targets: list[str], jobs: int, timeout: float) -> None:
    import threading

    lock = threading.Lock()

    def report(result: dict[str, object]) -> None:
        with lock:
            emit(result)

    source = own_source()
    jobs = max(1, min(jobs, len(targets)))
    size = -(-len(targets) // jobs) if targets else 0
    shards = [targets[i:i + size] for i in range(0, len(targets), size)] if size else []
    threads = [threading.Thread(target=run_shard, args=(source, shard, timeout, report)) for shard in shards]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# ---------------------------------------------------------------- smoke, startup


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


def smoke(name: str, timeout: float, code: str) -> dict[str, object]:
    result = run_code(code, timeout)
    result["name"] = name
    result["passed"] = result["returncode"] == 0
    return result


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


def shells_on_disk() -> list[str]:
    folders = list(_BIN_DIRS) + [p for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    found = set()
    for folder in folders:
        for name in _SHELLS:
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


def assertions() -> dict[str, object]:
    facts: dict[str, object] = {
        "uid": os.getuid(),
        "gid": os.getgid(),
        "euid": os.geteuid(),
        "groups": sorted(os.getgroups()),
        "shells_on_disk": shells_on_disk(),
        "ca_files": ca_files(),
    }
    facts.update(shell_facts())
    facts.update(home_facts())
    facts.update(tz_facts())
    return facts


# ---------------------------------------------------------------- command line


def option(args: list[str], name: str, default: str) -> tuple[str, list[str]]:
    if args[:1] == [name] and len(args) > 1:
        return args[1], args[2:]
    return default, args


def main(args: list[str]) -> int:
    command, rest = (args[0], args[1:]) if args else ("", [])
    if command == "worker":
        worker()
    elif command == "discover":
        emit(discover())
    elif command == "metadata":
        emit(metadata())
    elif command == "imports":
        jobs, rest = option(rest, "--jobs", "2")
        timeout, rest = option(rest, "--timeout", "60")
        imports(rest, int(jobs), float(timeout))
    elif command == "smoke" and len(rest) == 3:
        emit(smoke(rest[0], float(rest[1]), rest[2]))
    elif command == "assert":
        emit(assertions())
    elif command == "startup" and rest:
        emit(startup(int(rest[0]), rest[1:]))
    else:
        sys.stderr.write("usage: probe {discover|metadata|imports|smoke|assert|startup} ...\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
