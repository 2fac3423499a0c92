"""Atomic outputs: the destination appears whole or not at all, and no temp path survives a failure — not even
a signal that lands right after the system call that created the temp path (the CI race that leaked a
``.partial`` file when the temp file was created before its cleanup was armed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import harden.atomic as atomic
from harden.atomic import atomic_dir, atomic_file
from harden.errors import UsageError


def interrupt_after(create: Callable[[Path], None]) -> Callable[[Path], None]:
    def created_then_interrupted(path: Path) -> None:
        create(path)
        assert path.exists()
        raise KeyboardInterrupt

    return created_then_interrupted


def test_file_replaces_the_destination_on_success(tmp_path: Path) -> None:
    dest = tmp_path / "out.tar"
    dest.write_bytes(b"old")
    with atomic_file(dest) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".out.tar.") and tmp.name.endswith(".partial")
        tmp.write_bytes(b"new")
        assert dest.read_bytes() == b"old"
    assert dest.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tar"]


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_file_failure_keeps_the_old_destination_and_no_temp(tmp_path: Path, error: BaseException) -> None:
    dest = tmp_path / "out.tar"
    dest.write_bytes(b"old")
    with pytest.raises(type(error)), atomic_file(dest) as tmp:
        tmp.write_bytes(b"half")
        raise error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tar"]
    assert dest.read_bytes() == b"old"


@pytest.mark.parametrize("which", ["file", "dir"])
def test_signal_right_after_creation_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, which: str
) -> None:
    if which == "file":
        monkeypatch.setattr(atomic, "_create_file", interrupt_after(atomic._create_file))
        context = atomic_file(tmp_path / "out.tar")
    else:
        monkeypatch.setattr(atomic, "_create_dir", interrupt_after(atomic._create_dir))
        context = atomic_dir(tmp_path / "layout")
    with pytest.raises(KeyboardInterrupt), context:
        pytest.fail("the body must not run")
    assert list(tmp_path.iterdir()) == []


def test_a_taken_temp_name_is_skipped_and_never_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    taken = tmp_path / ".out.tar.taken.partial"
    taken.write_bytes(b"someone else's")
    names = iter([taken, tmp_path / ".out.tar.free.partial"])
    monkeypatch.setattr(atomic, "_temp_name", lambda parent, prefix, suffix: next(names))
    with pytest.raises(RuntimeError), atomic_file(tmp_path / "out.tar") as tmp:
        assert tmp.name == ".out.tar.free.partial"
        raise RuntimeError
    assert sorted(p.name for p in tmp_path.iterdir()) == [taken.name]
    assert taken.read_bytes() == b"someone else's"


def test_dir_replaces_an_oci_layout_and_cleans_the_old_one(tmp_path: Path) -> None:
    dest = tmp_path / "layout"
    dest.mkdir()
    (dest / "oci-layout").write_text("{}")
    with atomic_dir(dest) as tmp:
        (tmp / "oci-layout").write_text('{"new": 1}')
    assert (dest / "oci-layout").read_text() == '{"new": 1}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["layout"]


def test_dir_never_replaces_an_unrelated_directory(tmp_path: Path) -> None:
    dest = tmp_path / "photos"
    dest.mkdir()
    (dest / "cat.jpg").write_bytes(b"meow")
    with pytest.raises(UsageError, match="not an OCI image layout"), atomic_dir(dest):
        pytest.fail("the body must not run")
    assert (dest / "cat.jpg").read_bytes() == b"meow"


def test_missing_parent_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"), atomic_file(tmp_path / "nope" / "out.tar"):
        pytest.fail("the body must not run")
