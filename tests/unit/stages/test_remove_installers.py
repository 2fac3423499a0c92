from __future__ import annotations

from stage_helpers import FakeImage, gone, removed, skipped

from harden.stages.remove_installers import RemoveInstallers

SP = "usr/local/lib/python3.11/site-packages"
ON = {"enabled": True}


def with_pip(image: FakeImage, site: str = SP, bin_dir: str = "usr/local/bin") -> str:
    info = image.dist(
        site,
        "pip",
        "24.0",
        {"pip/__init__.py": "", "pip/_internal/cli.py": "", "pip/__main__.py": ""},
        scripts=["pip", "pip3", "pip3.11"],
        bin_dir=bin_dir,
    )
    image.file(f"{site}/pip/__pycache__/__init__.cpython-311.pyc", b"\xa7\r\r\n")
    return info


def test_pip_goes_by_its_record(image: FakeImage) -> None:
    image.python()
    info = with_pip(image)
    image.file(f"{SP}/pip/notes.txt", "not in RECORD: stays")
    image.dist(SP, "requests", "2.32", {"requests/__init__.py": ""})
    plan = RemoveInstallers().plan(image.ctx(RemoveInstallers, ON))
    assert removed(plan) == {
        f"{SP}/pip/__init__.py",
        f"{SP}/pip/__main__.py",
        f"{SP}/pip/_internal",
        f"{SP}/pip/__pycache__",
        info,
        "usr/local/bin/pip",
        "usr/local/bin/pip3",
        "usr/local/bin/pip3.11",
    }
    after = {str(e.path) for e in gone(image.rootfs(), plan)}
    assert f"{SP}/requests/__init__.py" in after and "usr/local/bin/python3.11" in after
    assert all(c.category == "installers" for c in plan.changes)
    assert all(c.removes_modules for c in plan.changes), "verification accounts installers as removed on purpose"


def test_a_whole_package_directory_goes_when_record_owns_all_of_it(image: FakeImage) -> None:
    image.python()
    image.dist(SP, "wheel", "0.43", {"wheel/__init__.py": "", "wheel/cli/__init__.py": ""})
    plan = RemoveInstallers().plan(image.ctx(RemoveInstallers, ON))
    assert f"{SP}/wheel" in removed(plan)


def test_setuptools_kept_when_another_distribution_requires_it(image: FakeImage) -> None:
    image.python()
    tools = image.dist(SP, "setuptools", "69.0", {"setuptools/__init__.py": "", "pkg_resources/__init__.py": ""})
    image.dist(
        SP,
        "legacy-plugin",
        "1.0",
        {"legacy_plugin.py": ""},
        requires=["setuptools>=40", "pytest; extra == 'test'"],
    )
    image.dist(SP, "wheel", "0.43", {"wheel/__init__.py": ""}, requires=["pip ; extra == 'dev'"])
    plan = RemoveInstallers().plan(image.ctx(RemoveInstallers, ON))
    assert not any(p.startswith(f"{SP}/setuptools") or p.startswith(f"{SP}/pkg_resources") for p in removed(plan))
    assert skipped(plan)[tools] == "kept setuptools 69.0: required by legacy-plugin 1.0"
    assert f"{SP}/wheel" in removed(plan)


def test_every_environment_is_cleaned_and_record_never_leaves_the_env(image: FakeImage) -> None:
    image.python()
    with_pip(image)
    venv_site = "opt/venv/lib/python3.11/site-packages"
    image.file("opt/venv/pyvenv.cfg", "home = /usr/local/bin\nversion = 3.11.9\n")
    image.dist(venv_site, "pip", "23.0", {"pip/__init__.py": ""}, scripts=["pip"], bin_dir="opt/venv/bin")
    image.file("etc/passwd", "root:x:0:0::/root:/bin/sh\n")
    image.file(f"{venv_site}/evil-1.0.dist-info/METADATA", "Name: setuptools\nVersion: 1.0\n")
    image.file(f"{venv_site}/evil-1.0.dist-info/RECORD", "../../../../../etc/passwd,,\n/usr/local/bin/python3.11,,\n")
    plan = RemoveInstallers().plan(image.ctx(RemoveInstallers, ON))
    gone_paths = removed(plan)
    assert f"{venv_site}/pip" in gone_paths and "opt/venv/bin/pip" in gone_paths
    assert f"{SP}/pip" in gone_paths
    assert "etc/passwd" not in gone_paths and "usr/local/bin/python3.11" not in gone_paths
    assert skipped(plan)[f"{venv_site}/evil-1.0.dist-info"].endswith("outside the env")


def test_os_package_managers_go_and_dpkg_status_stays(image: FakeImage) -> None:
    for tool in ("apt", "apt-get", "apt-cache", "dpkg", "dpkg-query"):
        image.file(f"usr/bin/{tool}", b"\x7fELF", mode=0o755)
    image.file("usr/lib/apt/methods/http", b"\x7fELF", mode=0o755)
    image.file("usr/bin/python3", b"\x7fELF", mode=0o755)
    image.file("var/lib/dpkg/status", "Package: apt\n")
    plan = RemoveInstallers().plan(image.ctx(RemoveInstallers, ON))
    assert removed(plan) == {
        "usr/bin/apt",
        "usr/bin/apt-get",
        "usr/bin/apt-cache",
        "usr/bin/dpkg",
        "usr/bin/dpkg-query",
        "usr/lib/apt",
    }


def test_debian_packages_without_record_use_top_level(image: FakeImage) -> None:
    image.file("usr/bin/python3.11", b"\x7fELF", mode=0o755)
    image.file("usr/lib/python3.11/os.py", "")
    site = "usr/lib/python3/dist-packages"
    info = image.dist(site, "pip", "23.0.1", {"pip/__init__.py": ""}, scripts=["pip3"], bin_dir="usr/bin", record=False)
    image.file(f"{info}/top_level.txt", "pip\n")
    plan = RemoveInstallers().plan(image.ctx(RemoveInstallers, ON))
    assert removed(plan) == {f"{site}/pip", info, "usr/bin/pip3"}


def test_keep_dist_info_leaves_the_metadata(image: FakeImage) -> None:
    image.python()
    info = with_pip(image)
    plan = RemoveInstallers().plan(image.ctx(RemoveInstallers, {"enabled": True, "keep_dist_info": True}))
    assert f"{SP}/pip" in removed(plan)
    assert not any(p.startswith(info) for p in removed(plan))
    assert plan.notes == ("kept the metadata of removed pip (keep_dist_info = true)",)


def test_a_venv_seeing_system_site_packages_protects_the_base(image: FakeImage) -> None:
    image.python()
    tools = image.dist(SP, "setuptools", "69.0", {"setuptools/__init__.py": ""})
    venv_site = "opt/venv/lib/python3.11/site-packages"
    image.file("opt/venv/pyvenv.cfg", "home = /usr/local/bin\ninclude-system-site-packages = true\nversion = 3.11.9\n")
    image.dist(venv_site, "old-plugin", "1.0", {"old_plugin.py": ""}, requires=["setuptools"])
    plan = RemoveInstallers().plan(image.ctx(RemoveInstallers, ON))
    assert not any("setuptools" in p for p in removed(plan))
    assert skipped(plan)[tools] == "kept setuptools 69.0: required by old-plugin 1.0"
