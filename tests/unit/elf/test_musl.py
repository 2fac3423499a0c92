"""harden.elf.musl: musl's loader and search path, resolved the way ldso/dynlink.c does, on real musl ELF
files (Debian's musl, programs built here with musl-gcc); and stripping musl binaries keeps them running."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path, PurePosixPath

import pytest

from fixtures.alpine.make_fixture import LOADER, MUSL_LIBC, Binaries, alpine_image
from harden.elf import inspect_elf, strip_file
from harden.elf.musl import (
    DEFAULT_SYSTEM_PATH,
    Requester,
    SystemPath,
    closure,
    dynamic_of,
    expand_rpath,
    is_musl_interpreter,
    loader_path,
    musl_arch,
    path_file,
    read_dynamic,
    resolve_needed,
    split_path,
    system_path,
)
from harden.image.blobs import BlobStore
from harden.image.model import Rootfs
from imagefactory import TarEntry, directory, file, make_layer_tar, merged_rootfs, symlink

P = PurePosixPath
INTERP = "/lib/ld-musl-x86_64.so.1"
DEFAULT = SystemPath(INTERP, P("etc/ld-musl-x86_64.path"), DEFAULT_SYSTEM_PATH, "default")


def rootfs_of(blobs: BlobStore, *entries: TarEntry) -> Rootfs:
    return merged_rootfs([make_layer_tar(entries)], blobs)


def lib(path: str) -> TarEntry:
    return file(path, b"\x7fELF stand-in", mode=0o755)


# --- the loader and its search path -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interpreter", "arch", "path"),
    [
        ("/lib/ld-musl-x86_64.so.1", "x86_64", "etc/ld-musl-x86_64.path"),
        ("/lib/ld-musl-aarch64.so.1", "aarch64", "etc/ld-musl-aarch64.path"),
        ("/lib/ld-musl-armhf.so.1", "armhf", "etc/ld-musl-armhf.path"),
        ("/usr/lib/musl/lib/ld-musl-x86_64.so.1", "x86_64", "usr/lib/musl/etc/ld-musl-x86_64.path"),
        ("/ld-musl-x86_64.so.1", "x86_64", "etc/ld-musl-x86_64.path"),
    ],
)
def test_the_loader_names_its_arch_and_its_path_file(interpreter: str, arch: str, path: str) -> None:
    assert musl_arch(interpreter) == arch and is_musl_interpreter(interpreter)
    assert path_file(interpreter) == P(path)


@pytest.mark.parametrize("interpreter", ["/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1", "", None])
def test_glibc_loaders_are_not_musl(interpreter: str | None) -> None:
    assert not is_musl_interpreter(interpreter)


def test_loader_path() -> None:
    assert loader_path("x86_64") == P(LOADER)


def test_the_system_path_file_is_split_on_colons_and_newlines(blobs: BlobStore) -> None:
    assert split_path("/lib\n/usr/lib:/opt/lib\n\n::/x") == ("/lib", "/usr/lib", "/opt/lib", "/x")
    with_file = rootfs_of(blobs, file("etc/ld-musl-x86_64.path", b"/usr/local/lib\n/usr/lib:/lib\n"))
    assert system_path(with_file, blobs, INTERP).directories == ("/usr/local/lib", "/usr/lib", "/lib")
    assert system_path(rootfs_of(blobs, directory("etc")), blobs, INTERP).directories == DEFAULT_SYSTEM_PATH
    empty = system_path(rootfs_of(blobs, file("etc/ld-musl-x86_64.path", b"")), blobs, INTERP)
    assert empty.directories == () and empty.source == "file"  # an empty file: no system directory at all
    unreadable = system_path(rootfs_of(blobs, directory("etc/ld-musl-x86_64.path")), blobs, INTERP)
    assert unreadable.directories == () and unreadable.source == "unreadable"
    dangling = rootfs_of(blobs, symlink("etc/ld-musl-x86_64.path", "nowhere"))
    assert system_path(dangling, blobs, INTERP).source == "default"


def test_debians_own_path_file_reads(blobs: BlobStore) -> None:
    host = Path("/etc/ld-musl-x86_64.path")
    if not host.is_file():
        pytest.skip("this machine has no /etc/ld-musl-x86_64.path")
    rootfs = rootfs_of(blobs, file("etc/ld-musl-x86_64.path", host.read_bytes()))
    assert system_path(rootfs, blobs, INTERP).directories == split_path(host.read_text())


# --- resolving one DT_NEEDED ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["libc.so", "libc.musl-x86_64.so.1", "libpthread.so.0", "libm.so.6", "libdl.so.2", "librt.so.1",
             "libutil.so.1", "libxnet.so", INTERP],
)
def test_libc_names_are_the_loader_itself(blobs: BlobStore, name: str) -> None:
    found = resolve_needed(rootfs_of(blobs, directory("lib")), name, [], DEFAULT)
    assert (found.path, found.via) == (P(LOADER), "loader")


@pytest.mark.parametrize("name", ["libcrypto.so.3", "libmagic.so.1", "libcurl.so.4"])
def test_names_that_only_start_like_libc_are_searched(blobs: BlobStore, name: str) -> None:
    found = resolve_needed(rootfs_of(blobs, lib(f"usr/lib/{name}")), name, [], DEFAULT)
    assert (found.path, found.via) == (P(f"usr/lib/{name}"), "system")


def test_the_default_system_path_order(blobs: BlobStore) -> None:
    rootfs = rootfs_of(blobs, lib("usr/lib/libz.so.1"), lib("usr/local/lib/libz.so.1"))
    assert resolve_needed(rootfs, "libz.so.1", [], DEFAULT).path == P("usr/local/lib/libz.so.1")
    rootfs = rootfs_of(blobs, lib("usr/lib/libz.so.1"), lib("lib/libz.so.1"))
    assert resolve_needed(rootfs, "libz.so.1", [], DEFAULT).path == P("lib/libz.so.1")


def test_a_path_file_replaces_the_default(blobs: BlobStore) -> None:
    rootfs = rootfs_of(blobs, lib("usr/local/lib/libz.so.1"), file("etc/ld-musl-x86_64.path", b"/usr/lib\n/lib\n"))
    found = resolve_needed(rootfs, "libz.so.1", [], system_path(rootfs, blobs, INTERP))
    assert (found.path, found.via) == (None, "missing")


def test_ld_library_path_comes_before_run_paths_and_is_ignored_for_setuid(blobs: BlobStore) -> None:
    rootfs = rootfs_of(blobs, lib("opt/a/libx.so"), lib("opt/b/libx.so"))
    program = Requester(P("usr/bin/prog"), "/opt/b", is_program=True)
    assert resolve_needed(rootfs, "libx.so", [program], DEFAULT, library_path="/opt/a").path == P("opt/a/libx.so")
    setuid = Requester(P("usr/bin/prog"), "/opt/b", is_program=True, setuid=True)
    found = resolve_needed(rootfs, "libx.so", [setuid], DEFAULT, library_path="/opt/a")
    assert (found.path, found.via) == (P("opt/b/libx.so"), "rpath")


def test_run_paths_are_inherited_from_every_object_up_the_chain(blobs: BlobStore) -> None:
    """Unlike glibc's DT_RUNPATH, musl searches the needing object's run path, then its needer's, ..."""
    rootfs = rootfs_of(blobs, lib("opt/app/lib/libdep.so"), lib("opt/app/lib/libtop.so"))
    chain = [Requester(P("opt/app/lib/libtop.so")), Requester(P("opt/app/bin/app"), "$ORIGIN/../lib", True)]
    found = resolve_needed(rootfs, "libdep.so", chain, DEFAULT)
    assert (found.path, found.via) == (P("opt/app/lib/libdep.so"), "rpath")
    assert "run path of /opt/app/bin/app" in found.detail


