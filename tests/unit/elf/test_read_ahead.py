"""harden.elf.read_ahead: the dynamic information read in a worker process is what a linker reads itself, and the
linkage check run with it leaves harden's own process without LIEF (~49 MB resident once imported)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gcc_build import host_libc, program, shared_library

from harden.elf.dynamic import MAGIC, DynamicCache, DynamicInfo, dynamic_of
from harden.elf.read_ahead import read_ahead
from unit.stages.stage_helpers import FakeImage

TESTS = Path(__file__).resolve().parents[2]


def test_the_worker_reads_what_this_process_would_read(tmp_path: Path) -> None:
    image = FakeImage(tmp_path / "img")
    lib = shared_library(tmp_path / "b", "libfoo.so.1")
    image.file("opt/app/bin/app", program(tmp_path / "b", "app", (lib,)).read_bytes(), mode=0o755)
    image.file("opt/app/lib/libfoo.so.1", lib.read_bytes(), mode=0o755)
    image.file("usr/bin/script", "#!/bin/sh\nexit 0\n", mode=0o755)
    image.file("usr/lib/broken.so", MAGIC + b"\x02\x01\x01")  # a header cut short
    image.file("usr/lib/empty", b"")
    rootfs = image.rootfs()
    cache: DynamicCache = {}
    read_ahead(cache, [rootfs], image.blobs)
    here: DynamicCache = {}
    for entry in rootfs:
        if entry.has_content and entry.digest is not None and entry.digest in image.blobs:
            with image.blobs.open(entry.digest) as stream:
                here.setdefault(entry.digest, dynamic_of(stream, f"/{entry.path}"))
    assert cache == here
    infos = [value for value in cache.values() if isinstance(value, DynamicInfo)]
    assert [info.needed[0] for info in infos if info.interpreter] == ["libfoo.so.1"]
    assert [info.soname for info in infos if info.loadable and not info.interpreter] == ["libfoo.so.1"]
    assert None in cache.values()  # the script


SCRIPT = """
import sys
from pathlib import Path

from gcc_build import host_libc
from unit.stages.stage_helpers import FakeImage
from harden.verify.linkage import check_linkage, read_for_linkage

if __name__ == "__main__":
    image = FakeImage(Path(sys.argv[1]))
    libc, loader = host_libc()
    image.file("lib/x86_64-linux-gnu/libc.so.6", libc.read_bytes(), mode=0o755)
    image.file("lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", loader.read_bytes(), mode=0o755)
    image.symlink("lib64/ld-linux-x86-64.so.2", "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    rootfs = image.rootfs()
    check = check_linkage(rootfs, rootfs, image.blobs, cache=read_for_linkage(rootfs, rootfs, image.blobs))
    print(check.objects, check.broken, "lief" in sys.modules)
"""


def test_the_linkage_check_leaves_this_process_without_lief(tmp_path: Path) -> None:
    host_libc()  # the host's glibc, or the test fails here (not in the child)
    script = tmp_path / "check.py"
    script.write_text(SCRIPT)
    env_path = f"{TESTS}:{TESTS / 'unit' / 'elf'}"
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "img")], capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"}, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "()", "False"], done.stdout
