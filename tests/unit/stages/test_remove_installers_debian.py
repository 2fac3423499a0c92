"""remove-installers on Debian's system Python: distributions without RECORD go by their dpkg list, and the
``*.pth`` start-up hooks of removed modules go with them (bookworm's distutils-precedence.pth)."""

from __future__ import annotations

from pathlib import PurePosixPath

from stage_helpers import FakeImage, removed, settings_of, skipped

from harden.image.files import file_bytes
from harden.pipeline import run_pipeline
from harden.plan import Plan, Remove
from harden.stages.prune_package_db import PrunePackageDb
from harden.stages.remove_installers import RemoveInstallers

ON = {"enabled": True}
SITE = "usr/lib/python3/dist-packages"
EGG = f"{SITE}/setuptools-66.1.1.egg-info"
PTH = f"{SITE}/distutils-precedence.pth"
PTH_TEXT = (
    "import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, 'local') == 'local'; "
    "enabled and __import__('_distutils_hack').add_shim(); \n"
)
INFO = "var/lib/dpkg/info"
STATUS = "var/lib/dpkg/status"
SETUPTOOLS = {  # what bookworm's python3-setuptools ships, in small
    f"{SITE}/_distutils_hack/__init__.py": "def add_shim(): pass\n",
    f"{SITE}/_distutils_hack/override.py": "",
    PTH: PTH_TEXT,
    f"{SITE}/setuptools/__init__.py": "",
    f"{SITE}/setuptools/_distutils/__init__.py": "",
    f"{EGG}/PKG-INFO": "Metadata-Version: 2.1\nName: setuptools\nVersion: 66.1.1\n",
    f"{EGG}/entry_points.txt": "[distutils.commands]\nalias = setuptools.command.alias:alias\n",
    f"{EGG}/top_level.txt": "_distutils_hack\npkg_resources\nsetuptools\n",
    "usr/share/doc/python3-setuptools/copyright": "Format: https://www.debian.org/doc/packaging-manuals/\n",
}
PKG_RESOURCES = {f"{SITE}/pkg_resources/__init__.py": "", "usr/share/doc/python3-pkg-resources/copyright": ""}
SETUPTOOLS_REMOVED = {f"{SITE}/_distutils_hack", PTH, f"{SITE}/setuptools", EGG}


def debian_python(image: FakeImage) -> None:
    image.file("usr/bin/python3.11", b"\x7fELF", mode=0o755)
    image.symlink("usr/bin/python3", "python3.11")
    image.file("usr/lib/python3.11/os.py", "")
    image.dir(SITE)


def status_record(package: str, version: str) -> str:
    return f"Package: {package}\nStatus: install ok installed\nArchitecture: all\nVersion: {version}\n"


def dpkg_package(image: FakeImage, package: str, files: dict[str, str], *, listed_only: tuple[str, ...] = ()) -> None:
    """``files`` in the rootfs and in ``<package>.list`` with their directories, as dpkg lists them;
    ``listed_only`` paths are listed without being in the rootfs."""
    listed = {"/."}
    for path in [*files, *listed_only]:
        parts = PurePosixPath(path).parts
        listed.update("/" + "/".join(parts[: i + 1]) for i in range(len(parts)))
    image.file(f"{INFO}/{package}.list", "".join(f"{p}\n" for p in sorted(listed)))
    image.file(f"{INFO}/{package}.md5sums", "")
    for path, content in files.items():
        image.file(path, content)


def debian_setuptools(image: FakeImage, *, dpkg: bool = True, elsewhere: dict[str, str] | None = None) -> None:
    """bookworm: /usr/bin/python3, python3-setuptools (without RECORD) and python3-pkg-resources, with dpkg's
    lists when ``dpkg``; ``elsewhere`` are more files of python3-setuptools."""
    debian_python(image)
    setuptools = {**SETUPTOOLS, **(elsewhere or {})}
    if dpkg:
        dpkg_package(image, "python3-setuptools", setuptools)
        dpkg_package(image, "python3-pkg-resources", PKG_RESOURCES)
        image.file(STATUS, status_record("python3-pkg-resources", "66.1.1-1") + "\n"
                   + status_record("python3-setuptools", "66.1.1-1"))
    else:
        for path, content in {**setuptools, **PKG_RESOURCES}.items():
            image.file(path, content)
    image.file(f"{SITE}/setuptools/__pycache__/__init__.cpython-311.pyc", b"\xa7\r\r\n")


