from __future__ import annotations

from stage_helpers import FakeImage, gone, removed, skipped

from harden.plan import Remove
from harden.stages.remove_docs import RemoveDocs

SP = "usr/local/lib/python3.11/site-packages"


def test_os_docs_and_caches_go_licences_and_package_databases_stay(image: FakeImage) -> None:
    image.file("usr/share/doc/bash/copyright", "GPL-3")
    image.file("usr/share/doc/bash/changelog.Debian.gz", b"\x1f\x8b")
    image.file("usr/share/doc/libssl3/README.Debian", "readme")
    image.file("usr/share/man/man1/ls.1.gz", b"\x1f\x8b")
    image.file("usr/local/share/man/man1/python3.11.1", "manpage")
    image.file("usr/share/info/dir", "info")
    image.file("usr/share/locale/de/LC_MESSAGES/coreutils.mo", b"mo")
    image.file("usr/share/locale/locale.alias", "alias")
    image.file("var/cache/apt/pkgcache.bin", b"cache")
    image.dir("var/cache/apt/archives/partial")
    image.file("var/lib/apt/lists/deb.debian.org_dists_bookworm_InRelease", "lists")
    image.file("var/lib/apt/lists/lock", "")
    image.dir("var/lib/apt/lists/partial")
    image.file("var/cache/debconf/templates.dat-old", "old")
    image.file("var/cache/debconf/templates.dat", "current")
    image.file("var/lib/dpkg/status", "Package: bash\n")
    image.file("var/lib/dpkg/status.d/base", "Package: base\n")
    plan = RemoveDocs().plan(image.ctx(RemoveDocs))
    assert removed(plan) == {
        "usr/share/doc/bash/changelog.Debian.gz",
        "usr/share/doc/libssl3",
        "usr/share/man",
        "usr/local/share/man",
        "usr/share/info",
        "usr/share/locale/de/LC_MESSAGES/coreutils.mo",
        "var/cache/apt/pkgcache.bin",
        "var/lib/apt/lists/deb.debian.org_dists_bookworm_InRelease",
        "var/cache/debconf/templates.dat-old",
    }
    assert skipped(plan)["usr/share/doc/bash/copyright"] == "kept: keep glob 'usr/share/doc/*/copyright'"
    assert all(c.category == "docs" for c in plan.changes)


def test_dist_info_is_never_touched(image: FakeImage) -> None:
    """Scanners and importlib.metadata read these; a policy removing share/** must not take them."""
    image.python()
    info = image.dist(SP, "requests", "2.32.0", {"requests/__init__.py": ""})
    image.file(f"{info}/licenses/LICENSE", "Apache")
    image.file(f"{info}/top_level.txt", "requests\n")
    image.file(f"{info}/INSTALLER", "pip\n")
    image.file(f"{SP}/old_style-1.0.egg-info/PKG-INFO", "Name: old-style\n")
    plan = RemoveDocs().plan(image.ctx(RemoveDocs, {"remove": ["usr/local/lib/**"]}))
    after = {str(e.path) for e in gone(image.rootfs(), plan)}
    for name in ("METADATA", "RECORD", "licenses/LICENSE", "top_level.txt", "INSTALLER"):
        assert f"{info}/{name}" in after
    assert f"{SP}/old_style-1.0.egg-info/PKG-INFO" in after
    assert f"{SP}/requests/__init__.py" not in after


def test_docs_and_examples_in_site_packages_unless_imported(image: FakeImage) -> None:
    image.python()
    image.file(f"{SP}/lib_a/__init__.py", "")
    image.file(f"{SP}/lib_a/docs/index.rst", "docs")
    image.file(f"{SP}/lib_a/docs/LICENSE.txt", "MIT")
    image.file(f"{SP}/lib_a/examples/notebook.ipynb", "{}")
    image.file(f"{SP}/lib_b/__init__.py", "from lib_b.doc import docstrings\n")
    image.file(f"{SP}/lib_b/doc/__init__.py", "")
    image.file(f"{SP}/lib_b/doc/docstrings.py", "")
    image.file(f"{SP}/docs/index.html", "a stray top-level docs folder is left alone")
    plan = RemoveDocs().plan(image.ctx(RemoveDocs))
    assert removed(plan) == {f"{SP}/lib_a/docs/index.rst", f"{SP}/lib_a/examples"}
    assert not any(c.removes_modules for c in plan.changes if isinstance(c, Remove))
    reasons = skipped(plan)
    assert reasons[f"{SP}/lib_b/doc"] == "kept lib_b/doc: imported by lib_b/__init__.py"
    assert reasons[f"{SP}/lib_a/docs/LICENSE.txt"] == "kept: keep glob '**/LICENSE*'"


def test_examples_holding_python_modules_are_code_kept_unless_remove_code_names_them(image: FakeImage) -> None:
    image.python()
    image.file(f"{SP}/lib_a/__init__.py", "")
    image.file(f"{SP}/lib_a/examples/demo.py", "import lib_a\n")
    image.file(f"{SP}/lib_a/examples/data.csv", "a,b\n")
    kept = RemoveDocs().plan(image.ctx(RemoveDocs))
    assert removed(kept) == set()
    assert skipped(kept)[f"{SP}/lib_a/examples"].startswith("kept lib_a/examples: holds 1 Python modules")
    named = RemoveDocs().plan(image.ctx(RemoveDocs, {"remove_code": ["**/lib_a/examples"]}))
    assert removed(named) == {f"{SP}/lib_a/examples"}
    (change,) = named.changes
    assert isinstance(change, Remove) and change.removes_modules
    assert "named by remove_code '**/lib_a/examples'" in change.reason


