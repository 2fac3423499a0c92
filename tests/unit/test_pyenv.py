from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from harden.image.blobs import BlobStore
from harden.image.model import EntryType, FileEntry, ImageConfig, Rootfs
from harden.pyenv import PythonEnv, find_distributions, find_python_envs, normalize_name

P = PurePosixPath


class Tree:
    def __init__(self, root: Path) -> None:
        self.blobs = BlobStore(root)
        self.entries: dict[PurePosixPath, FileEntry] = {}

    def _parents(self, path: PurePosixPath) -> None:
        for parent in path.parents:
            if parent != P(".") and parent not in self.entries:
                self.entries[parent] = FileEntry(parent, EntryType.DIR, mode=0o755)

    def file(self, path: str, content: str = "", mode: int = 0o644) -> None:
        digest, size = self.blobs.put_bytes(content.encode())
        self._parents(P(path))
        self.entries[P(path)] = FileEntry(P(path), EntryType.FILE, mode=mode, size=size, digest=digest)

    def dir(self, path: str) -> None:
        self._parents(P(path))
        self.entries[P(path)] = FileEntry(P(path), EntryType.DIR, mode=0o755)

    def symlink(self, path: str, target: str) -> None:
        self._parents(P(path))
        self.entries[P(path)] = FileEntry(P(path), EntryType.SYMLINK, mode=0o777, linkname=target)

    def rootfs(self) -> Rootfs:
        return Rootfs(self.entries)


def config(**container: Any) -> ImageConfig:
    return ImageConfig({"config": container})


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path)


def official_python(tree: Tree, prefix: str = "usr/local", version: str = "3.11") -> None:
    tree.file(f"{prefix}/bin/python{version}", "ELF", mode=0o755)
    tree.symlink(f"{prefix}/bin/python3", f"python{version}")
    tree.file(f"{prefix}/lib/python{version}/os.py")
    tree.dir(f"{prefix}/lib/python{version}/site-packages")


def test_official_image_layout(tree: Tree) -> None:
    official_python(tree)
    envs = find_python_envs(tree.rootfs(), config(Env=["PATH=/usr/local/bin:/usr/bin"]), tree.blobs)
    assert envs == (
        PythonEnv(
            interpreter=P("usr/local/bin/python3.11"),
            version="3.11",
            prefix=P("usr/local"),
            stdlib_dir=P("usr/local/lib/python3.11"),
            site_packages=(P("usr/local/lib/python3.11/site-packages"),),
            is_venv=False,
        ),
    )


def test_debian_system_python_sees_dist_packages(tree: Tree) -> None:
    tree.file("usr/bin/python3.11", "ELF", mode=0o755)
    tree.symlink("usr/bin/python3", "python3.11")
    tree.file("usr/lib/python3.11/os.py")
    tree.dir("usr/lib/python3/dist-packages")
    tree.dir("usr/local/lib/python3.11/dist-packages")
    [env] = find_python_envs(tree.rootfs(), config(), tree.blobs)
    assert env.interpreter == P("usr/bin/python3.11")
    assert env.prefix == P("usr")
    assert env.site_packages == (
        P("usr/lib/python3/dist-packages"),
        P("usr/local/lib/python3.11/dist-packages"),
    )


def test_venv_on_path_comes_first_and_borrows_the_base_stdlib(tree: Tree) -> None:
    official_python(tree)
    tree.file(
        "opt/venv/pyvenv.cfg",
        "home = /usr/local/bin\ninclude-system-site-packages = false\nversion = 3.11.9\n",
    )
    tree.symlink("opt/venv/bin/python", "/usr/local/bin/python3.11")
    tree.symlink("opt/venv/bin/python3", "python")
    tree.dir("opt/venv/lib/python3.11/site-packages")
    envs = find_python_envs(tree.rootfs(), config(Env=["PATH=/opt/venv/bin:/usr/local/bin"]), tree.blobs)
    assert [e.prefix for e in envs] == [P("opt/venv"), P("usr/local")]
    venv = envs[0]
    assert venv.is_venv and not venv.system_site_packages
    assert venv.interpreter == P("opt/venv/bin/python3")
    assert venv.stdlib_dir == P("usr/local/lib/python3.11")
    assert venv.site_packages == (P("opt/venv/lib/python3.11/site-packages"),)


def test_venv_version_from_its_lib_dir_without_blobs(tree: Tree) -> None:
    tree.file("srv/app/.venv/pyvenv.cfg", "home = /usr/bin\n")
    tree.dir("srv/app/.venv/lib/python3.12/site-packages")
    [env] = find_python_envs(tree.rootfs(), config())
    assert (env.prefix, env.version, env.is_venv, env.stdlib_dir) == (P("srv/app/.venv"), "3.12", True, None)


