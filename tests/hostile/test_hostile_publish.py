"""Several ``--output``s are published together, all or none.

Outputs that cannot be written are refused before any work (exit 2, one line naming the output): two outputs on
one path (after resolving symlinks), one inside the other, an ``oci:`` directory holding unrelated files, a file
output that is a directory, a missing folder, an output onto the input. Those run ``python -m harden`` as a
child process. An output that fails while it is being written (disk full: exit 3; Ctrl-C: 130; SIGTERM: 143),
a commit that fails halfway and a tag the engine refuses are injected in-process: every earlier output is
taken back (an earlier run's output at the same path comes back unchanged) and nothing is left behind."""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

import harden.engine
import harden.image.transports.daemon
import harden.image.transports.oci_layout
from harden.errors import InputError
from harden.image.workspace import Terminated
from hostile.hostile_scene import ERROR_PREFIX, Run, Scene
from hostile.hostile_support import base_layer

TIMEOUT_SECONDS = 120
EARLIER = b"an earlier run's output\n"


@pytest.fixture
def archive(scene: Scene) -> Path:
    return scene.archive([base_layer()])


def harden_args(scene: Scene, archive: Path, *outputs: str, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    args: list[str] = ["image", f"docker-archive:{archive}", "--no-verify", "--jobs", "1"]
    for output in outputs:
        args += ["--output", output]
    return (*args, "--report-dir", str(scene.reports / "r"), *extra)


def spawned(scene: Scene, args: tuple[str, ...]) -> tuple[int, str, str]:
    """``python -m harden ARGS`` in a child process: (exit code, stdout, stderr)."""
    proc = scene.spawn(*args)
    try:
        stdout, stderr = proc.communicate(timeout=TIMEOUT_SECONDS)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, stdout, stderr


# -- refused before any work --------------------------------------------------------------------------------
def same_path_through_a_symlink(scene: Scene, archive: Path) -> tuple[str, str]:
    (scene.out / "alias").symlink_to(scene.out)
    return f"oci-archive:{scene.out / 'alias' / 'a.tar'}", "writes the same path as --output docker-archive:"


def nested(scene: Scene, archive: Path) -> tuple[str, str]:
    return f"oci:{scene.out / 'a.tar' / 'layout'}", "are inside one another"


def unrelated_directory(scene: Scene, archive: Path) -> tuple[str, str]:
    (scene.out / "photos").mkdir()
    (scene.out / "photos" / "cat.jpg").write_bytes(b"meow")
    return f"oci:{scene.out / 'photos'}", "exists and is not an OCI image layout"


def a_file_where_a_layout_goes(scene: Scene, archive: Path) -> tuple[str, str]:
    (scene.out / "notes.txt").write_text("keep me")
    return f"oci:{scene.out / 'notes.txt'}", "exists and is not an OCI image layout"


def a_directory_where_a_file_goes(scene: Scene, archive: Path) -> tuple[str, str]:
    (scene.out / "folder").mkdir()
    return f"oci-archive:{scene.out / 'folder'}", "is a directory"


def missing_folder(scene: Scene, archive: Path) -> tuple[str, str]:
    return f"oci-archive:{scene.out / 'no' / 'b.tar'}", f"the folder {scene.out / 'no'} does not exist"


def onto_the_input(scene: Scene, archive: Path) -> tuple[str, str]:
    return f"docker-archive:{archive}", "would overwrite the source"


@pytest.mark.parametrize("second", [same_path_through_a_symlink, nested, unrelated_directory,
                                    a_file_where_a_layout_goes, a_directory_where_a_file_goes, missing_folder,
                                    onto_the_input])
def test_an_output_that_cannot_be_written_is_refused_before_any_work(
    scene: Scene, archive: Path, second: Callable[[Scene, Path], tuple[str, str]]
) -> None:
    output, reason = second(scene, archive)
    first = scene.out / "a.tar"
    before = scene.snapshot()
    code, stdout, stderr = spawned(scene, harden_args(scene, archive, f"docker-archive:{first}", output,
                                                 f"oci-archive:{scene.out / 'c.tar'}"))
    assert code == 2, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(ERROR_PREFIX), stderr
    assert f"--output {output}" in lines[0] and reason in lines[0], lines[0]
    assert stdout == ""
    assert not first.exists()
    assert scene.check_after(before) == set(), "a refused run writes nothing, not even its reports"


def test_outputs_are_checked_before_the_input_is_read(scene: Scene) -> None:
    """A truncated input and an unusable output: the output is refused first (exit 2, not 3)."""
    truncated = scene.inputs / "cut.tar"
    truncated.write_bytes(scene.archive([base_layer()], name="whole.tar").read_bytes()[:700])
    output, reason = unrelated_directory(scene, truncated)
    before = scene.snapshot()
    code, _, stderr = spawned(scene, harden_args(scene, truncated, f"docker-archive:{scene.out / 'a.tar'}", output))
    assert code == 2 and reason in stderr, stderr
    assert scene.check_after(before) == set()


# -- failing while publishing (injected in-process) ---------------------------------------------------------
def three_outputs(scene: Scene) -> tuple[Path, Path, Path]:
    """A docker-archive, then an OCI layout (the one made to fail), then an oci-archive."""
    return scene.out / "a.tar", scene.out / "layout", scene.out / "c.tar"


def run_three(scene: Scene, archive: Path, *extra: str) -> Run:
    first, second, third = three_outputs(scene)
    return scene.run(*harden_args(scene, archive, f"docker-archive:{first}", f"oci:{second}", f"oci-archive:{third}",
                             extra=extra))


def assert_nothing_published(scene: Scene, run: Run, earlier: bool) -> None:
    first, second, third = three_outputs(scene)
    if earlier:
        assert first.read_bytes() == EARLIER, "the earlier output must come back unchanged"
    else:
        assert not first.exists(), "the first output was published although the second failed"
    assert not second.exists() and not third.exists()
    assert sorted(p.name for p in scene.out.iterdir()) == (["a.tar"] if earlier else [])
    assert run.created == set(), "no output, report or temp path may be left"


FAILURES = [
    pytest.param(OSError(errno.ENOSPC, "No space left on device"), 3, id="disk-full"),
    pytest.param(KeyboardInterrupt(), 130, id="ctrl-c"),
    pytest.param(Terminated(signal.SIGTERM), 143, id="sigterm"),
]


def assert_failure_reported(run: Run, code: int, message: str) -> None:
    assert run.exit_code == code, run.stdout + run.stderr
    if code == 3:
        assert message in run.error_line
    else:
        what = "interrupted" if code == 130 else "terminated by SIGTERM"
        assert run.stderr == f"harden: {what}; nothing was written\n"


@pytest.mark.parametrize("earlier", [False, True], ids=["fresh", "replacing"])
@pytest.mark.parametrize(("error", "code"), FAILURES)
def test_a_second_output_failing_mid_write_publishes_nothing(
    scene: Scene, archive: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException, code: int, earlier: bool
) -> None:
    """The OCI layout (second of three outputs) fails halfway through its blobs."""
    if earlier:
        three_outputs(scene)[0].write_bytes(EARLIER)

    def half_written_layout(built: Any, staged: Path, **options: Any) -> str:
        assert staged.name.endswith(".partial"), "the layout must be staged in the run's publication"
        (staged / "blobs").mkdir()
        (staged / "blobs" / "half-a-layer").write_bytes(b"\0" * 4096)
        raise error

    monkeypatch.setattr(harden.image.transports.oci_layout, "write_built", half_written_layout)
    run = run_three(scene, archive)
    assert_failure_reported(run, code, f"cannot write --output oci:{scene.out / 'layout'}: No space left on device")
    assert_nothing_published(scene, run, earlier)


@pytest.mark.parametrize("earlier", [False, True], ids=["fresh", "replacing"])
@pytest.mark.parametrize(("error", "code"), FAILURES)
def test_a_commit_failing_halfway_takes_back_the_outputs_in_place(
    scene: Scene, archive: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException, code: int, earlier: bool
) -> None:
    """Every output was written; moving the second into place fails after the first was moved."""
    if earlier:
        three_outputs(scene)[0].write_bytes(EARLIER)
    second = three_outputs(scene)[1]
    real_replace = os.replace

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if Path(dst) == second:
            assert (scene.out / "a.tar").read_bytes() != EARLIER, "the first output should be in place by now"
            raise error
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    run = run_three(scene, archive)
    monkeypatch.undo()
    assert_failure_reported(run, code, "cannot publish the outputs")
    assert_nothing_published(scene, run, earlier)


class FakeEngine:
    """Just enough of an engine for ``--tag`` on an archive source: it loads, then refuses the tag."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
        self.removed: list[str] = []
        self.loaded = 0
        self.error = error
        monkeypatch.setattr(harden.engine, "connect", lambda: self)
        monkeypatch.setattr(harden.image.transports.daemon, "load_stream", self.load_stream)
        monkeypatch.setattr(harden.image.transports.daemon, "tag_image", self.tag_image)
        monkeypatch.setattr(harden.image.transports.daemon, "remove_image", self.removed.append)

    def close(self) -> None:
        pass

    def load_stream(self, body: Iterable[bytes], config_digest: str | None, what: str) -> str:
        """Take the whole docker-archive stream, as an engine does, before naming the image it made."""
        self.loaded = sum(len(chunk) for chunk in body)
        return "sha256:" + "ab" * 32

    def tag_image(self, image_id: str, tag: str) -> None:
        raise self.error


@pytest.mark.parametrize("earlier", [False, True], ids=["fresh", "replacing"])
@pytest.mark.parametrize(("error", "code"), [
    pytest.param(InputError("the engine refused to tag the image"), 3, id="refused"),
    pytest.param(KeyboardInterrupt(), 130, id="ctrl-c"),
])
def test_a_failed_tag_takes_back_every_output(
    scene: Scene, archive: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException, code: int, earlier: bool
) -> None:
    """The tag comes last, after every output is in place; when it fails, the outputs are taken back too."""
    if earlier:
        three_outputs(scene)[0].write_bytes(EARLIER)
    engine = FakeEngine(monkeypatch, error)
    run = run_three(scene, archive, "--tag", "hardened/image:1")
    assert_failure_reported(run, code, "the engine refused to tag the image")
    assert_nothing_published(scene, run, earlier)
    assert engine.loaded > 0, "the image was streamed to the engine"
    assert engine.removed == ["sha256:" + "ab" * 32], "the untagged image must be removed from the engine"


def test_outputs_replace_earlier_ones_without_leftovers(scene: Scene, archive: Path) -> None:
    first, second, third = three_outputs(scene)
    first.write_bytes(EARLIER)
    second.mkdir()
    (second / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (second / "index.json").write_text("{}")
    run = run_three(scene, archive)
    assert run.exit_code == 0, run.stderr
    assert first.read_bytes() != EARLIER and (second / "blobs").is_dir() and third.is_file()
    assert sorted(p.name for p in scene.out.iterdir()) == ["a.tar", "c.tar", "layout"]
