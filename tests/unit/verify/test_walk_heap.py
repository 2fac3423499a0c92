"""An import worker gives back the heap that compiling a large module from source left behind (an image without
bytecode compiles every module it imports): glibc keeps freed pages mapped, and a worker that compiled one large
generated module would carry its compiler's memory through the rest of its tree. The host's interpreter stands
in for an image's; the source of the module imported is made here, dead code the compiler drops, so that what
stays after the import is the heap the compile left and not the module."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from verify_support import PID, write_tree

from harden.verify.scripts import script_source

TRIM_LINE = "TRIM_AFTER_GROWTH_KB = 16 * 1024"
LARGE = "if False:\n" + "".join(f"    value_{i} = [{i}, '{i}', ({i}, {i}.5), {{'k': {i}}}]\n" for i in range(60_000))


def anonymous_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    raise AssertionError("no RssAnon in /proc status")


def import_in_worker(python: str, tree: Path, source: str, *modules: str) -> tuple[list[dict[str, object]], int]:
    """The worker's replies for ``modules``, imported one after the other, and its anonymous memory after, in
    KiB."""
    process = subprocess.Popen([python, "-c", source, "worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, env={"PATH": "/usr/bin:/bin",
                                                                           "PYTHONPATH": str(tree),
                                                                           "PYTHONDONTWRITEBYTECODE": "1"})
    try:
        assert process.stdin is not None and process.stdout is not None
        replies = []
        for module in modules:
            process.stdin.write(json.dumps({"module": module}) + "\n")
            process.stdin.flush()
            replies.append(json.loads(process.stdout.readline()))
        return replies, anonymous_kb(process.pid)
    finally:
        process.kill()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tree(tmp_path_factory.mktemp("heap") / "site", {
        "generated_large.py": LARGE,
        "ctypes_loaded.py": "import sys\nLOADED = 'ctypes' in sys.modules\nassert LOADED\n",
    })


def test_compiling_a_large_module_leaves_no_free_heap_in_the_worker(python: str, tree: Path) -> None:
    source = script_source("walk")
    assert source.count(TRIM_LINE) == 1
    untrimmed = source.replace(TRIM_LINE, "TRIM_AFTER_GROWTH_KB = 1 << 60")
    (kept_reply,), kept = import_in_worker(python, tree, untrimmed, "generated_large")
    (given_reply,), given = import_in_worker(python, tree, source, "generated_large")
    assert kept_reply["kind"] == given_reply["kind"] == "ok"
    assert kept > 60 * 1024, f"the compile left only {kept} KiB: the test's module is too small to tell"
    assert given < kept - 40 * 1024, f"{given} KiB after trimming, {kept} KiB without"


def test_what_trimming_opens_is_counted_to_no_module(python: str, tree: Path) -> None:
    """ctypes is loaded for the trim after the large import was recorded; the next module finds it loaded."""
    (large, after), _ = import_in_worker(python, tree, script_source("walk"), "generated_large", "ctypes_loaded")
    assert (large["kind"], after["kind"]) == ("ok", "ok"), after["error"]
    assert not [path for path in large["opened"] if "ctypes" in str(path)], large["opened"]  # type: ignore[attr-defined]
    assert not [path for path in after["opened"] if "ctypes" in str(path)], after["opened"]  # type: ignore[attr-defined]




def test_a_worker_holding_much_memory_is_replaced_at_the_next_tree(python: str, tmp_path: Path) -> None:
    """A tree that compiles a large module must not peak on top of the trees its worker walked before: a worker
    resident above RECYCLE_ABOVE_KB (64 MiB) is replaced after its tree; a small one walks the next tree too."""
    site = write_tree(tmp_path / "site", {
        "fat/__init__.py": PID + "BALLAST = b'x' * (80 << 20)\n",
        "fat/a.py": PID,
        "lean1/__init__.py": PID,
        "lean1/x.py": PID,
        "lean2.py": PID,
    })
    home = tmp_path / "home"
    home.mkdir()
    targets = ["fat", "fat.a", "lean1", "lean1.x", "lean2"]  # one thread: fat's tree, lean1's, then lean2's
    done = subprocess.run([python, "-c", script_source("walk"), "imports",
                           json.dumps({"interpreter": python, "targets": targets, "jobs": 1, "timeout": 60})],
                          capture_output=True, text=True, timeout=300, check=False,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(home), "PYTHONPATH": str(site)})
    assert done.returncode == 0, done.stderr
    kinds = {line["module"]: line["kind"] for line in map(json.loads, done.stdout.splitlines())
             if line.get("type") == "module"}
    assert kinds == dict.fromkeys(targets, "ok")
    pid = {name: (home / name).read_text() for name in targets}
    assert pid["fat"] == pid["fat.a"]  # one tree, one worker
    assert pid["lean1"] != pid["fat"], "the worker holding 80 MiB walked the next tree"
    assert pid["lean2"] == pid["lean1"] == pid["lean1.x"], "a small worker was replaced"
