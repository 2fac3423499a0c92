from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath

import pytest
from stage_helpers import FakeImage, removed, replaced, settings_of, skipped

from harden.image.files import file_bytes
from harden.pipeline import run_pipeline
from harden.plan import Plan, Remove, Replace
from harden.stages.drop_shells import DropShells
from harden.stages.prune_package_db import PrunePackageDb
from harden.stages.remove_installers import RemoveInstallers

DPKG = "var/lib/dpkg"
STATUS = f"{DPKG}/status"
INFO = f"{DPKG}/info"

LIBC6 = (
    b"Package: libc6\n"
    b"Status: install ok installed\n"
    b"Priority: optional\n"
    b"Section: libs\n"
    b"Installed-Size: 12988\n"
    b"Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>\n"
    b"Architecture: amd64\n"
    b"Multi-Arch: same\n"
    b"Source: glibc\n"
    b"Version: 2.36-9+deb12u4\n"
    b"Depends: libgcc-s1\n"
    b"Conffiles:\n"
    b" /etc/ld.so.conf.d/x86_64-linux-gnu.conf d4e7a7b88a71b5ffd9e2644e71a0cfab\n"
    b"Description: GNU C Library: Shared libraries\n"
    b" Contains the standard libraries that are used by nearly all programs on\n"
    b" the system.\n"
    b" .\n"
    b" A second paragraph.\n"
)


def stanza(name: str, version: str, *, essential: bool = False, arch: str = "amd64") -> bytes:
    lines = [f"Package: {name}", "Status: install ok installed"]
    if essential:
        lines.append("Essential: yes")
    lines += [f"Architecture: {arch}", f"Version: {version}", f"Description: {name}", " long text"]
    return ("\n".join(lines) + "\n").encode()


def dpkg_files(image: FakeImage, name: str, listed: Iterable[str], *, present: Iterable[str] = ()) -> None:
    """dpkg's info files for ``name`` (``listed``: absolute paths, directories included) and, in the rootfs,
    the ``present`` ones of them as regular files."""
    listed = list(listed)
    image.file(f"{INFO}/{name}.list", "".join(f"{p}\n" for p in listed))
    image.file(f"{INFO}/{name}.md5sums", "".join(f"0123  {p.lstrip('/')}\n" for p in present))
    image.file(f"{INFO}/{name}.postinst", "#!/bin/sh\nset -e\n", mode=0o755)
    for path in present:
        image.file(path.lstrip("/"), f"content of {path}")


def plan_of(image: FakeImage) -> Plan:
    return PrunePackageDb().plan(image.ctx(PrunePackageDb))


def status_after(image: FakeImage, plan: Plan) -> bytes:
    entry = replaced(plan)[STATUS]
    assert entry.digest is not None
    return image.blobs.read(entry.digest)


PIP_FILES = [
    "/.", "/usr", "/usr/bin", "/usr/bin/pip", "/usr/bin/pip3", "/usr/lib", "/usr/lib/python3",
    "/usr/lib/python3/dist-packages", "/usr/lib/python3/dist-packages/pip",
    "/usr/lib/python3/dist-packages/pip/__init__.py", "/usr/share", "/usr/share/doc",
    "/usr/share/doc/python3-pip", "/usr/share/doc/python3-pip/copyright",
]


