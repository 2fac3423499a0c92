"""Hostile layer entries, end to end through ``harden image``: tar-slip names, writes through symlinked
directories, hardlinks out of the image, device nodes and FIFOs.

Unsafe entries are refused with exit 3 and one line naming them; ``--sanitize`` drops them, says so in the
report and writes an image without them. Device nodes and FIFOs are image content, not escapes: they are kept
as metadata and reported. In every case nothing is written outside the requested places, the input and the
sentinel next to it are unchanged and no workspace or temp file is left (the scene checks that on every run).
"""

from __future__ import annotations

import tarfile

import pytest

from hostile.hostile_scene import Scene
from hostile.hostile_support import base_layer, harden_to_archive, read_docker_archive, report_json
from imagefactory import (
    TarEntry,
    block_device,
    char_device,
    directory,
    fifo,
    file,
    hardlink,
    make_layer_tar,
    symlink,
)


def refused(scene: Scene, layers: list[bytes], *offending: str) -> str:
    """Harden an image made of ``layers``; assert the refusal (exit 3, one line naming ``offending``)."""
    archive = scene.archive(layers)
    run = harden_to_archive(scene, archive)
    assert run.exit_code == 3, run.stdout + run.stderr
    line = run.error_line
    assert "unsafe layer entr" in line and "--sanitize" in line
    for name in offending:
        assert repr(name) in line, f"{name!r} not named in: {line}"
    assert run.created == set(), "a refused image must write nothing (no output, no report)"
    assert run.stdout == ""
    return line


# -- tar-slip names ---------------------------------------------------------------------------------------
LONG_ESCAPE = "a/" * 60 + "../" * 61 + "escape.txt"  # longer than 100 bytes: the name travels in a PAX header


@pytest.mark.parametrize("name", ["../escape.txt", "app/../../escape.txt", "./../../outside/escape.txt",
                                  LONG_ESCAPE], ids=["dotdot", "inner-dotdot", "dot-dotdot", "pax-long-name"])
def test_dotdot_names_are_refused(scene: Scene, name: str) -> None:
    line = refused(scene, [base_layer(), make_layer_tar([file(name, b"pwned")])], name)
    assert "path with '..'" in line


def test_absolute_names_are_refused(scene: Scene) -> None:
    target = str(scene.outside / "escape.txt")
    line = refused(scene, [base_layer(), make_layer_tar([file(target, b"pwned"), file("/etc/cron.d/x", b"*")])],
                   target, "/etc/cron.d/x")
    assert "absolute path" in line


# -- writes through a symlinked parent ----------------------------------------------------------------------
def link_targets(scene: Scene) -> list[str]:
    return [str(scene.outside), "../../outside", "/etc", "../etc"]


@pytest.mark.parametrize("kind", ["absolute-outside", "relative-outside", "absolute-inside", "relative-inside"])
@pytest.mark.parametrize("same_layer", [True, False], ids=["same-layer", "next-layer"])
def test_file_written_through_a_symlinked_directory_is_refused(scene: Scene, kind: str, same_layer: bool) -> None:
    target = dict(zip(["absolute-outside", "relative-outside", "absolute-inside", "relative-inside"],
                      link_targets(scene), strict=True))[kind]
    link = symlink("app/link", target)
    through = file("app/link/pwned.txt", b"written through the link")
    layers = ([base_layer(), make_layer_tar([link, through])] if same_layer
              else [base_layer(), make_layer_tar([link]), make_layer_tar([through])])
    refused(scene, layers, "app/link/pwned.txt")


def test_directory_and_deeper_file_through_a_symlink_chain_are_refused(scene: Scene) -> None:
    layers = [base_layer(), make_layer_tar([symlink("app/a", "b"), symlink("app/b", str(scene.outside)),
                                            directory("app/a/sub"), file("app/a/sub/deep.txt", b"x")])]
    refused(scene, layers, "app/a/sub", "app/a/sub/deep.txt")


def test_symlinks_alone_are_kept_verbatim(scene: Scene) -> None:
    """A symlink pointing outside is only a name: it is kept as is (the container resolves it in its own
    root); nothing is written through it and it never resolves on the host."""
    layer = make_layer_tar([symlink("app/out", str(scene.outside / "sentinel.txt")), symlink("app/up", "../../..")])
    archive = scene.archive([base_layer(), layer])
    run = harden_to_archive(scene, archive)
    assert run.exit_code == 0, run.stderr
    _, entries = read_docker_archive(scene.out / "out.tar")
    assert entries["app/out"].info.issym() and entries["app/out"].info.linkname == str(scene.outside / "sentinel.txt")
    assert entries["app/up"].info.linkname == "../../.."


