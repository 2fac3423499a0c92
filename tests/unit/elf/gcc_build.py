"""Real dynamically linked ELF files for linkage tests, built with the host's gcc at test time: shared libraries
with a soname and symbol versions, programs with DT_NEEDED, RPATH or RUNPATH. Without gcc the tests skip (and
fail under CI, where scripts/test-prereqs.sh and the machine provide it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def need_gcc() -> str:
    gcc = shutil.which("gcc")
    if gcc is None:
        if os.environ.get("CI"):
            pytest.fail("gcc is missing: the linkage tests build real ELF files with it", pytrace=False)
        pytest.skip("gcc is missing")
    return gcc


def shared_library(folder: Path, soname: str, *, function: str = "foo", versions: tuple[str, ...] = (),
                   needs: tuple[Path, ...] = (), calls: tuple[str, ...] = ()) -> Path:
    """``folder/soname``: a library defining ``function`` (in the last of ``versions`` when given: a version
    script makes DT_VERDEF), calling ``calls`` from ``needs`` (so the linker keeps them as DT_NEEDED)."""
    gcc = need_gcc()
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / f"{soname}.c"
    declared = "".join(f"int {call}(void);\n" for call in calls)
    returned = " + ".join(f"{call}()" for call in calls) or "42"
    body = f"{declared}int {function}(void) {{ return {returned}; }}\n"
    flags = []
    if versions:  # the function lives in the last version; the earlier ones are its ancestors
        script = folder / f"{soname}.map"
        blocks = [f"{versions[0]} {{ local: *; }};"] if len(versions) > 1 else []
        blocks += [f"{version} {{ }} {versions[i]};" for i, version in enumerate(versions[1:-1])]
        parent = f" {versions[-2]}" if len(versions) > 1 else ""
        blocks.append(f"{versions[-1]} {{ global: {function}; local: *; }}{parent};")
        script.write_text("\n".join(blocks) + "\n")
        flags.append(f"-Wl,--version-script={script}")
    source.write_text(body)
    output = folder / soname
    links = [f"-L{n.parent}" for n in needs] + [f"-l:{n.name}" for n in needs]
    subprocess.run([gcc, "-shared", "-fPIC", "-o", str(output), str(source), f"-Wl,-soname,{soname}",
                    *flags, *links], check=True, capture_output=True)
    return output


def program(folder: Path, name: str, libraries: tuple[Path, ...] = (), *, rpath: str = "",
            runpath: bool = True, calls: tuple[str, ...] = ("foo",)) -> Path:
    """``folder/name``: a program calling ``calls`` from ``libraries`` (DT_NEEDED by soname), with a run path."""
    gcc = need_gcc()
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / f"{name}.c"
    declarations = "".join(f"int {call}(void);\n" for call in calls) if libraries else ""
    uses = " + ".join(f"{call}()" for call in calls) if libraries else "0"
    source.write_text(f"{declarations}int main(void) {{ return {uses} == 0; }}\n")
    output = folder / name
    links = [f"-L{lib.parent}" for lib in libraries] + [f"-l:{lib.name}" for lib in libraries]
    links += [f"-Wl,-rpath-link,{lib.parent}" for lib in libraries]  # what the libraries need, at link time
    flags = []
    if rpath:
        flags.append(f"-Wl,-rpath,{rpath}")
        flags.append("-Wl,--enable-new-dtags" if runpath else "-Wl,--disable-new-dtags")
    subprocess.run([gcc, "-o", str(output), str(source), *links, *flags], check=True, capture_output=True)
    return output


def host_libc() -> tuple[Path, Path]:
    """The host's glibc and loader (real files, links followed)."""
    libc = Path("/lib/x86_64-linux-gnu/libc.so.6")
    loader = Path("/lib64/ld-linux-x86-64.so.2")
    if not libc.exists() or not loader.exists():
        pytest.skip("not an x86_64 glibc host")
    return libc.resolve(), loader.resolve()