def test_orphan_site_packages_become_an_environment(tree: Tree) -> None:
    official_python(tree)
    tree.dir("opt/deps/lib/python3.11/site-packages/numpy")
    envs = find_python_envs(tree.rootfs(), config(), tree.blobs)
    orphan = next(e for e in envs if e.prefix == P("opt/deps"))
    assert orphan.site_packages == (P("opt/deps/lib/python3.11/site-packages"),)
    assert orphan.interpreter is None and orphan.stdlib_dir is None and not orphan.is_venv


def test_merged_usr_symlinks_do_not_duplicate_environments(tree: Tree) -> None:
    tree.symlink("lib", "usr/lib")
    tree.symlink("bin", "usr/bin")
    tree.file("usr/bin/python3.11", "ELF", mode=0o755)
    tree.file("usr/lib/python3.11/os.py")
    envs = find_python_envs(tree.rootfs(), config(Entrypoint=["/bin/python3.11", "app.py"]), tree.blobs)
    assert len(envs) == 1
    assert envs[0].prefix == P("usr")


def test_interpreter_named_only_by_the_config(tree: Tree) -> None:
    tree.file("opt/py/bin/python3.13", "ELF", mode=0o755)
    tree.dir("opt/py/lib/python3.13/site-packages")
    envs = find_python_envs(tree.rootfs(), config(Entrypoint=["/opt/py/bin/python3.13"]), tree.blobs)
    assert envs[0].interpreter == P("opt/py/bin/python3.13")
    assert envs[0].version == "3.13"


def test_no_python_at_all(tree: Tree) -> None:
    tree.file("bin/busybox", "ELF", mode=0o755)
    assert find_python_envs(tree.rootfs(), config(), tree.blobs) == ()


def test_distributions_from_record_metadata_and_egg_info(tree: Tree) -> None:
    official_python(tree)
    site = "usr/local/lib/python3.11/site-packages"
    tree.file(f"{site}/pip/__init__.py")
    tree.file("usr/local/bin/pip", "#!/usr/local/bin/python3.11\n")
    tree.file(
        f"{site}/pip-24.0.dist-info/METADATA",
        "Metadata-Version: 2.1\nName: pip\nVersion: 24.0\n\nbody\nName: not-a-header\n",
    )
    tree.file(
        f"{site}/pip-24.0.dist-info/RECORD",
        "pip/__init__.py,sha256=x,1\n../../../bin/pip,,\npip-24.0.dist-info/RECORD,,\n"
        '"pip/odd, name.py",,\n../../../../../etc/passwd,,\n/etc/shadow,,\n',
    )
    tree.file(f"{site}/pip-24.0.dist-info/entry_points.txt", "[console_scripts]\npip = pip:main\npip3 = pip:main\n")
    tree.file(
        f"{site}/Sphinx_Ext-2.0.dist-info/METADATA",
        "Name: Sphinx_Ext\nVersion: 2.0\nRequires-Dist: setuptools>=40; python_version >= '3'\n"
        "Requires-Dist: pytest ; extra == 'test'\nRequires-Dist: Zope.Interface (>=5)\n",
    )
    tree.file(f"{site}/Sphinx_Ext-2.0.dist-info/top_level.txt", "sphinx_ext\n")
    tree.file(f"{site}/legacy-1.0-py3.11.egg-info/PKG-INFO", "Name: legacy\nVersion: 1.0\n")
    tree.file(
        f"{site}/legacy-1.0-py3.11.egg-info/requires.txt",
        "six\n[docs]\nsphinx\n[:sys_platform == 'linux']\nattrs\n",
    )
    tree.file(f"{site}/oneline-0.1.egg-info", "Metadata-Version: 1.0\nName: oneline\nVersion: 0.1\n")
    [env] = find_python_envs(tree.rootfs(), config(), tree.blobs)
    dists = {d.key: d for d in find_distributions(tree.rootfs(), env, tree.blobs)}
    assert sorted(dists) == ["legacy", "oneline", "pip", "sphinx-ext"]
    pip = dists["pip"]
    assert (pip.name, pip.version, pip.has_record) == ("pip", "24.0", True)
    assert P("usr/local/bin/pip") in pip.files
    assert P(f"{site}/pip/odd, name.py") in pip.files
    assert pip.rejected_files == ("../../../../../etc/passwd", "/etc/shadow")
    assert pip.console_scripts == ("pip", "pip3")
    assert dists["sphinx-ext"].requires == ("setuptools", "zope-interface")
    assert dists["sphinx-ext"].top_level == ("sphinx_ext",)
    assert dists["legacy"].requires == ("six", "attrs")
    assert dists["oneline"].version == "0.1"
    cached = [str(path) for path in tree.entries if getattr(path, "_pparts", None) is not None]
    assert not cached, f"a parts tuple stays cached on every path the search looked at: {cached[:3]}"


def test_normalize_name() -> None:
    assert normalize_name("Zope.Interface__x") == "zope-interface-x"