# -- hardlinks out of the image -------------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["../outside/sentinel.txt", "/etc/passwd", "app/../../../etc/shadow"])
def test_hardlink_out_of_the_image_is_refused(scene: Scene, target: str) -> None:
    line = refused(scene, [base_layer(), make_layer_tar([hardlink("app/h", target)])], "app/h")
    assert "hardlink target" in line


def test_hardlink_to_a_missing_file_is_refused(scene: Scene) -> None:
    line = refused(scene, [base_layer(), make_layer_tar([hardlink("app/h", "app/nowhere")])], "app/h")
    assert "missing" in line


def test_every_unsafe_entry_is_counted_in_the_one_line(scene: Scene) -> None:
    evil = make_layer_tar([file("../a", b""), file("/b", b""), hardlink("app/c", "/etc/passwd"),
                           symlink("app/d", "/"), file("app/d/e", b""), file("../f", b"")])
    line = refused(scene, [base_layer(), evil], "../a", "/b")
    assert "5 unsafe layer entries" in line and "(+2 more)" in line


# -- --sanitize: dropped, reported, and the rest written --------------------------------------------------------
def test_sanitize_drops_reports_and_writes_the_rest(scene: Scene) -> None:
    evil = make_layer_tar([
        file("../escape.txt", b"x"),
        file(str(scene.outside / "abs.txt"), b"x"),
        symlink("app/link", str(scene.outside)),
        file("app/link/through.txt", b"x"),
        hardlink("app/h", "../outside/sentinel.txt"),
        file("app/kept.txt", b"kept"),
    ])
    archive = scene.archive([base_layer(), evil])
    run = harden_to_archive(scene, archive, "--sanitize")
    assert run.exit_code == 0, run.stderr
    assert scene.created_in(run, "out") == {"out.tar"}
    _, entries = read_docker_archive(scene.out / "out.tar")
    assert entries["app/kept.txt"].data == b"kept"
    assert entries["app/link"].info.issym()
    for gone in ("app/link/through.txt", "app/h", "escape.txt", "outside"):
        assert gone not in entries
    assert not any(name.startswith(("..", "/")) or "/../" in name for name in entries)
    dropped = {d["entry"] for d in report_json(scene)["dropped"]}
    assert dropped == {"../escape.txt", str(scene.outside / "abs.txt"), "app/link/through.txt", "app/h"}


# -- devices and FIFOs: image content, kept as metadata ---------------------------------------------------------
def test_device_nodes_and_fifos_are_kept_as_metadata_never_created(scene: Scene) -> None:
    specials: list[TarEntry] = [
        directory("dev"),
        char_device("dev/mem", 1, 1, mode=0o666),
        block_device("dev/sda", 8, 0, mode=0o666),
        fifo("app/pipe", mode=0o620),
    ]
    archive = scene.archive([base_layer(), make_layer_tar(specials)])
    run = harden_to_archive(scene, archive)
    assert run.exit_code == 0, run.stderr
    _, entries = read_docker_archive(scene.out / "out.tar")
    mem, sda, pipe = entries["dev/mem"].info, entries["dev/sda"].info, entries["app/pipe"].info
    assert mem.type == tarfile.CHRTYPE and (mem.devmajor, mem.devminor) == (1, 1)
    assert sda.type == tarfile.BLKTYPE and (sda.devmajor, sda.devminor) == (8, 0)
    assert pipe.type == tarfile.FIFOTYPE and pipe.mode & 0o7777 == 0o620
    # written as tar headers only: no node appeared anywhere on the host (the scene saw only out/ and reports/)
    assert {p.split("/")[0] for p in run.created} == {"out", "reports"}


# -- controls: legitimate layer stacks around symlinks are not refused ----------------------------------------
def test_directory_replacing_a_lower_symlink_is_fine(scene: Scene) -> None:
    layers = [base_layer(), make_layer_tar([symlink("app/link", "/etc")]),
              make_layer_tar([directory("app/link"), file("app/link/x.txt", b"real dir now")])]
    run = harden_to_archive(scene, scene.archive(layers))
    assert run.exit_code == 0, run.stderr
    _, entries = read_docker_archive(scene.out / "out.tar")
    assert entries["app/link"].info.isdir() and entries["app/link/x.txt"].data == b"real dir now"


def test_symlink_replacing_a_lower_directory_hides_its_files(scene: Scene) -> None:
    layers = [base_layer(), make_layer_tar([directory("app/d"), file("app/d/old.txt", b"old")]),
              make_layer_tar([symlink("app/d", str(scene.outside))])]
    run = harden_to_archive(scene, scene.archive(layers))
    assert run.exit_code == 0, run.stderr
    _, entries = read_docker_archive(scene.out / "out.tar")
    assert entries["app/d"].info.issym() and "app/d/old.txt" not in entries
