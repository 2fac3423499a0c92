"""Where the bytes are: each file in one category, by path (and ELF debug sections as debug symbols)."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest
from report_support import build_image

from harden.image.blobs import BlobStore
from harden.report.categories import CATEGORIES, classify_path, size_by_category
from imagefactory import file, hardlink, symlink

SITE = "usr/local/lib/python3.11/site-packages"


@pytest.mark.parametrize(("path", "category"), [
    (f"{SITE}/pandas/__pycache__/frame.cpython-311.pyc", "bytecode"),
    ("usr/lib/python3.11/json/__pycache__/x.pyc", "bytecode"),
    (f"{SITE}/pandas/tests/frame/test_api.py", "tests"),
    ("usr/lib/python3.11/test/test_os.py", "tests"),
    ("usr/lib/python3.11/idlelib/idle_test/x.py", "tests"),
    (f"{SITE}/conftest.py", "tests"),
    (f"{SITE}/numpy/testing/__init__.py", None),  # a runtime module, not a test suite
    (f"{SITE}/pandas/_testing/__init__.py", None),
    ("opt/app/tests/test_app.py", None),  # not in a Python library directory
    ("usr/share/doc/bash/copyright", "docs"),
    ("usr/share/man/man1/ls.1.gz", "docs"),
    ("usr/lib/debug/.build-id/ab/cd.debug", "debug-symbols"),
    ("bin/bash", "shells"),
    ("usr/bin/dash", "shells"),
    ("usr/share/bash-completion/bash", None),
    (f"{SITE}/pip/__init__.py", "installers"),
    (f"{SITE}/setuptools-70.0.0.dist-info/METADATA", "installers"),
    ("usr/local/bin/pip3.11", "installers"),
    ("usr/bin/apt-get", "installers"),
    ("usr/lib/python3.11/ensurepip/__init__.py", "installers"),
    (f"{SITE}/pipx_helper/x.py", None),
])
def test_classify_path(path: str, category: str | None) -> None:
    assert classify_path(PurePosixPath(path)) == category


def test_sizes_add_up_and_duplicates_are_found(blobs: BlobStore) -> None:
    layers = [[
        file(f"{SITE}/a/data.bin", b"d" * 1000),
        file(f"{SITE}/b/data.bin", b"d" * 1000),  # same content, second in path order: a duplicate
        hardlink(f"{SITE}/c/data.bin", f"{SITE}/a/data.bin"),  # a hardlink costs nothing
        file(f"{SITE}/a/__pycache__/m.pyc", b"p" * 300),
        file("usr/share/doc/x/README", b"r" * 40),
        file("bin/sh", b"s" * 70, mode=0o755),
        symlink("bin/bash", "sh"),
        file("empty-1", b""), file("empty-2", b""),  # empty files are never duplicates
    ]]
    _, rootfs = build_image(layers, blobs)
    sizes = size_by_category(rootfs)
    assert list(sizes) == list(CATEGORIES)
    assert sizes["duplicates"].bytes == 1000 and sizes["duplicates"].files == 1
    assert sizes["bytecode"].bytes == 300 and sizes["docs"].bytes == 40
    assert sizes["shells"].files == 2 and sizes["shells"].bytes == 70
    assert sum(s.bytes for s in sizes.values()) == rootfs.content_bytes()
