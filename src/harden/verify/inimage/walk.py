"""The in-image import walker: one self-contained, stdlib-only script that harden runs INSIDE an image.

The host passes this file's source as ``python -c SOURCE COMMAND CONFIG_JSON`` (exec form, no shell; the hardened
image has none), so it runs on any Python >= 3.8 and imports nothing but the standard library. Every command
writes JSON lines on stdout only; whatever a probed module prints goes to stderr.

Commands:
  survey CONFIG   for each interpreter in CONFIG: discovery, importlib.metadata, a walk that imports every module
                  and submodule of every importable top-level package (and the stdlib), entry points and the
                  policy's targets, then a bare start (``python -c pass``); then the policy's smoke snippets.
  imports CONFIG  import the targets in shared workers, one per top-level tree (a cheap second opinion).
  recheck CONFIG  import each target alone, in a fresh interpreter (the verdict without any import order).
  discover        (internal) what one interpreter can import: its trees, entry points, sys.path.
  metadata        (internal) importlib.metadata distributions of one interpreter.
  worker          (internal) an import worker, driven by the walker over pipes, one request per line.

A tree is walked in one worker interpreter, parents first, so each parent is imported once for all its children.
A crash or hang costs only the module being imported: the worker is replaced and the walk goes on. Every
module's reply carries the files the import opened (``sys.addaudithook`` ``open`` events) and the paths it tried
to write, so the host can tell which removed files the original used and which writable paths an import needs.

Memory: a worker is replaced at the next tree once it imported RECYCLE_AFTER modules or is resident above
RECYCLE_ABOVE_KB, and after an import that grew it by TRIM_AFTER_GROWTH_KB it gives its free C heap back
(``HeapTrimmer``: compiling from source leaves the heap grown).
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only; never evaluated at run time (Python 3.8 in the image)
    from collections.abc import Callable, Iterable
    from importlib.metadata import Distribution

    Emit = Callable[[dict[str, object]], None]

# Everything else is imported inside the function that needs it: an import worker must start with as few
# modules preloaded as possible, or it could not notice that one of them is gone from the image. The one module a
# worker loads for itself later is ctypes, for its first heap trim, and only when the image has it.

STDLIB_SKIP_TOP = ("antigravity", "this", "test", "tests")
"""Stdlib modules never imported: they open a browser, print, or run the regression suite when imported."""
STDLIB_SHALLOW = ("idlelib", "turtledemo")
"""Stdlib GUI programs: the package itself is imported, its program modules are not."""
STDLIB_SKIP_PARTS = ("test", "tests", "idle_test")
MAX_DEPTH = 16
"""Deeper dotted names are not walked (a guard against folder loops)."""
RECYCLE_AFTER = 400
"""A worker that imported this many modules is replaced at the next tree (memory, cross-tree state)."""
RECYCLE_ABOVE_KB = 64 * 1024
"""A worker resident above this is replaced at the next tree: a tree that compiles a large module from source
(an image without bytecode) then peaks in a fresh worker, not on top of the trees walked before."""
TRIM_AFTER_GROWTH_KB = 16 * 1024
"""An import that grew a worker's resident memory by this much is followed by giving the free heap back."""
_WRITE_MODES = "wax+"
_QUIET_PREFIXES = ("/proc/", "/dev/", "/sys/")


def emit_line(document: object) -> None:
    sys.stdout.write(json.dumps(document, sort_keys=True) + "\n")
    sys.stdout.flush()


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


def stdlib_skipped(name: str) -> str:
    """Why a stdlib module is not imported ("" when it is)."""
    parts = name.split(".")
    if parts[0] in STDLIB_SKIP_TOP:
        return "stdlib module that acts when imported"
    if parts[0] in STDLIB_SHALLOW and len(parts) > 1:
        return "stdlib GUI program module"
    if any(part in STDLIB_SKIP_PARTS or part.startswith("test_") for part in parts[1:]):
        return "stdlib test suite"
    return ""


def skip_reason(name: str, stdlib: bool) -> str:
    if "__main__" in name.split("."):
        return "__main__ module: importing it runs the program"
    return stdlib_skipped(name) if stdlib else ""