def test_a_package_with_no_file_left_loses_its_record_and_info_files(image: FakeImage) -> None:
    image.dir("usr/bin")
    dpkg_files(image, "libc6:amd64", ["/.", "/etc", "/etc/ld.so.conf.d", "/usr/lib/x86_64-linux-gnu/libc.so.6"],
               present=["/usr/lib/x86_64-linux-gnu/libc.so.6", "/etc/ld.so.conf.d/x86_64-linux-gnu.conf"])
    # the pip files are gone, its copyright file is not (documentation does not count)
    dpkg_files(image, "python3-pip", PIP_FILES, present=["/usr/share/doc/python3-pip/copyright"])
    # a name that starts with "python3-pip." would be a prefix trap for "python3-pip.*"
    dpkg_files(image, "python3-pip-whl", ["/usr/share/python-wheels/pip-23.0.1-py3-none-any.whl"],
               present=["/usr/share/python-wheels/pip-23.0.1-py3-none-any.whl"])
    pip = stanza("python3-pip", "23.0.1+dfsg-1", arch="all")
    whl = stanza("python3-pip-whl", "23.0.1+dfsg-1", arch="all")
    original = image.file(STATUS, LIBC6 + b"\n" + pip + b"\n" + whl + b"\n")
    image.entries[original.path] = original.evolve(mode=0o640, uid=0, gid=42, mtime=1_700_000_000)

    plan = plan_of(image)

    assert status_after(image, plan) == LIBC6 + b"\n" + whl + b"\n"
    new = replaced(plan)[STATUS]
    assert (new.mode, new.uid, new.gid, new.mtime) == (0o640, 0, 42, 1_700_000_000)
    assert removed(plan) == {f"{INFO}/python3-pip.list", f"{INFO}/python3-pip.md5sums", f"{INFO}/python3-pip.postinst"}
    assert {c.category for c in plan.changes} == {"package-db"}
    reasons = {str(c.path): c.reason for c in plan.changes if isinstance(c, Remove)}
    assert reasons[f"{INFO}/python3-pip.list"].startswith(
        "all 3 files of python3-pip 23.0.1+dfsg-1 are gone from the image (per /var/lib/dpkg/info/python3-pip.list"
    )
    assert "; 1 file matching doc_globs left" in reasons[f"{INFO}/python3-pip.list"]
    replace = next(c for c in plan.changes if isinstance(c, Replace))
    assert "python3-pip 23.0.1+dfsg-1" in replace.reason and "libc6" not in replace.reason
    assert plan.notes == (
        "dpkg database: 3 packages checked; 1 pruned (no file left), 0 kept with files left, "
        "0 kept without a file list (ownership unknown)",
    )


def test_info_files_of_a_dotted_name_belong_to_that_package_only(image: FakeImage) -> None:
    dpkg_files(image, "python3", ["/usr/bin/python3"])
    dpkg_files(image, "python3.11", ["/usr/bin/python3.11"], present=["/usr/bin/python3.11"])
    image.file(STATUS, stanza("python3", "3.11.2-1+b1") + b"\n" + stanza("python3.11", "3.11.2-6") + b"\n")
    plan = plan_of(image)
    assert removed(plan) == {f"{INFO}/python3.list", f"{INFO}/python3.md5sums", f"{INFO}/python3.postinst"}
    assert status_after(image, plan) == stanza("python3.11", "3.11.2-6") + b"\n"


@pytest.mark.parametrize("ending", [b"\n", b""])
def test_dropping_the_last_record_keeps_how_the_file_ended(image: FakeImage, ending: bytes) -> None:
    dpkg_files(image, "libc6:amd64", ["/usr/lib/x86_64-linux-gnu/libc.so.6"],
               present=["/usr/lib/x86_64-linux-gnu/libc.so.6"])
    dpkg_files(image, "dash", ["/usr/bin/dash"])
    image.file(STATUS, b"\n" + LIBC6 + b"\n" + stanza("dash", "0.5.12-2") + ending)
    assert status_after(image, plan_of(image)) == b"\n" + LIBC6 + ending


def test_a_partly_removed_package_is_kept_and_what_remains_is_named(image: FakeImage) -> None:
    site = "/usr/lib/python3/dist-packages"
    files = [f"{site}/setuptools/__init__.py", f"{site}/setuptools/dist.py", f"{site}/_distutils_hack/__init__.py",
             f"{site}/distutils-precedence.pth", f"{site}/pkg_resources/__init__.py",
             f"{site}/pkg_resources/extern.py"]
    dpkg_files(image, "python3-setuptools", [site, *files], present=files[2:])
    image.file(STATUS, stanza("python3-setuptools", "66.1.1-1", arch="all") + b"\n")
    plan = plan_of(image)
    assert plan.changes == ()
    assert skipped(plan) == {
        f"{INFO}/python3-setuptools.list": "kept python3-setuptools 66.1.1-1: 4 of 6 files remain "
        "(usr/lib/python3/dist-packages/_distutils_hack/__init__.py, "
        "usr/lib/python3/dist-packages/distutils-precedence.pth, "
        "usr/lib/python3/dist-packages/pkg_resources/__init__.py, ...)"
    }
    assert "1 kept with files left" in plan.notes[0]