def test_origin_is_the_programs_real_directory_and_a_librarys_found_one(blobs: BlobStore) -> None:
    rootfs = rootfs_of(
        blobs,
        lib("opt/app/bin/app"),
        symlink("usr/bin/app", "../../opt/app/bin/app"),
        lib("opt/app/lib/libx.so"),
        symlink("usr/lib/liby.so", "../../opt/app/lib/liby.so"),
    )
    program = Requester(P("usr/bin/app"), "$ORIGIN/../lib", is_program=True)
    assert expand_rpath(rootfs, program) == "/opt/app/bin/../lib"  # /proc/self/exe: links followed
    library = Requester(P("usr/lib/liby.so"), "${ORIGIN}/plugins:$ORIGIN")
    assert expand_rpath(rootfs, library) == "/usr/lib/plugins:/usr/lib"  # as found: links not followed
    assert expand_rpath(rootfs, Requester(P("app"), "$ORIGIN/lib", is_program=False)) == "/lib"
    assert expand_rpath(rootfs, Requester(P("x"), "$LIB/x:/ok")) is None  # another $ token: ignored whole
    assert expand_rpath(rootfs, Requester(P("x"), "$ORIGIN/x", is_program=True, setuid=True)) is None
    assert expand_rpath(rootfs, Requester(P("x"), "/plain")) == "/plain"
    assert expand_rpath(rootfs, Requester(P("x"))) is None