# ---------------------------------------------------------------- files and module trees


def python_suffixes() -> tuple[str, ...]:
    import importlib.machinery

    return tuple(importlib.machinery.all_suffixes())


def holds_python(folder: str, depth: int = 3) -> bool:
    """Whether a directory without ``__init__`` holds Python modules (then it imports as a namespace package)."""
    suffixes = python_suffixes()
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    for name in names:
        path = os.path.join(folder, name)
        if name.endswith(suffixes) and os.path.isfile(path):
            return True
    if depth <= 0:
        return False
    return any(name.isidentifier() and name != "__pycache__" and os.path.isdir(os.path.join(folder, name))
               and holds_python(os.path.join(folder, name), depth - 1) for name in names)


def is_regular_package(folder: str) -> bool:
    return any(os.path.exists(os.path.join(folder, "__init__" + suffix)) for suffix in python_suffixes())


def children_in(paths: list[str]) -> list[str]:
    """Names of the submodules found in a package's ``__path__``: modules, packages and namespace folders."""
    import pkgutil

    names = set()
    for info in pkgutil.iter_modules(paths):
        if info.name.isidentifier():
            names.add(info.name)
    for entry in paths:
        try:
            listing = os.listdir(entry)
        except OSError:
            continue
        for name in listing:
            folder = os.path.join(entry, name)
            if (name.isidentifier() and name != "__pycache__" and name not in names and os.path.isdir(folder)
                    and not os.path.islink(folder) and not is_regular_package(folder) and holds_python(folder)):
                names.add(name)
    return sorted(names)


def tree_size(paths: list[str]) -> int:
    """Python files below a package's folders: an estimate of its tree, to start the largest trees first."""
    suffixes = python_suffixes()
    count = 0
    for base in paths:
        for _root, _dirs, files in os.walk(base):
            count += sum(1 for name in files if name.endswith(suffixes))
    return count


# ---------------------------------------------------------------- discover (runs in the interpreter itself)


def stdlib_dirs() -> list[str]:
    """The standard library's folder (where ``os`` lives) and its ``lib-dynload``, real paths: a venv's
    interpreter and the interpreter it was made from share them."""
    base = os.path.realpath(os.path.dirname(os.__file__))
    found = [base]
    dynload = os.path.join(base, "lib-dynload")
    if os.path.isdir(dynload):
        found.append(dynload)
    return found


def discover() -> dict[str, object]:
    """Every importable top-level name with where it lives and how large its tree is; entry point targets."""
    import pkgutil

    std = stdlib_dirs()
    trees: dict[str, dict[str, object]] = {}
    for name in sorted(sys.builtin_module_names):
        if name != "__main__":
            trees[name] = {"name": name, "stdlib": True, "size": 1}
    for entry in sys.path:
        if not entry:
            continue  # the working directory that ``-c`` puts first: the probe's, not the image's
        folder = os.path.realpath(entry)
        in_std = folder in std
        if not os.path.isdir(folder) or folder.startswith(_QUIET_PREFIXES) or folder == "/":
            continue
        found = {info.name: info.ispkg for info in pkgutil.iter_modules([folder]) if info.name.isidentifier()}
        for name in children_in([folder]):
            found.setdefault(name, True)
        for name, ispkg in sorted(found.items()):
            if name in trees:
                continue  # shadowed by an earlier sys.path entry, as the import system sees it
            size = tree_size([os.path.join(folder, name)]) if ispkg else 1
            trees[name] = {"name": name, "stdlib": in_std, "size": size, "where": folder}
    return {
        "executable": sys.executable,
        "version": f"{sys.version_info[0]}.{sys.version_info[1]}",
        "sys_path": list(sys.path),
        "stdlib_dirs": std,
        "trees": sorted(trees.values(), key=lambda tree: str(tree["name"])),
        "entry_points": sorted(entry_point_targets()),
    }


def distributions() -> list[Distribution]:
    try:
        from importlib import metadata
    except ImportError:
        return []
    return list(metadata.distributions())


def entry_point_targets() -> set[str]:
    targets = set()
    for dist in distributions():
        for entry in dist.entry_points:
            value = entry.value.split("[", 1)[0].strip().replace(" ", "")
            if value:
                targets.add(value)
    return targets