def test_documentation_left_does_not_keep_a_package_and_does_not_make_one_gone(image: FakeImage) -> None:
    docs = ["/usr/share/doc/tool/copyright", "/usr/share/man/man1/tool.1.gz", "/usr/share/info/tool.info.gz",
            "/usr/share/lintian/overrides/tool", "/usr/share/locale/de/LC_MESSAGES/tool.mo"]
    dpkg_files(image, "tool", ["/usr/bin/tool", *docs], present=docs)
    # a metapackage owns documentation only: nothing of it is gone, it stays
    dpkg_files(image, "meta", ["/usr/share/doc/meta", "/usr/share/doc/meta/copyright"])
    image.file(STATUS, stanza("tool", "1.0") + b"\n" + stanza("meta", "2") + b"\n")
    plan = plan_of(image)
    assert status_after(image, plan) == stanza("meta", "2") + b"\n"
    assert removed(plan) == {f"{INFO}/tool.list", f"{INFO}/tool.md5sums", f"{INFO}/tool.postinst"}
    reason = next(c.reason for c in plan.changes if isinstance(c, Remove))
    assert reason.startswith("the only file of tool 1.0 is gone")
    assert reason.endswith("; 5 files matching doc_globs left")


def test_doc_globs_are_a_setting(image: FakeImage) -> None:
    dpkg_files(image, "tool", ["/usr/bin/tool", "/usr/share/doc/tool/copyright"],
               present=["/usr/share/doc/tool/copyright"])
    image.file(STATUS, stanza("tool", "1.0") + b"\n")
    plan = PrunePackageDb().plan(image.ctx(PrunePackageDb, {"doc_globs": []}))
    assert plan.changes == () and f"{INFO}/tool.list" in skipped(plan)


def test_a_package_without_a_file_list_is_kept(image: FakeImage) -> None:
    # its conffile is gone too, but without a .list nothing says what else it owned
    image.file(STATUS, stanza("ghost", "1.0") + b"Conffiles:\n /etc/ghost.conf 0123\n\n")
    image.file(f"{INFO}/ghost.postinst", "#!/bin/sh\n")
    plan = plan_of(image)
    assert plan.changes == () and plan.skipped == ()
    assert "1 kept without a file list" in plan.notes[0]


def test_a_record_that_is_not_installed_is_left_as_it_is(image: FakeImage) -> None:
    # removed with its conffiles kept: its list names the conffile, which is gone too
    removed_one = stanza("old", "1.0").replace(b"install ok installed", b"deinstall ok config-files")
    dpkg_files(image, "old", ["/etc/old.conf"])
    dpkg_files(image, "tool", ["/usr/bin/tool"])
    image.file(STATUS, removed_one + b"\n" + stanza("tool", "1.0") + b"\n")
    plan = plan_of(image)
    assert status_after(image, plan) == removed_one + b"\n"
    assert removed(plan) == {f"{INFO}/tool.list", f"{INFO}/tool.md5sums", f"{INFO}/tool.postinst"}
    assert plan.notes[0].startswith("dpkg database: 1 package checked; 1 pruned")
    assert plan.notes[0].endswith("; 1 record not installed, left alone")