def reasons(plan: Plan) -> dict[str, str]:
    return {str(c.path): c.reason for c in plan.changes if isinstance(c, Remove)}


def test_a_distribution_without_record_goes_by_the_dpkg_list_inside_its_site_packages(image: FakeImage) -> None:
    debian_setuptools(image, elsewhere={"usr/bin/setuptools-helper": "#!/bin/sh\n"})
    image.file(f"{SITE}/setuptools/local-notes.txt", "not listed by dpkg: stays")
    plan = RemoveInstallers().plan(image.ctx(RemoveInstallers, ON))
    assert removed(plan) == {
        f"{SITE}/_distutils_hack",
        PTH,
        f"{SITE}/setuptools/__init__.py",
        f"{SITE}/setuptools/__pycache__",
        f"{SITE}/setuptools/_distutils",
        EGG,
    }
    assert set(reasons(plan).values()) == {
        "setuptools 66.1.1: installer, not needed at run time (dpkg list of python3-setuptools)"
    }
    assert plan.skipped == ()


def test_the_dpkg_list_wins_over_top_level_and_keeps_what_other_packages_ship(image: FakeImage) -> None:
    debian_setuptools(image)
    plan = RemoveInstallers().plan(image.ctx(RemoveInstallers, ON))
    assert removed(plan) == SETUPTOOLS_REMOVED  # pkg_resources is python3-pkg-resources', top_level.txt or not
    assert not any(p.startswith("usr/share/doc") for p in removed(plan))


def test_a_distroless_md5sums_names_the_files_when_there_is_no_list(image: FakeImage) -> None:
    debian_setuptools(image, dpkg=False)
    sums = "".join(f"0123  {p}\n" for p in SETUPTOOLS)
    image.file("var/lib/dpkg/status.d/python3-setuptools", status_record("python3-setuptools", "66.1.1-1"))
    image.file("var/lib/dpkg/status.d/python3-setuptools.md5sums", sums)
    plan = RemoveInstallers().plan(image.ctx(RemoveInstallers, ON))
    assert removed(plan) == SETUPTOOLS_REMOVED
    assert reasons(plan)[PTH].endswith("(dpkg list of python3-setuptools)")


def test_a_dpkg_package_that_also_ships_a_kept_distribution_is_not_used(image: FakeImage) -> None:
    debian_python(image)
    six = {f"{SITE}/six.py": "", f"{SITE}/six-1.16.0.egg-info/PKG-INFO": "Name: six\nVersion: 1.16.0\n"}
    dpkg_package(image, "python3-bundle", {**SETUPTOOLS, **six})
    image.file(STATUS, status_record("python3-bundle", "1"))
    plan = RemoveInstallers().plan(image.ctx(RemoveInstallers, ON))
    assert f"{SITE}/six.py" not in removed(plan)
    assert reasons(plan)[f"{SITE}/setuptools"].endswith("(top_level.txt of setuptools-66.1.1.egg-info)")
    assert skipped(plan)[EGG] == (
        "used top_level.txt, not the dpkg list of python3-bundle: that package also ships "
        "six-1.16.0.egg-info, which is kept"
    )


def test_without_a_dpkg_list_top_level_is_used_and_the_pth_hook_goes_too(image: FakeImage) -> None:
    debian_setuptools(image, dpkg=False)
    plan = RemoveInstallers().plan(image.ctx(RemoveInstallers, ON))
    assert removed(plan) == {*SETUPTOOLS_REMOVED, f"{SITE}/pkg_resources"}
    assert reasons(plan)[f"{SITE}/setuptools"].endswith("(top_level.txt of setuptools-66.1.1.egg-info)")
    assert reasons(plan)[PTH] == (
        "start-up hook importing _distutils_hack, which this stage removes and nothing left provides (kept, "
        f'it would make every start of Python print "Error processing line 1 of /{PTH}")'
    )