def normalize(name: str) -> str:
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


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
        text = dist.read_text("top_level.txt")
        top_level = sorted({line.strip() for line in (text or "").splitlines() if line.strip()})
        found[key] = {
            "name": name,
            "version": dist.version,
            "entry_points": sorted([ep.group, ep.name, ep.value] for ep in dist.entry_points),
            "top_level": top_level or file_roots(dist),
            "roots": file_roots(dist),
        }
    return {"distributions": [found[key] for key in sorted(found)]}


# ---------------------------------------------------------------- the worker (runs in the interpreter itself)


class Recorder:
    """An audit hook keeping the files opened and the paths written since the last ``take``."""

    def __init__(self) -> None:
        self.opened: set[str] = set()
        self.writes: set[str] = set()
        self.write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT

    def hook(self, event: str, args: tuple[object, ...]) -> None:
        try:
            if event == "open":
                path, mode, flags = args[0], args[1], args[2]
                if isinstance(path, int) or path is None:
                    return
                text = self.absolute(path)
                writing = (isinstance(mode, str) and any(ch in mode for ch in _WRITE_MODES)) or (
                    isinstance(flags, int) and flags & self.write_flags)
                (self.writes if writing else self.opened).add(text)
            elif (event in ("os.mkdir", "os.rename", "os.remove", "os.rmdir", "shutil.rmtree") and args
                  and not isinstance(args[0], int) and args[0] is not None):
                self.writes.add(self.absolute(args[0]))
        except Exception:
            pass

    @staticmethod
    def absolute(path: object) -> str:
        text = os.fsdecode(path)  # type: ignore[arg-type]
        return os.path.normpath(os.path.join(os.getcwd(), text))

    def take(self) -> tuple[list[str], list[str]]:
        def keep(path: str) -> bool:
            return not path.startswith(_QUIET_PREFIXES) and not path.endswith((".pyc", ".py")) \
                and "/__pycache__/" not in path

        opened = sorted(p for p in self.opened if keep(p))
        writes = sorted(p for p in self.writes if not p.startswith(_QUIET_PREFIXES))
        self.opened = set()
        self.writes = set()
        return opened, writes


def module_origin(module: object) -> str:
    origin = getattr(module, "__file__", None)
    if origin:
        return str(origin)
    paths = getattr(module, "__path__", None)
    for entry in paths or ():
        return str(entry)
    return ""


def describe(exc: BaseException) -> str:
    message = str(exc).splitlines()[0] if str(exc) else ""
    return (type(exc).__name__ + (": " + message if message else ""))[:500]


def attempt(request: dict[str, object]) -> dict[str, object]:
    import importlib

    target = str(request["module"])
    module_name, _, attribute = target.partition(":")
    reply: dict[str, object] = {"module": target}
    module = None
    try:
        module = importlib.import_module(module_name)
        obj: object = module
        for part in attribute.split(".") if attribute else ():
            obj = getattr(obj, part)
        reply.update(kind="ok", error="", origin=module_origin(module))
    except BaseException as exc:  # SystemExit and KeyboardInterrupt at import are results too
        reply.update(kind="error", error=describe(exc))
    if request.get("walk") and not attribute:
        reply["children"] = submodules(module_name, module)
    return reply


def submodules(name: str, module: object) -> list[str]:
    """The children of a package: from its ``__path__`` when it imported, else from its spec (so a broken
    package's children still get their own verdict)."""
    try:
        paths = getattr(module, "__path__", None) if module is not None else None
        if paths is None and module is None:
            import importlib.util

            spec = importlib.util.find_spec(name)
            paths = spec.submodule_search_locations if spec is not None else None
        return children_in(list(paths)) if paths is not None else []
    except BaseException:
        return []