def test_relative_names_and_run_paths_are_relative_to_the_working_directory(blobs: BlobStore) -> None:
    rootfs = rootfs_of(blobs, lib("srv/app/libs/libx.so"), lib("srv/app/liby.so"))
    chain = [Requester(P("srv/app/main"), "libs", is_program=True)]
    assert resolve_needed(rootfs, "libx.so", chain, DEFAULT, cwd="/srv/app").path == P("srv/app/libs/libx.so")
    found = resolve_needed(rootfs, "./liby.so", chain, DEFAULT, cwd="/srv/app")
    assert (found.path, found.via) == (P("srv/app/liby.so"), "path")
    assert resolve_needed(rootfs, "/srv/app/liby.so", [], DEFAULT).path == P("srv/app/liby.so")


def test_a_directory_in_the_way_ends_the_search(blobs: BlobStore) -> None:
    rootfs = rootfs_of(blobs, directory("lib/libx.so"), lib("usr/lib/libx.so"))
    found = resolve_needed(rootfs, "libx.so", [], DEFAULT)
    assert found.path is None and "is a dir" in found.detail


def test_an_already_loaded_name_is_reused_before_any_search(blobs: BlobStore) -> None:
    rootfs = rootfs_of(blobs, lib("usr/lib/libx.so"))
    found = resolve_needed(rootfs, "libx.so", [], DEFAULT, loaded={"libx.so": P("opt/libx.so")})
    assert (found.path, found.via) == (P("opt/libx.so"), "loaded")


# --- real musl ELF files -------------------------------------------------------------------------------------


def test_real_musl_programs_name_musls_loader(musl_binaries: Binaries) -> None:
    hello = read_dynamic(io.BytesIO(musl_binaries.hello))
    assert hello.interpreter == INTERP and is_musl_interpreter(hello.interpreter)
    assert hello.needed == ("libgreet.so.1", "libc.so") and hello.search_path == "$ORIGIN/../lib/greet"
    assert hello.runpath and not hello.rpath
    libc = read_dynamic(io.BytesIO(musl_binaries.libc))
    assert libc.interpreter is None and libc.needed == ()  # the loader: no interpreter, no dependency
    python = read_dynamic(io.BytesIO(musl_binaries.python))
    assert python.needed == ("libpython3.11.so.1.0", "libc.so") and python.search_path == ""


