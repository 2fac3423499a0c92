"""Atomic outputs: the destination appears whole or not at all, and no temp path survives a failure — not even
a signal that lands right after the system call that created the temp path (the CI race that leaked a
``.partial`` file when the temp file was created before its cleanup was armed)."""

from __future__ import annotations

import errno
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import harden.atomic as atomic
from harden.atomic import Publication, atomic_dir, atomic_file
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
        monkeypatch.setattr(atomic, "_create_public_file", interrupt_after(atomic._create_public_file))
        context = atomic_file(tmp_path / "out.tar")
    else:
        monkeypatch.setattr(atomic, "_create_public_dir", interrupt_after(atomic._create_public_dir))
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


# -- a publication: several outputs, all or nothing -------------------------------------------------------
def tree(root: Path) -> dict[str, bytes | None]:
    """Every path below ``root`` (hidden ones included) with its content; None for a directory."""
    return {p.relative_to(root).as_posix(): None if p.is_dir() else p.read_bytes()
            for p in sorted(root.rglob("*"))}


@pytest.fixture
def previous(tmp_path: Path) -> dict[str, bytes | None]:
    """An earlier run's outputs: a docker-archive ``a.tar`` and an OCI layout ``layout``; ``c.tar`` is new."""
    (tmp_path / "a.tar").write_bytes(b"old a")
    (tmp_path / "layout").mkdir()
    (tmp_path / "layout" / "oci-layout").write_bytes(b"old layout")
    return tree(tmp_path)


def stage_all(publication: Publication, root: Path) -> None:
    publication.stage_file(root / "a.tar").write_bytes(b"new a")
    (publication.stage_dir(root / "layout") / "oci-layout").write_bytes(b"new layout")
    publication.stage_file(root / "c.tar").write_bytes(b"new c")


NEW = {"a.tar": b"new a", "c.tar": b"new c", "layout": None, "layout/oci-layout": b"new layout"}


def test_publication_commits_every_output(tmp_path: Path, previous: dict[str, bytes | None]) -> None:
    with Publication() as publication:
        stage_all(publication, tmp_path)
        assert tree(tmp_path).items() >= previous.items(), "staging changes no destination"
        publication.commit()
        assert {p.name for p in tmp_path.iterdir() if p.name.endswith(".old")}, "previous outputs kept until the end"
    assert tree(tmp_path) == NEW


def test_leaving_the_block_commits(tmp_path: Path, previous: dict[str, bytes | None]) -> None:
    with Publication() as publication:
        stage_all(publication, tmp_path)
    assert tree(tmp_path) == NEW


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()])
def test_a_failure_while_staging_the_second_changes_nothing(
    tmp_path: Path, previous: dict[str, bytes | None], error: BaseException
) -> None:
    with pytest.raises(type(error)), Publication() as publication:
        publication.stage_file(tmp_path / "a.tar").write_bytes(b"new a")
        (publication.stage_dir(tmp_path / "layout") / "oci-layout").write_bytes(b"half")
        raise error
    assert tree(tmp_path) == previous


def test_an_unusable_second_destination_changes_nothing(tmp_path: Path, previous: dict[str, bytes | None]) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"meow")
    before = tree(tmp_path)
    with pytest.raises(UsageError, match="photos exists and is not an OCI image layout"), \
            Publication() as publication:
        publication.stage_file(tmp_path / "a.tar").write_bytes(b"new a")
        publication.stage_dir(tmp_path / "photos")
    assert tree(tmp_path) == before


def test_the_same_destination_twice_is_refused(tmp_path: Path) -> None:
    (tmp_path / "alias").symlink_to(tmp_path)
    with pytest.raises(UsageError, match="written twice"), Publication() as publication:
        publication.stage_file(tmp_path / "a.tar")
        publication.stage_file(tmp_path / "alias" / "a.tar")
    assert [p.name for p in tmp_path.iterdir()] == ["alias"]


def fail_replacing(monkeypatch: pytest.MonkeyPatch, dest: Path, error: BaseException) -> None:
    """``os.replace`` fails the first time it would move something onto ``dest`` (only then)."""
    real_replace = os.replace
    failed = False

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        nonlocal failed
        if Path(dst) == dest and not failed:
            failed = True
            raise error
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)


@pytest.mark.parametrize("error", [OSError(errno.EIO, "Input/output error"), KeyboardInterrupt()])
@pytest.mark.parametrize("second", ["layout", "c.tar"])
def test_a_failed_commit_of_the_second_restores_the_first(
    tmp_path: Path, previous: dict[str, bytes | None], monkeypatch: pytest.MonkeyPatch, error: BaseException,
    second: str,
) -> None:
    fail_replacing(monkeypatch, tmp_path / second, error)
    with pytest.raises(type(error)), Publication() as publication:
        stage_all(publication, tmp_path)
        publication.commit()
    assert tree(tmp_path) == previous


def test_a_failure_after_the_commit_takes_every_output_back(
    tmp_path: Path, previous: dict[str, bytes | None]
) -> None:
    with pytest.raises(RuntimeError, match="the engine refused the tag"), Publication() as publication:
        stage_all(publication, tmp_path)
        publication.commit()
        assert tree(tmp_path).items() >= NEW.items()
        raise RuntimeError("the engine refused the tag")
    assert tree(tmp_path) == previous


