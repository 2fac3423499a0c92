"""remove-unreachable on a small Debian-like image made of real ELF files (built with gcc, the host's glibc):
packages the Python runtime cannot reach go whole, with the reason; what the interpreter, the Python
environments, the config's programs, the programs and libraries Python code names and the runtime data reach
stays, and every kept package says why."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pytest
from stage_helpers import FakeImage, removed

from harden.elf.linkage import Linker
from harden.errors import UnsupportedImage
from harden.plan import Plan
from harden.stages.remove_unreachable import RemoveUnreachable
from unit.elf.gcc_build import host_libc, program, shared_library

DPKG = "var/lib/dpkg"
STDLIB = "usr/lib/python3.11"


def stanza(name: str) -> str:
    return f"Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\n"


class Debian:
    """A FakeImage with a dpkg database; ``package`` installs real files and lists them."""

    def __init__(self, image: FakeImage) -> None:
        self.image = image
        self.records: list[str] = []

    def package(self, name: str, files: dict[str, bytes | str], modes: dict[str, int] | None = None) -> None:
        self.records.append(stanza(name))
        for path, content in files.items():
            self.image.file(path, content, mode=(modes or {}).get(path, 0o755))
        listed = sorted({f"/{p}" for p in files} | {f"/{parent}" for p in files
                                                    for parent in map(str, Path(p).parents) if parent != "."})
        self.image.file(f"{DPKG}/info/{name}.list", "".join(f"{p}\n" for p in listed))

    def finish(self) -> FakeImage:
        self.image.file(f"{DPKG}/status", "\n".join(self.records))
        return self.image


@pytest.fixture
def built(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "build"
    libfoo = shared_library(folder, "libfoo.so.1")
    libbar = shared_library(folder, "libbar.so.1", function="bar")
    return {
        "libfoo": libfoo,
        "libbar": libbar,
        "python": program(folder, "python3.11", (libfoo,)),
        "ls": program(folder, "ls", (libbar,), calls=("bar",)),
    }


@pytest.fixture
def debian(tmp_path: Path, built: dict[str, Path]) -> Debian:
    image = FakeImage(tmp_path / "img")
    deb = Debian(image)
    libc, loader = host_libc()
    deb.package("libc6", {"lib/x86_64-linux-gnu/libc.so.6": libc.read_bytes(),
                          "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2": loader.read_bytes(),
                          "etc/ld.so.conf.d/x86_64-linux-gnu.conf": "/usr/local/lib/x86_64-linux-gnu\n"})
    image.symlink("lib64/ld-linux-x86-64.so.2", "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    deb.package("libfoo1", {"usr/lib/x86_64-linux-gnu/libfoo.so.1": built["libfoo"].read_bytes()})
    deb.package("python3.11-minimal", {"usr/bin/python3.11": built["python"].read_bytes()})
    deb.package("libpython3.11-stdlib", {f"{STDLIB}/os.py": "import abc\n", f"{STDLIB}/json.py": ""})
    deb.package("libbar1", {"usr/lib/x86_64-linux-gnu/libbar.so.1": built["libbar"].read_bytes()})
    deb.package("coreutils", {"usr/bin/ls": built["ls"].read_bytes(), "usr/share/coreutils/help": "text"})
    deb.package("tzdata", {"usr/share/zoneinfo/UTC": "TZif2"})
    deb.package("apt", {"usr/bin/apt": built["ls"].read_bytes(), "etc/apt/sources.list": "deb x y\n"})
    image.dir(f"{STDLIB}/site-packages")
    return deb


def plan_of(image: FakeImage, **settings: object) -> Plan:
    return RemoveUnreachable().plan(image.ctx(RemoveUnreachable, settings))


def package_notes(plan: Plan) -> dict[str, str]:
    return {note.split(":", 1)[0].removeprefix("kept "): note.split(": ", 1)[1]
            for note in plan.notes if note.startswith("kept ")}


def paths(names: Iterable[str]) -> set[str]:
    return set(names)


def test_unreachable_packages_go_whole_and_reachable_ones_say_why(debian: Debian) -> None:
    image = debian.finish()
    plan = plan_of(image)
    gone = removed(plan)
    assert {"usr/bin/ls", "usr/share/coreutils", "usr/lib/x86_64-linux-gnu/libbar.so.1", "usr/bin/apt",
            "etc/apt"} <= gone
    assert not gone & {"usr/bin/python3.11", "usr/lib/x86_64-linux-gnu/libfoo.so.1",
                       "lib/x86_64-linux-gnu/libc.so.6", "usr/share/zoneinfo/UTC", f"{STDLIB}/os.py"}
    kept = package_notes(plan)
    assert kept["python3.11-minimal"].endswith("Python interpreter of Python 3.11")
    assert "needs libfoo.so.1" in kept["libfoo1"]
    assert kept["tzdata"].endswith("runtime data")
    assert "coreutils" not in kept and "apt" not in kept
    reasons = {c.reason for c in plan.changes if str(getattr(c, "path", "")) == "usr/bin/ls"}
    assert reasons == {"package coreutils 1.0: none of its 2 files is reachable from the runtime (interpreters, "
                       "Python environments, the config's programs, runtime data)"}


def test_after_the_removals_every_elf_file_left_still_links(debian: Debian) -> None:
    image = debian.finish()
    plan = plan_of(image)
    after = image.rootfs().with_changes(remove=frozenset(c.path for c in plan.changes if hasattr(c, "path")))
    linker = Linker(after, image.blobs)
    objects = [e.path for e in after if e.has_content and linker.is_elf(e.path)]
    assert objects and linker.check(objects).complete


def test_a_program_python_code_runs_is_a_root_and_its_libraries_follow(debian: Debian) -> None:
    debian.image.file(f"{STDLIB}/tool.py", "import subprocess\nsubprocess.run(['ls', '-l'], check=True)\n")
    plan = plan_of(debian.finish())
    kept = package_notes(plan)
    assert "subprocess.run('ls') in /usr/lib/python3.11/tool.py" in kept["coreutils"]
    assert "libbar1" in kept
    assert "usr/bin/ls" not in removed(plan)


def test_a_program_run_through_a_shell_is_no_root_without_a_shell(debian: Debian) -> None:
    debian.image.file(f"{STDLIB}/tool.py", "import os\nos.system('ls -l /tmp')\n")
    plan = plan_of(debian.finish())
    assert "usr/bin/ls" in removed(plan)
    assert any("ls (os.system in /usr/lib/python3.11/tool.py: through a shell, and the image has none)" in note
               for note in plan.notes)


def test_a_library_python_code_loads_by_name_is_a_root(debian: Debian) -> None:
    debian.image.file(f"{STDLIB}/lib.py", "import ctypes\nctypes.CDLL('libbar.so.1')\n")
    plan = plan_of(debian.finish())
    assert "usr/lib/x86_64-linux-gnu/libbar.so.1" not in removed(plan)
    assert "usr/bin/ls" in removed(plan)  # coreutils is still unreachable: only its library is loaded


def test_the_configs_entrypoint_is_a_root(debian: Debian) -> None:
    debian.image.config["Entrypoint"] = ["/usr/bin/ls"]
    plan = plan_of(debian.finish())
    assert "the image's Entrypoint" in package_notes(plan)["coreutils"]


def test_keep_packages_and_keep_globs(debian: Debian) -> None:
    plan = plan_of(debian.finish(), keep_packages=["apt"], keep=["usr/share/coreutils/**"])
    gone = removed(plan)
    assert "usr/bin/apt" not in gone and package_notes(plan)["apt"] == "named in keep_packages"
    assert "usr/bin/ls" in gone and "usr/share/coreutils/help" not in gone


def test_no_package_database_removes_nothing(tmp_path: Path) -> None:
    image = FakeImage(tmp_path / "bare")
    image.python()
    plan = plan_of(image)
    assert plan.changes == ()
    assert plan.notes[0].endswith("package database: not read, nothing removed")


def test_an_elf_file_no_package_owns_stays_and_keeps_what_it_needs(debian: Debian,
                                                                    built: dict[str, Path]) -> None:
    debian.image.file("usr/local/bin/tool", built["ls"].read_bytes(), mode=0o755)  # no package owns it
    plan = plan_of(debian.finish())
    assert package_notes(plan)["libbar1"].endswith("/usr/local/bin/tool needs libbar.so.1")
    assert not removed(plan) & {"usr/local/bin/tool", "usr/lib/x86_64-linux-gnu/libbar.so.1"}


def test_a_removal_that_would_break_a_link_stops_the_run(debian: Debian, built: dict[str, Path]) -> None:
    # a file in a keep glob is never removed, nor made a root: its package's removal breaks it, so the run stops
    debian.package("tools", {"opt/tools/tool": built["ls"].read_bytes()})
    with pytest.raises(UnsupportedImage, match=re.escape("would break 1 ELF links: /opt/tools/tool needs libbar.so.1")):
        plan_of(debian.finish(), keep=["opt/tools/**"])


def test_every_elf_file_of_a_kept_package_keeps_what_it_needs(debian: Debian, tmp_path: Path) -> None:
    """A package is kept whole, so its other programs must still link: their libraries stay too."""
    libbaz = shared_library(tmp_path / "baz", "libbaz.so.1", function="baz")
    cat = program(tmp_path / "baz", "cat", (libbaz,), calls=("baz",))
    debian.package("libbaz1", {"usr/lib/x86_64-linux-gnu/libbaz.so.1": libbaz.read_bytes()})
    tee = program(tmp_path / "baz", "tee")  # the root: it needs nothing but libc
    debian.package("more-utils", {"usr/bin/cat": cat.read_bytes(), "usr/bin/tee": tee.read_bytes()})
    debian.image.file(f"{STDLIB}/tool.py", "import subprocess\nsubprocess.check_output(['tee'])\n")
    plan = plan_of(debian.finish())
    assert "usr/lib/x86_64-linux-gnu/libbaz.so.1" not in removed(plan)
    assert package_notes(plan)["libbaz1"].endswith("/usr/bin/cat needs libbaz.so.1")
