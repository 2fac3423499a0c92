"""The stages on an Alpine-like image (tests/fixtures/alpine): real busybox and musl binaries, an apk database in
apk-tools' format. drop-shells takes busybox's shell links only; remove-unreachable removes busybox with every
applet link when nothing needs it (none dangles) and keeps it when the runtime runs an applet; musl programs'
closures go through musl's loader and its path file; prune-package-db keeps the apk database true."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

import pytest
from stage_helpers import settings_of

from fixtures.alpine.make_fixture import INSTALLED_APPLETS, LOADER, ApkPackage, Binaries, alpine_image
from harden.apk.installed import parse_installed
from harden.busybox import find_busybox
from harden.image.blobs import BlobStore
from harden.image.files import file_bytes
from harden.image.model import EntryType, ImageConfig, Rootfs
from harden.ospkg import ApkDb, detect
from harden.pipeline import PipelineResult, run_pipeline
from harden.plan import Plan, Remove, Replace
from harden.stages.base import Stage, StageContext
from harden.stages.drop_shells import DropShells
from harden.stages.prune_package_db import PrunePackageDb
from harden.stages.remove_docs import RemoveDocs
from harden.stages.remove_unreachable import RemoveUnreachable
from imagefactory import file, hardlink, merged_rootfs, symlink

P = PurePosixPath
PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
APPLET_LINKS = sorted(f"{folder}/{name}" for folder, names in INSTALLED_APPLETS.items() for name in names)
"""The applet links ``busybox --install -s`` made (bin/sh is busybox-binsh's)."""


def config(**fields: Any) -> ImageConfig:
    return ImageConfig({"architecture": "amd64", "os": "linux", "config": {"Env": [PATH], **fields}})


def ctx(stage: type[Stage[Any]], rootfs: Rootfs, blobs: BlobStore, settings: Mapping[str, Any] | None = None,
        **fields: Any) -> StageContext[Any]:
    return StageContext(rootfs, config(**fields), blobs, settings_of(stage, settings))


def removed(plan: Plan) -> dict[str, str]:
    return {str(c.path): c.reason for c in plan.changes if isinstance(c, Remove)}


def dangling(rootfs: Rootfs) -> list[str]:
    """Symlinks that resolve to nothing."""
    return sorted(str(e.path) for e in rootfs if e.type is EntryType.SYMLINK and rootfs.resolve(e.path) is None)


@pytest.fixture
def alpine(musl_binaries: Binaries, blobs: BlobStore) -> Rootfs:
    return merged_rootfs([alpine_image(musl_binaries).layer()], blobs)


def run(rootfs: Rootfs, blobs: BlobStore, stages: Sequence[Any], **fields: Any) -> PipelineResult:
    return run_pipeline(rootfs, config(**fields), blobs, [(stage, settings_of(type(stage))) for stage in stages])


# --- drop-shells -----------------------------------------------------------------------------------------------


def test_drop_shells_takes_only_busyboxs_shell_links(alpine: Rootfs, blobs: BlobStore) -> None:
    plan = DropShells().plan(ctx(DropShells, alpine, blobs))
    assert removed(plan) == {"bin/ash": "shell ash: busybox applet link to /bin/busybox",
                             "bin/sh": "shell sh: busybox applet link to /bin/busybox"}
    (skip,) = plan.skipped
    assert skip.path == P("bin/busybox")
    assert skip.reason.startswith("kept: busybox ")
    linked = len(APPLET_LINKS) - 1  # bin/ash is a shell link
    assert f"other applets, {linked} of them linked in the image (cat, cp, echo, grep, ls," in skip.reason
    assert "`busybox ash` still runs a shell" in skip.reason
    after = run(alpine, blobs, [DropShells()]).rootfs
    assert P("bin/busybox") in after and after.resolve("bin/ls") == P("bin/busybox")
    assert dangling(after) == []


def test_hardlinked_applets_lose_only_the_shell_names(musl_binaries: Binaries, blobs: BlobStore) -> None:
    rootfs = merged_rootfs([_layer(
        file("bin/busybox", musl_binaries.busybox, mode=0o755),
        hardlink("bin/sh", "bin/busybox"),
        hardlink("bin/ls", "bin/busybox"),
        symlink("usr/bin/ash", "../../bin/sh"),
    )], blobs)
    plan = DropShells().plan(ctx(DropShells, rootfs, blobs))
    assert removed(plan) == {"bin/sh": "shell sh: busybox applet hardlink to /bin/busybox",
                             "usr/bin/ash": "shell ash: busybox applet link to /bin/busybox"}


def test_a_multi_call_binary_that_is_not_busybox_goes_with_its_links(blobs: BlobStore) -> None:
    """Without busybox's banner and applet table nothing says what else the binary does: it is the shell."""
    rootfs = merged_rootfs([_layer(
        file("bin/toolbox", b"\x7fELF a multi-call binary", mode=0o755),
        symlink("bin/sh", "/bin/toolbox"),
        symlink("bin/ls", "/bin/toolbox"),
    )], blobs)
    assert set(removed(DropShells().plan(ctx(DropShells, rootfs, blobs)))) == {"bin/toolbox", "bin/sh", "bin/ls"}


def test_all_binaries_keeps_busybox_when_a_kept_link_leads_to_it(alpine: Rootfs, blobs: BlobStore) -> None:
    plan = DropShells().plan(ctx(DropShells, alpine, blobs, {"mode": "all-binaries"}))
    gone = removed(plan)
    assert "bin/busybox" not in gone and "usr/bin/env" not in gone
    assert {"bin/sh", "bin/ash", "bin/ls", "usr/bin/wget"} <= set(gone)
    reasons = {str(s.path): s.reason for s in plan.skipped}
    assert reasons["bin/busybox"] == "kept: keep glob 'usr/bin/env' (via /usr/bin/env)"
    assert reasons["usr/bin/env"] == "kept: keep glob 'usr/bin/env'"


# --- remove-unreachable ----------------------------------------------------------------------------------------


def test_busybox_nothing_needs_goes_with_every_applet_link(alpine: Rootfs, blobs: BlobStore) -> None:
    result = run(alpine, blobs, [DropShells(), RemoveUnreachable()])
    after = result.rootfs
    assert find_busybox(after, blobs) == ()
    for path in ["bin/busybox", "bin/sh", *APPLET_LINKS]:
        assert after.get(P(path)) is None, path
    assert dangling(after) == []
    reasons = {c.target: c.reason for c in result.records[1].changes}
    assert reasons["bin"].startswith(
        "package busybox 1.36.1-r15: none of its 3 files and its 21 busybox applet links no package lists is "
        "reachable from the runtime"
    )
    # the musl loader and the interpreter's library stay: python3.11 is a root
    for path in [LOADER, "lib/libc.musl-x86_64.so.1", "usr/local/lib/libpython3.11.so.1.0"]:
        assert P(path) in after


@pytest.mark.parametrize(
    ("fields", "source", "why"),
    [
        ({"Cmd": ["ls", "/"]}, None, "/bin/busybox: reached from /bin/ls (the image's Cmd)"),
        ({}, b"import subprocess\nsubprocess.run(['wget', '-q', 'http://x'])\n",
         "/bin/busybox: reached from /usr/bin/wget (subprocess.run('wget') in /usr/local/lib/python3.11/"
         "site-packages/app/fetch.py)"),
    ],
)
def test_busybox_the_runtime_runs_stays_with_its_links(musl_binaries: Binaries, blobs: BlobStore,
                                                       fields: dict[str, Any], source: bytes | None,
                                                       why: str) -> None:
    image = alpine_image(musl_binaries)
    if source is not None:
        image.add(file("usr/local/lib/python3.11/site-packages/app/fetch.py", source))
    rootfs = merged_rootfs([image.layer()], blobs)
    result = run(rootfs, blobs, [DropShells(), RemoveUnreachable()], **fields)
    after = result.rootfs
    assert P("bin/busybox") in after and after.get(P("bin/sh")) is None
    assert all(P(path) in after for path in APPLET_LINKS if not path.endswith("/ash"))
    assert f"kept busybox: {why}" in result.records[1].notes
    assert dangling(after) == []


def test_a_kept_package_owning_an_applet_link_keeps_busybox(alpine: Rootfs, blobs: BlobStore) -> None:
    """busybox-binsh owns bin/sh -> /bin/busybox: kept by name, its link keeps busybox (nothing dangles)."""
    plan = RemoveUnreachable().plan(ctx(RemoveUnreachable, alpine, blobs, {"keep_packages": ["busybox-binsh"]}))
    assert not any(path.startswith(("bin/busybox", "bin/sh")) or path == "bin" for path in removed(plan))
    assert "kept busybox: /bin/busybox: reached from /bin/sh (a file of busybox-binsh, kept)" in plan.notes
    assert "kept busybox-binsh: named in keep_packages" in plan.notes


def test_links_no_package_owns_go_with_what_they_point_at(musl_binaries: Binaries, blobs: BlobStore) -> None:
    image = alpine_image(musl_binaries)
    image.add(symlink("etc/alternatives/greeter", "/usr/local/bin/hello"),
              symlink("usr/local/bin/greeter", "/etc/alternatives/greeter"),
              symlink("lib/apk/db/hello-link", "/usr/local/bin/hello"))  # in a keep glob: reported, kept
    rootfs = merged_rootfs([image.layer()], blobs)
    plan = RemoveUnreachable().plan(ctx(RemoveUnreachable, rootfs, blobs))
    gone = removed(plan)
    assert gone["etc/alternatives/greeter"].startswith("symlink to /usr/local/bin/hello, removed (package hello-musl")
    assert gone["usr/local/bin/greeter"].startswith("symlink to /usr/local/bin/hello, removed (package hello-musl")
    assert "lib/apk/db/hello-link" not in gone
    assert any(s.path == P("lib/apk/db/hello-link") and s.reason.startswith("left dangling")
               for s in plan.skipped)


def test_the_musl_path_file_decides_where_libraries_are_found(musl_binaries: Binaries, blobs: BlobStore) -> None:
    """libpython moved to /opt/py/lib: found only because /etc/ld-musl-x86_64.path lists it, so the package
    owning it is kept, the path file with it; without the path file nothing finds it and nothing keeps it."""
    image = alpine_image(musl_binaries, path_file="/lib\n/opt/py/lib:/usr/lib\n")
    moved = image.entries.pop("usr/local/lib/libpython3.11.so.1.0")
    image.entries.pop("usr/local/lib/libpython3.so")
    image.add(file("opt/py/lib/libpython3.11.so.1.0", moved.data, mode=0o755))
    image.packages.append(ApkPackage("python3-lib", "3.11.8-r0", "libpython", "https://python.org", "PSF-2.0",
                                     origin="python3", owns=[("opt/py/lib", "libpython3.11.so.1.0")]))
    rootfs = merged_rootfs([image.layer()], blobs)
    plan = RemoveUnreachable().plan(ctx(RemoveUnreachable, rootfs, blobs))
    assert not any(path.startswith("opt/py") for path in removed(plan))
    assert ("kept python3-lib: /opt/py/lib/libpython3.11.so.1.0: /usr/local/bin/python3.11 needs "
            "libpython3.11.so.1.0") in plan.notes
    assert "kept musl: /lib/ld-musl-x86_64.so.1: /usr/local/bin/python3.11 needs libc.so" in plan.notes
    assert P("etc/ld-musl-x86_64.path") in rootfs and "etc/ld-musl-x86_64.path" not in removed(plan)

    without = rootfs.with_changes(remove=frozenset({P("etc/ld-musl-x86_64.path")}))
    gone = removed(RemoveUnreachable().plan(ctx(RemoveUnreachable, without, blobs)))
    assert "opt/py/lib/libpython3.11.so.1.0" in gone or "opt" in gone


# --- prune-package-db ------------------------------------------------------------------------------------------


def test_prune_keeps_the_apk_database_true(musl_binaries: Binaries, blobs: BlobStore) -> None:
    """hello runs (the Cmd), so hello-musl stays, but remove-docs took its README: its R: line and the F: line of
    the folder that is gone are dropped; busybox, busybox-binsh and the unreachable rest lose their records."""
    rootfs = merged_rootfs([alpine_image(musl_binaries).layer()], blobs)
    result = run(rootfs, blobs, [RemoveDocs(), DropShells(), RemoveUnreachable(), PrunePackageDb()],
                 Cmd=["/usr/local/bin/hello"])
    record = result.records[-1]
    installed = file_bytes(result.rootfs, blobs, P("lib/apk/db/installed"))
    assert installed is not None
    db = parse_installed(installed)
    assert [p.name for p in db.packages] == ["musl", "alpine-baselayout-data", "alpine-release", "hello-musl",
                                             ".python-rundeps"]
    hello = db.packages[3]
    assert hello.paths == ("usr/local/bin/hello", "usr/local/lib/greet/libgreet.so.1")
    assert b"F:usr/local/share/doc/hello\n" not in installed and b"R:README\n" not in installed
    for package in db.packages:  # every file the database lists is in the image
        for path in package.paths:
            assert P(path) in result.rootfs, path
    original = file_bytes(rootfs, blobs, P("lib/apk/db/installed")) or b""
    kept = [p for p in parse_installed(original).packages if p.name in ("musl", "alpine-release")]
    assert all(p.body + p.tail in installed for p in kept)  # untouched records byte for byte
    assert file_bytes(result.rootfs, blobs, P("lib/apk/db/triggers")) == b""
    reasons = {c.target: c.reason for c in record.changes}
    assert reasons["lib/apk/db/installed"] == (
        "dropped the records of 2 packages with no file left (busybox 1.36.1-r15, busybox-binsh 1.36.1-r15); "
        "dropped the lines of 1 file no longer in the image from 1 kept package (hello-musl); every other line "
        "kept byte for byte"
    )
    assert record.notes[0] == ("apk database: 7 packages checked; 2 pruned (no file left), 0 kept with files "
                               "left, 0 kept without a file list (ownership unknown)")
    assert "/lib/apk/db/scripts.tar left as it is" not in " ".join(record.notes)
    entry = result.rootfs.get(P("lib/apk/db/installed"))
    assert entry is not None and (entry.mode, entry.uid, entry.gid) == (0o644, 0, 0)


def test_a_partly_removed_apk_package_is_kept_and_named(alpine: Rootfs, blobs: BlobStore) -> None:
    partly = alpine.with_changes(remove=frozenset({P("usr/local/bin/hello")}))
    plan = PrunePackageDb().plan(ctx(PrunePackageDb, partly, blobs))
    assert {str(s.path): s.reason for s in plan.skipped} == {
        "lib/apk/db/installed": "kept hello-musl 1.0-r0: 1 of 2 files remain (usr/local/lib/greet/libgreet.so.1)"
    }
    (change,) = plan.changes
    assert isinstance(change, Replace) and change.reason == (
        "dropped the lines of 1 file no longer in the image from 1 kept package (hello-musl); every other line "
        "kept byte for byte"
    )
    assert change.entry.digest is not None
    hello = parse_installed(blobs.read(change.entry.digest)).packages[5]
    assert hello.paths == ("usr/local/lib/greet/libgreet.so.1", "usr/local/share/doc/hello/README")


def test_the_apk_database_is_the_alpine_images(alpine: Rootfs, blobs: BlobStore) -> None:
    db = detect(alpine, blobs)
    assert isinstance(db, ApkDb)
    owned = db.ownership(next(p for p in db.packages() if p.name == "alpine-baselayout-data"))
    assert owned is not None and owned.folders == frozenset({"etc", "root", "tmp"})
    assert owned.source == P("lib/apk/db/installed")


def _layer(*entries: Any) -> bytes:
    from imagefactory import make_layer_tar

    return make_layer_tar(entries)