STEPS = 9
"""More than the calls a commit of ``stage_all`` makes: two per output set aside (``mkdir`` of its ``.old``, then
a link or rename), one rename per output."""


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("step", range(STEPS))
def test_a_signal_at_any_step_of_the_commit_restores_everything(
    tmp_path: Path, previous: dict[str, bytes | None], monkeypatch: pytest.MonkeyPatch, step: int, when: str
) -> None:
    """Ctrl-C right before or right after each ``mkdir``, link or rename of the commit: the previous outputs
    come back whole and no temp path is left (a ``step`` past the last call: the commit completes)."""
    calls = 0

    def interruptible(real: Callable[..., None]) -> Callable[..., None]:
        def call(*args: object, **kwargs: object) -> None:
            nonlocal calls
            calls += 1
            if calls == step + 1 and when == "before":
                raise KeyboardInterrupt
            real(*args, **kwargs)
            if calls == step + 1:
                raise KeyboardInterrupt

        return call

    interrupted = False
    try:
        with Publication() as publication:
            stage_all(publication, tmp_path)
            monkeypatch.setattr(os, "replace", interruptible(os.replace))
            monkeypatch.setattr(os, "link", interruptible(os.link))
            monkeypatch.setattr(atomic, "_create_dir", interruptible(atomic._create_dir))
            publication.commit()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        monkeypatch.undo()
    assert tree(tmp_path) == (previous if interrupted else NEW)
    assert interrupted == (step < 7), f"the commit made {calls} calls"


@pytest.mark.parametrize("error", [OSError(errno.EIO, "Input/output error"), KeyboardInterrupt()])
def test_a_previous_output_that_cannot_be_restored_is_kept(
    tmp_path: Path, previous: dict[str, bytes | None], monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, error: BaseException,
) -> None:
    """Should even the rollback fail, the previous layout is never deleted (it stays in its ``.old`` folder)
    and the other outputs are still taken back."""
    with pytest.raises(RuntimeError), Publication() as publication:
        stage_all(publication, tmp_path)
        publication.commit()
        fail_replacing(monkeypatch, tmp_path / "layout", error)
        raise RuntimeError("the tag failed")
    kept = [p for p in tmp_path.iterdir() if p.name.endswith(".old")]
    assert len(kept) == 1 and (kept[0] / "previous" / "oci-layout").read_bytes() == b"old layout"
    assert "its previous content is kept in" in caplog.text
    assert (tmp_path / "a.tar").read_bytes() == b"old a" and not (tmp_path / "c.tar").exists()


def test_a_second_ctrl_c_waits_until_the_rollback_is_done(
    tmp_path: Path, previous: dict[str, bytes | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user presses Ctrl-C again while the first one is being cleaned up: the rollback still completes,
    then the second interrupt arrives."""
    real_undo = atomic._undo

    def undo_pressing_ctrl_c(entry: atomic._Staged) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        real_undo(entry)

    monkeypatch.setattr(atomic, "_undo", undo_pressing_ctrl_c)
    with pytest.raises(KeyboardInterrupt), Publication() as publication:
        stage_all(publication, tmp_path)
        publication.commit()
        raise KeyboardInterrupt
    assert tree(tmp_path) == previous


def test_a_rollback_cut_short_never_deletes_a_previous_output(
    tmp_path: Path, previous: dict[str, bytes | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should the rollback itself be stopped before it restored anything, the previous outputs survive in their
    ``.old`` folders (and nothing else is left: no temp path, no empty folder)."""
    def cut_short(self: Publication) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Publication, "_roll_back", cut_short)
    with pytest.raises(KeyboardInterrupt), Publication() as publication:
        stage_all(publication, tmp_path)
        publication.commit()
        raise RuntimeError("the tag failed")
    kept = sorted(p for p in tmp_path.iterdir() if p.name.endswith(".old"))
    assert [p.name.split(".")[1] for p in kept] == ["a", "layout"]
    assert (kept[0] / "previous").read_bytes() == b"old a"
    assert tree(kept[1]) == {"previous": None, "previous/oci-layout": b"old layout"}
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_a_second_ctrl_c_waits_for_the_rollback_even_with_other_threads_running(
    tmp_path: Path, previous: dict[str, bytes | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """harden runs threads (a layer compressed on every core, an image streamed to the engine): the kernel may
    hand the second SIGINT to one of them, where this thread's blocked mask does not hold it back."""
    import threading

    stop = threading.Event()
    workers = [threading.Thread(target=stop.wait, daemon=True) for _ in range(4)]
    for worker in workers:
        worker.start()
    real_undo = atomic._undo

    def undo_pressing_ctrl_c(entry: atomic._Staged) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # time for another thread to take it and for the main thread to run its handler
        real_undo(entry)

    monkeypatch.setattr(atomic, "_undo", undo_pressing_ctrl_c)
    try:
        with pytest.raises(KeyboardInterrupt), Publication() as publication:
            stage_all(publication, tmp_path)
            publication.commit()
            raise KeyboardInterrupt
    finally:
        stop.set()
    assert tree(tmp_path) == previous