def resident_kb() -> int:
    """This process's resident memory in KiB (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    except (OSError, ValueError, IndexError):
        return 0


class HeapTrimmer:
    """Gives the C heap's free pages back to the system (glibc's ``malloc_trim``) after an import that grew the
    worker's resident memory by ``TRIM_AFTER_GROWTH_KB`` or more.

    Compiling a large module from source (an image without bytecode) grows the heap by many times the module's
    size and frees it after; glibc keeps the freed pages, so every worker that ever compiled one carries them
    (hive_metastore's generated Thrift client: 130 MB of anonymous memory kept, 21 MB after a trim). ``ctypes``
    is imported only the first time a trim is due, after the import that caused it, and the files it opens are
    not counted to any module. Where ctypes or ``malloc_trim`` is missing (musl), nothing is done.
    """

    def __init__(self) -> None:
        self.trim: Callable[[int], object] | None = None
        self.tried = False

    def after(self, before_kb: int) -> int:
        """The worker's resident memory now (in KiB), trimmed first when the import grew it that much."""
        now = resident_kb()
        if not now or now - before_kb < TRIM_AFTER_GROWTH_KB:
            return now
        if not self.tried:
            self.tried = True
            try:
                import ctypes

                self.trim = ctypes.CDLL(None).malloc_trim
            except Exception:  # no ctypes in the image, not glibc
                self.trim = None
        if self.trim is None:
            return now
        self.trim(0)
        return resident_kb()


def worker() -> None:
    """Read one JSON request per line on (a copy of) stdin, answer one JSON line on (a copy of) stdout.

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
    recorder = Recorder()
    sys.addaudithook(recorder.hook)
    trimmer = HeapTrimmer()
    resident = resident_kb()
    for line in requests:
        if not line.strip():
            continue
        reply = attempt(json.loads(line))
        reply["opened"], reply["writes"] = recorder.take()
        resident = trimmer.after(resident)
        recorder.take()  # what trimming opened belongs to no module
        reply["resident_kb"] = resident
        replies.write(json.dumps(reply) + "\n")
        replies.flush()
    os._exit(0)


# ---------------------------------------------------------------- the walker's side of a worker


class Worker:
    """One worker child and the threads that read its replies and keep the tail of its stderr."""

    def __init__(self, interpreter: str, source: str) -> None:
        import collections
        import queue
        import subprocess
        import threading

        self.process = subprocess.Popen(
            [interpreter, "-c", source, "worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            encoding="utf-8", errors="replace",
        )
        self.imported = 0
        self.resident_kb = 0
        self.replies: queue.Queue[str] = queue.Queue()
        self.stderr: collections.deque[str] = collections.deque(maxlen=20)
        threading.Thread(target=self._read, args=(self.process.stdout, self.replies.put), daemon=True).start()
        threading.Thread(target=self._read, args=(self.process.stderr, self._keep), daemon=True).start()

    @staticmethod
    def _read(stream: object, sink: Callable[[str], None]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            sink(line)
        sink("")

    def _keep(self, line: str) -> None:
        if line:
            self.stderr.append(line.rstrip("\n"))

    def ask(self, request: dict[str, object], timeout: float) -> dict[str, object]:
        """The reply; a timed-out worker is killed, a dead one reaped (both are unusable after)."""
        import queue

        self.imported += 1
        self.stderr.clear()
        target = request["module"]
        try:
            assert self.process.stdin is not None
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            line = self.replies.get(timeout=timeout)
        except OSError:
            line = ""
        except queue.Empty:
            self.kill()
            return {"module": target, "kind": "timeout", "error": f"import did not finish within {timeout:g}s"}
        if not line:
            return {"module": target, "kind": "crash", "error": self.death()}
        reply: dict[str, object] = json.loads(line)
        self.resident_kb = int(reply.pop("resident_kb", 0))  # type: ignore[call-overload]
        return reply

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

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
        import contextlib
        import subprocess

        with contextlib.suppress(OSError):
            assert self.process.stdin is not None
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()


class Walk:
    """Trees of one interpreter, walked by ``jobs`` threads, each driving one worker at a time."""

    def __init__(self, interpreter: str, source: str, timeout: float, emit: Emit) -> None:
        import threading

        self.interpreter = interpreter
        self.source = source
        self.timeout = timeout
        self.emit = emit
        self.lock = threading.Lock()
        self.seen: set[str] = set()
        self.skipped: dict[str, int] = {}

    def run(self, trees: list[tuple[list[str], bool, bool]], jobs: int) -> None:
        """``trees``: (first names, walk children, stdlib), largest first; each goes to the next free thread."""
        import threading

        pending = list(trees)
        pending.reverse()

        def loop() -> None:
            worker: Worker | None = None
            while True:
                with self.lock:
                    if not pending:
                        break
                    names, deep, stdlib = pending.pop()
                worker = self.walk_tree(worker, names, deep, stdlib)
                if worker is not None and (worker.imported >= RECYCLE_AFTER
                                           or worker.resident_kb > RECYCLE_ABOVE_KB):
                    worker.close()
                    worker = None
            if worker is not None:
                worker.close()

        threads = [threading.Thread(target=loop) for _ in range(max(1, jobs))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def claim(self, name: str, stdlib: bool) -> bool:
        with self.lock:
            if name in self.seen:
                return False
            self.seen.add(name)
            why = skip_reason(name, stdlib)
            if why:
                self.skipped[why] = self.skipped.get(why, 0) + 1
                return False
            return True

    def walk_tree(self, worker: Worker | None, names: list[str], deep: bool, stdlib: bool) -> Worker | None:
        import collections

        queue = collections.deque(names)
        while queue:
            name = queue.popleft()
            if not self.claim(name, stdlib):
                continue
            if worker is None or not worker.alive:
                worker = Worker(self.interpreter, self.source)
            reply = worker.ask({"module": name, "walk": deep}, self.timeout)
            if reply["kind"] in ("timeout", "crash"):
                worker = None
            children = [str(child) for child in reply.pop("children", None) or ()]  # type: ignore[attr-defined]
            reply.update(type="module", interpreter=self.interpreter, stdlib=stdlib)
            self.emit(reply)
            if name.count(".") < MAX_DEPTH:
                queue.extend(name + "." + child for child in children)
        return worker


def run_json(argv: list[str], timeout: float) -> dict[str, object]:
    import subprocess

    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace",
                          timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"exit {done.returncode}: {done.stderr.strip()[-500:]}")
    document: dict[str, object] = json.loads(done.stdout)
    return document


def survey_interpreter(interpreter: str, config: dict[str, object], source: str, deep_stdlib: set[str],
                       emit: Emit) -> None:
    timeout = float(config.get("timeout", 60))  # type: ignore[arg-type]
    if not os.path.exists(interpreter):
        emit({"type": "env", "interpreter": interpreter, "error": "no such file"})
        return
    asked: dict[str, object] = {}

    def ask(command: str) -> Callable[[], None]:
        def call() -> None:
            try:
                asked[command] = run_json([interpreter, "-c", source, command], 600)
            except Exception as exc:
                asked[command] = exc
        return call

    in_parallel([ask("discover"), ask("metadata")], 2)  # two interpreter starts, at once
    failed = [answer for answer in (asked["discover"], asked["metadata"]) if isinstance(answer, Exception)]
    if failed:
        emit({"type": "env", "interpreter": interpreter, "error": describe(failed[0])})
        return
    found: dict[str, object] = asked["discover"]  # type: ignore[assignment]
    dists: dict[str, object] = asked["metadata"]  # type: ignore[assignment]
    stdlib_key = str(found["version"]) + ":" + ":".join(found["stdlib_dirs"])  # type: ignore[arg-type]
    stdlib_deep = stdlib_key not in deep_stdlib
    deep_stdlib.add(stdlib_key)
    surface = bool(config.get("walk", True))
    trees = []
    for tree in found["trees"] if surface else ():  # type: ignore[attr-defined]
        stdlib = bool(tree["stdlib"])
        trees.append(([tree["name"]], stdlib_deep or not stdlib, stdlib, int(tree["size"])))
    trees.sort(key=lambda item: -item[3])
    walk = Walk(interpreter, source, timeout, emit)
    walk.run([(names, deep, stdlib) for names, deep, stdlib, _ in trees], int(config.get("jobs", 2)))  # type: ignore[call-overload]
    extra = set(config.get("targets", ()))  # type: ignore[call-overload]
    if surface:
        extra |= set(found["entry_points"])  # type: ignore[call-overload]
    # after the trees, so that every module they reach was claimed by the deep walk first
    walk.run([(names, False, False) for names in by_tree(extra)], int(config.get("jobs", 2)))  # type: ignore[call-overload]
    emit({"type": "env", "interpreter": interpreter, "version": found["version"], "sys_path": found["sys_path"],
          "stdlib_dirs": found["stdlib_dirs"], "stdlib_deep": stdlib_deep, "trees": len(trees),
          "entry_points": len(found["entry_points"]), "skipped": walk.skipped,  # type: ignore[arg-type]
          "distributions": dists["distributions"]})
    emit(bare_start(interpreter))


def bare_start(interpreter: str) -> dict[str, object]:
    import subprocess

    try:
        done = subprocess.run([interpreter, "-c", "pass"], stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, errors="replace", timeout=120)
        code, err = done.returncode, done.stderr
    except subprocess.TimeoutExpired:
        code, err = None, ""
    return {"type": "start", "interpreter": interpreter, "exit_code": code, "stderr": err[-2000:]}


# ---------------------------------------------------------------- smoke snippets, with the files they touch

SMOKE_PRELUDE = """\
def _harden_record(fd):
    import os, sys
    modes = "wax+"
    flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT
    def hook(event, args):
        try:
            if event == "open" and not isinstance(args[0], int) and args[0] is not None:
                path = os.path.normpath(os.path.join(os.getcwd(), os.fsdecode(args[0])))
                writing = (isinstance(args[1], str) and any(c in args[1] for c in modes)) or (
                    isinstance(args[2], int) and args[2] & flags)
                os.write(fd, (("w " if writing else "r ") + path + "\\n").encode("utf-8", "surrogateescape"))
            elif event == "os.mkdir" and not isinstance(args[0], int):
                path = os.path.normpath(os.path.join(os.getcwd(), os.fsdecode(args[0])))
                os.write(fd, ("w " + path + "\\n").encode("utf-8", "surrogateescape"))
        except Exception:
            pass
    sys.addaudithook(hook)
_harden_record(%d)
del _harden_record
exec(compile(%r, "<string>", "exec"))
"""


def smoke(interpreter: str, name: str, code: str, timeout: float) -> dict[str, object]:
    import subprocess
    import threading

    read_end, write_end = os.pipe()
    lines: list[str] = []

    def drain() -> None:
        with os.fdopen(read_end, "r", encoding="utf-8", errors="surrogateescape") as stream:
            lines.extend(stream)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        process = subprocess.Popen([interpreter, "-c", SMOKE_PRELUDE % (write_end, code)],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, errors="replace", pass_fds=(write_end,))
    finally:
        os.close(write_end)
    try:
        out, err = process.communicate(timeout=timeout)
        code_, timed_out = process.returncode, False
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        code_, timed_out = None, True
    reader.join(10)
    opened = sorted({line[2:].rstrip("\n") for line in lines if line.startswith("r ")})
    writes = sorted({line[2:].rstrip("\n") for line in lines if line.startswith("w ")})
    return {"type": "smoke", "name": name, "interpreter": interpreter, "returncode": code_,
            "timed_out": timed_out, "passed": code_ == 0, "stdout": out[-2000:], "stderr": err[-2000:],
            "opened": [p for p in opened if not p.startswith(_QUIET_PREFIXES) and "/__pycache__/" not in p
                       and not p.endswith((".py", ".pyc"))],
            "writes": [p for p in writes if not p.startswith(_QUIET_PREFIXES)]}


# ---------------------------------------------------------------- commands


def in_parallel(calls: list[Callable[[], None]], jobs: int) -> None:
    """Run ``calls`` on ``jobs`` threads (each call starts its own child processes)."""
    import threading

    pending = list(reversed(calls))
    lock = threading.Lock()

    def loop() -> None:
        while True:
            with lock:
                if not pending:
                    return
                call = pending.pop()
            call()

    threads = [threading.Thread(target=loop) for _ in range(max(1, min(jobs, len(calls))))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def locked_emit() -> Emit:
    import threading

    lock = threading.Lock()

    def emit(document: dict[str, object]) -> None:
        with lock:
            emit_line(document)

    return emit


def survey(config: dict[str, object]) -> None:
    emit = locked_emit()
    source = own_source()
    jobs = int(config.get("jobs", 2))  # type: ignore[call-overload]
    deep_stdlib: set[str] = set()
    for interpreter in config.get("interpreters", ()):  # type: ignore[attr-defined]
        survey_interpreter(str(interpreter), config, source, deep_stdlib, emit)
    chosen = config.get("smoke_interpreter") or next(
        (str(i) for i in config.get("interpreters", ()) if os.path.exists(str(i))), None)  # type: ignore[attr-defined]
    primary = str(chosen) if chosen else None

    def one(test: dict[str, object]) -> Callable[[], None]:
        assert primary is not None
        return lambda: emit(smoke(primary, str(test["name"]), str(test["code"]), float(test["timeout"])))  # type: ignore[arg-type]

    in_parallel([one(test) for test in config.get("smoke", ())] if primary else [], jobs)  # type: ignore[attr-defined]
    emit({"type": "done", "writable": writable_places()})


def writable_places() -> list[str]:
    """Which of the usual scratch places this run could write (a file made and removed in each)."""
    import tempfile

    found = []
    for place in ("/tmp", "/var/tmp", "/run", os.environ.get("HOME", "")):
        if not place or not os.path.isdir(place):
            continue
        try:
            handle, path = tempfile.mkstemp(dir=place, prefix=".harden-probe-")
            os.close(handle)
            os.unlink(path)
            found.append(place)
        except OSError:
            pass
    return found


def recheck(config: dict[str, object]) -> None:
    """Each target alone in a fresh interpreter, ``jobs`` at a time."""
    emit = locked_emit()
    source = own_source()
    interpreter = str(config["interpreter"])
    timeout = float(config.get("timeout", 60))  # type: ignore[arg-type]

    def one(target: str) -> Callable[[], None]:
        def call() -> None:
            worker = Worker(interpreter, source)
            reply = worker.ask({"module": target}, timeout)
            if reply["kind"] not in ("timeout", "crash"):
                worker.close()
            reply.update(type="module", interpreter=interpreter, isolated=True)
            emit(reply)
        return call

    in_parallel([one(str(target)) for target in config.get("targets", ())],  # type: ignore[attr-defined]
                int(config.get("jobs", 2)))  # type: ignore[call-overload]
    emit({"type": "done"})


def imports(config: dict[str, object]) -> None:
    """The targets in shared workers: one tree (top-level name) per worker, parents before children."""
    emit = locked_emit()
    interpreter = str(config["interpreter"])
    walk = Walk(interpreter, own_source(), float(config.get("timeout", 60)), emit)  # type: ignore[arg-type]
    targets = [str(t) for t in config.get("targets", ())]  # type: ignore[attr-defined]
    walk.run([(names, False, False) for names in by_tree(targets)], int(config.get("jobs", 2)))  # type: ignore[call-overload]
    emit({"type": "done"})


def by_tree(targets: Iterable[str]) -> list[list[str]]:
    """Import targets (``a.b`` or ``a.b:attr``) grouped by top-level name, each group sorted (parents before
    children), the largest group first: one group per shared worker at a time."""
    trees: dict[str, list[str]] = {}
    for target in sorted(targets):
        trees.setdefault(target.partition(":")[0].split(".")[0], []).append(target)
    return sorted(trees.values(), key=len, reverse=True)


def main(args: list[str]) -> int:
    command, rest = (args[0], args[1:]) if args else ("", [])
    if command == "worker":
        worker()
    elif command == "discover":
        emit_line(discover())
    elif command == "metadata":
        emit_line(metadata())
    elif command == "survey" and len(rest) == 1:
        survey(json.loads(rest[0]))
    elif command == "recheck" and len(rest) == 1:
        recheck(json.loads(rest[0]))
    elif command == "imports" and len(rest) == 1:
        imports(json.loads(rest[0]))
    else:
        sys.stderr.write("usage: walk {survey CONFIG|imports CONFIG|recheck CONFIG|discover|metadata|worker}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