@pytest.mark.parametrize("os_release", [b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n', None])
def test_no_package_database_plans_nothing_and_names_the_os(image: FakeImage, os_release: bytes | None) -> None:
    if os_release is not None:
        image.file("etc/os-release", os_release)
    image.file(f"{INFO}/orphan.list", "/usr/bin/orphan\n")
    plan = plan_of(image)
    assert plan.changes == () and plan.skipped == ()
    label = "Debian GNU/Linux 12 (bookworm)" if os_release else "unknown OS"
    assert plan.notes == (f"{label}: no OS package database (dpkg, apk or rpm): not pruned",)


def test_an_rpm_database_is_named_and_not_pruned(image: FakeImage) -> None:
    image.file("etc/os-release", 'NAME="Fedora Linux"\nVERSION_ID=40\nID=fedora\n')
    image.file("var/lib/rpm/rpmdb.sqlite", b"SQLite format 3\x00")
    plan = plan_of(image)
    assert plan.changes == () and plan.skipped == ()
    assert plan.notes == (
        "Fedora Linux 40: rpm database: not read and not pruned (harden reads dpkg and apk databases only)",
    )


def test_merged_usr_listed_paths_resolve_through_their_parent_symlink(image: FakeImage) -> None:
    image.symlink("bin", "usr/bin")
    image.file("usr/bin/dash", b"\x7fELF dash", mode=0o755)
    image.symlink("usr/bin/sh", "dash-gone")  # dangling, still a path that is there
    dpkg_files(image, "dash", ["/.", "/bin", "/bin/dash"])
    dpkg_files(image, "sh-link", ["/bin/sh"])
    image.file(STATUS, stanza("dash", "0.5.12-2", essential=True) + b"\n" + stanza("sh-link", "1") + b"\n")
    assert plan_of(image).changes == ()
    del image.entries[PurePosixPath("usr/bin/dash")]
    plan = plan_of(image)
    assert status_after(image, plan) == stanza("sh-link", "1") + b"\n"
    reason = next(c.reason for c in plan.changes if isinstance(c, Remove))
    assert reason.startswith("the only file of dash 0.5.12-2 is gone")
    assert reason.endswith("Essential: yes, pruned all the same since none of its files is left")


def test_a_diverted_file_is_looked_up_where_the_diversion_put_it(image: FakeImage) -> None:
    dpkg_files(image, "tool", ["/usr/bin/tool"], present=["/usr/bin/tool.distrib"])
    image.file(f"{DPKG}/diversions", "/usr/bin/tool\n/usr/bin/tool.distrib\nwrapper\n")
    image.file(STATUS, stanza("tool", "1.0") + b"\n")
    assert plan_of(image).changes == ()


def test_distroless_status_d(image: FakeImage) -> None:
    status_d = f"{DPKG}/status.d"
    image.file(f"{status_d}/base-files", stanza("base-files", "12.4+deb12u5"))
    image.file(f"{status_d}/base-files.md5sums", "abc  etc/debian_version\n")
    image.file("etc/debian_version", "12.5\n")
    image.file(f"{status_d}/tzdata", stanza("tzdata", "2024a-0+deb12u1", arch="all"))
    image.file(f"{status_d}/tzdata.md5sums", "abc  usr/share/zoneinfo/UTC\nabc  usr/share/doc/tzdata/copyright\n")
    image.file("usr/share/doc/tzdata/copyright", "c")
    image.file(f"{status_d}/openssl", stanza("openssl", "3.0.11-1~deb12u2"))  # no file list: kept
    plan = plan_of(image)
    assert removed(plan) == {f"{status_d}/tzdata", f"{status_d}/tzdata.md5sums"}
    assert replaced(plan) == {}
    reason = next(c.reason for c in plan.changes if isinstance(c, Remove))
    assert reason.startswith("the only file of tzdata 2024a-0+deb12u1 is gone from the image (per /var/lib/dpkg/")


def test_non_utf8_bytes_do_not_crash_and_are_kept(image: FakeImage) -> None:
    latin = b"Package: caf\xe9\nStatus: install ok installed\nVersion: 1\nMaintainer: Jos\xe9\n"
    name = "caf\udce9"  # how a layer tar's non-UTF-8 name reads (surrogateescape)
    image.file(f"{INFO}/{name}.list", b"/usr/bin/caf\xe9\n")
    image.file(f"usr/bin/{name}", b"\x7fELF")
    dpkg_files(image, "tool", ["/usr/bin/tool"])
    image.file(STATUS, latin + b"\n" + stanza("tool", "1.0") + b"\n")
    plan = plan_of(image)
    assert status_after(image, plan) == latin + b"\n"
    assert removed(plan) == {f"{INFO}/tool.list", f"{INFO}/tool.md5sums", f"{INFO}/tool.postinst"}

    del image.entries[PurePosixPath(f"usr/bin/{name}")]
    image.file(STATUS, stanza("tool", "1.0", essential=True) + b"\n" + latin)
    image.file("usr/bin/tool", b"\x7fELF")
    plan = plan_of(image)
    assert status_after(image, plan) == stanza("tool", "1.0", essential=True)
    assert removed(plan) == {f"{INFO}/{name}.list"}
    assert "caf\ufffd 1" in next(c.reason for c in plan.changes if isinstance(c, Replace))


# --- through the pipeline -------------------------------------------------------------------------------------


def bookworm(image: FakeImage) -> None:
    """A merged-usr Debian base: dash, bash (with files that are not shells), Debian's pip, Python."""
    image.symlink("bin", "usr/bin")
    image.file("usr/bin/dash", b"\x7fELF dash", mode=0o755)
    image.symlink("usr/bin/sh", "dash")
    image.file("usr/bin/bash", b"\x7fELF bash", mode=0o755)
    image.file("usr/bin/clear_console", b"\x7fELF clear_console", mode=0o755)
    image.file("etc/bash.bashrc", "# bashrc\n")
    image.file("usr/share/menu/dash", "?package(dash):...\n")
    image.file("usr/share/debianutils/shells.d/dash", "/bin/dash\n/usr/bin/dash\n")
    image.file(f"{INFO}/dash.list", "/.\n/bin\n/bin/dash\n/usr\n/usr/share\n/usr/share/menu\n/usr/share/menu/dash\n"
               "/usr/share/debianutils/shells.d/dash\n/bin/sh\n")
    image.file(f"{INFO}/dash.postinst", "#!/bin/sh\n")
    image.file(f"{INFO}/bash.list", "/.\n/bin\n/bin/bash\n/etc\n/etc/bash.bashrc\n/usr/bin/clear_console\n")
    image.file(f"{INFO}/bash.conffiles", "/etc/bash.bashrc\n")
    image.file("usr/bin/python3.11", b"\x7fELF", mode=0o755)
    image.symlink("usr/bin/python3", "python3.11")
    image.file("usr/lib/python3.11/os.py", "")
    site = "usr/lib/python3/dist-packages"
    info = image.dist(site, "pip", "23.0.1", {"pip/__init__.py": "", "pip/_internal/main.py": ""},
                      scripts=["pip3"], bin_dir="usr/bin", record=False)
    image.file(f"{info}/top_level.txt", "pip\n")
    pip_files = sorted(str(e.path) for e in image.rootfs().under(f"{site}/pip") if not e.is_dir)
    pip_files += sorted(str(e.path) for e in image.rootfs().under(info) if not e.is_dir)
    image.file(f"{INFO}/python3-pip.list", "".join(f"/{p}\n" for p in ["usr/bin/pip3", *pip_files]))
    image.file(f"{INFO}/python3-pip.md5sums", "")
    image.file(STATUS, LIBC6 + b"\n" + stanza("dash", "0.5.12-2", essential=True) + b"\n"
               + stanza("bash", "5.2.15-2+b7", essential=True) + b"\n"
               + stanza("python3-pip", "23.0.1+dfsg-1", arch="all") + b"\n")


def test_pipeline_prunes_what_drop_shells_and_remove_installers_removed(image: FakeImage) -> None:
    bookworm(image)
    stages = [(RemoveInstallers(), settings_of(RemoveInstallers, {"enabled": True})),
              (DropShells(), settings_of(DropShells)), (PrunePackageDb(), settings_of(PrunePackageDb))]
    result = run_pipeline(image.rootfs(), image.image_config(), image.blobs, stages)
    status = file_bytes(result.rootfs, image.blobs, PurePosixPath(STATUS))
    expected = LIBC6 + b"\n" + stanza("bash", "5.2.15-2+b7", essential=True) + b"\n"
    assert status == expected
    left = {str(e.path) for e in result.rootfs.under(INFO)}
    assert left == {INFO, f"{INFO}/bash.list", f"{INFO}/bash.conffiles"}
    record = result.records[-1]
    assert record.stage == "prune-package-db"
    assert {s.reason for s in record.skipped} == {
        "kept bash 5.2.15-2+b7: 2 of 3 files remain (etc/bash.bashrc, usr/bin/clear_console)"
    }
    assert {c.category for c in record.changes} == {"package-db"}


def test_pipeline_without_removals_changes_nothing(image: FakeImage) -> None:
    bookworm(image)
    stages = [(PrunePackageDb(), settings_of(PrunePackageDb))]
    result = run_pipeline(image.rootfs(), image.image_config(), image.blobs, stages)
    assert result.records[0].changes == () and result.records[0].skipped == ()