def test_a_pth_hook_stays_when_its_module_is_still_provided(image: FakeImage) -> None:
    debian_setuptools(image, dpkg=False)
    image.file("usr/local/lib/python3.11/dist-packages/_distutils_hack/__init__.py", "def add_shim(): pass\n")
    plan = RemoveInstallers().plan(image.ctx(RemoveInstallers, ON))
    assert PTH not in removed(plan) and f"{SITE}/_distutils_hack" in removed(plan)
    assert PTH not in skipped(plan)


def test_pth_files_with_path_lines_or_kept_imports_stay_and_mixed_ones_are_reported(image: FakeImage) -> None:
    debian_setuptools(image, dpkg=False)
    image.file(f"{SITE}/paths-only.pth", "# extra directories\n/opt/extra\n../vendor\n")
    image.file(f"{SITE}/kept_hook.py", "def install(): pass\n")
    image.file(f"{SITE}/kept-hook.pth", "import kept_hook; kept_hook.install()\n")
    image.file(f"{SITE}/with-path.pth", "/opt/extra\nimport _distutils_hack; _distutils_hack.add_shim()\n")
    image.file(f"{SITE}/with-import.pth", "import kept_hook\n__import__('pkg_resources')\nimport\tpkg_resources\n")
    plan = RemoveInstallers().plan(image.ctx(RemoveInstallers, ON))
    assert not {f"{SITE}/{n}" for n in ("paths-only.pth", "kept-hook.pth", "with-path.pth", "with-import.pth")} & (
        removed(plan)
    )
    assert PTH in removed(plan)
    assert skipped(plan) == {
        f"{SITE}/with-path.pth": (
            "kept: line 2 imports _distutils_hack, which this stage removes and nothing left provides, but the "
            "file also has 1 sys.path line(s) and 0 other import line(s); Python will now print "
            f'"Error processing line 2 of /{SITE}/with-path.pth" at every start and ignore the lines after it'
        ),
        f"{SITE}/with-import.pth": (
            "kept: line 3 imports pkg_resources, which this stage removes and nothing left provides, but the "
            "file also has 1 sys.path line(s) and 1 other import line(s); Python will now print "
            f'"Error processing line 3 of /{SITE}/with-import.pth" at every start and ignore the lines after it'
        ),
    }


def test_a_venv_setuptools_takes_the_pth_by_its_record(image: FakeImage) -> None:
    image.python()
    site = "opt/venv/lib/python3.11/site-packages"
    image.file("opt/venv/pyvenv.cfg", "home = /usr/local/bin\nversion = 3.11.9\n")
    files = {"_distutils_hack/__init__.py": "", "distutils-precedence.pth": PTH_TEXT, "setuptools/__init__.py": ""}
    image.dist(site, "setuptools", "69.0", files)
    plan = RemoveInstallers().plan(image.ctx(RemoveInstallers, ON))
    assert reasons(plan)[f"{site}/distutils-precedence.pth"] == (
        "setuptools 69.0: installer, not needed at run time (RECORD of setuptools-69.0.dist-info)"
    )
    assert plan.skipped == ()


def test_pipeline_prunes_python3_setuptools_once_all_its_files_are_gone(image: FakeImage) -> None:
    debian_setuptools(image)
    stages = [(RemoveInstallers(), settings_of(RemoveInstallers, ON)), (PrunePackageDb(), settings_of(PrunePackageDb))]
    result = run_pipeline(image.rootfs(), image.image_config(), image.blobs, stages)
    assert PurePosixPath(PTH) not in result.rootfs
    status = file_bytes(result.rootfs, image.blobs, PurePosixPath(STATUS))
    assert status == status_record("python3-pkg-resources", "66.1.1-1").encode()
    assert {str(e.path) for e in result.rootfs.under(INFO)} == {
        INFO, f"{INFO}/python3-pkg-resources.list", f"{INFO}/python3-pkg-resources.md5sums"
    }