def test_a_glibc_program_is_not_musl() -> None:
    host = Path("/bin/ls").resolve()
    dynamic = read_dynamic(io.BytesIO(host.read_bytes()))
    assert dynamic.interpreter and not is_musl_interpreter(dynamic.interpreter)


def test_the_fixture_closures(musl_binaries: Binaries, blobs: BlobStore) -> None:
    rootfs = merged_rootfs([alpine_image(musl_binaries).layer()], blobs)
    hello = closure(rootfs, blobs, P("usr/local/bin/hello"))
    assert hello.interpreter == INTERP and hello.missing == ()
    assert hello.loaded == (("libgreet.so.1", P("usr/local/lib/greet/libgreet.so.1")), (INTERP, P(LOADER)))
    python = closure(rootfs, blobs, P("usr/local/bin/python3"))  # through the python3 -> python3.11 link
    assert python.loaded == (("libpython3.11.so.1.0", P("usr/local/lib/libpython3.11.so.1.0")), (INTERP, P(LOADER)))
    assert [r.via for _, r in python.resolutions] == ["system", "loader", "loader"]  # libpython needs libc too
    busybox = closure(rootfs, blobs, P("bin/sh"))  # static: no interpreter, nothing to load
    assert busybox.interpreter is None and busybox.loaded == ()


def test_a_path_file_without_usr_local_lib_breaks_python(musl_binaries: Binaries, blobs: BlobStore) -> None:
    image = alpine_image(musl_binaries, path_file="/lib\n/usr/lib\n")
    rootfs = merged_rootfs([image.layer()], blobs)
    python = closure(rootfs, blobs, P("usr/local/bin/python3.11"))
    assert [m.name for m in python.missing] == ["libpython3.11.so.1.0"]
    assert dynamic_of(rootfs, blobs, P("etc/os-release")) is None


def test_a_library_reached_twice_loads_once(musl_binaries: Binaries, blobs: BlobStore) -> None:
    image = alpine_image(musl_binaries)
    image.add(symlink("usr/local/lib/libgreet.so.1", "greet/libgreet.so.1"))
    rootfs = merged_rootfs([image.layer()], blobs)
    hello = closure(rootfs, blobs, P("usr/local/bin/hello"), library_path="/usr/local/lib")
    assert hello.loaded == (("libgreet.so.1", P("usr/local/lib/libgreet.so.1")), (INTERP, P(LOADER)))


# --- stripping musl binaries --------------------------------------------------------------------------------


def _run(program: Path, library_dir: Path) -> str:
    loader = Path(INTERP)
    if not loader.exists():
        pytest.skip(f"{INTERP} is not on this machine (Debian's musl package provides it)")
    env = {**os.environ, "LD_LIBRARY_PATH": str(library_dir)}
    return subprocess.run([str(program)], env=env, capture_output=True, text=True, check=True).stdout


def test_stripped_musl_binaries_still_run(musl_binaries: Binaries, tmp_path: Path) -> None:
    assert MUSL_LIBC.exists()
    originals = {"hello": musl_binaries.hello, "libgreet.so.1": musl_binaries.libgreet}
    stripped_dir = tmp_path / "stripped"
    stripped_dir.mkdir()
    for name, data in originals.items():
        source = tmp_path / name
        source.write_bytes(data)
        source.chmod(0o755)
        assert inspect_elf(source).has_debug  # built with -g
        result = strip_file(source, stripped_dir / name)
        assert result.changed and result.saved > 0
        assert inspect_elf(stripped_dir / name).stripped
        shutil.copymode(source, stripped_dir / name)
    assert _run(tmp_path / "hello", tmp_path) == "hello from musl\n"
    assert _run(stripped_dir / "hello", stripped_dir) == "hello from musl\n"
    assert read_dynamic(io.BytesIO((stripped_dir / "hello").read_bytes())) == read_dynamic(
        io.BytesIO(musl_binaries.hello)
    )
