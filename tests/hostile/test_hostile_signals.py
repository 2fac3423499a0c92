"""Ctrl-C and SIGTERM in the middle of writing, and two runs on one source at once: real child processes
(``python -m harden``) on a ~300 MB archive, so that writing takes long enough to be interrupted.

An interrupted run exits 130 (SIGINT) or 143 (SIGTERM) with one line, leaves no output (not even a
``.partial`` file), no workspace, no temp file, and the input unchanged. Two concurrent runs on the same source
do not disturb each other: both succeed and, harden being deterministic, write the same bytes."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hostile.hostile_scene import Scene
from imagefactory import directory, file, write_docker_archive, write_layer_tar

BIG_FILES = 300
POLL_SECONDS = 0.005
DEADLINE_SECONDS = 120


@pytest.fixture(scope="module")
def big_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~300 MB of random content in 1 MiB files (random: nothing dedupes or compresses away)."""
    folder = tmp_path_factory.mktemp("big")
    layer = folder / "layer.tar"
    write_layer_tar(layer, [directory("data"),
                            *(file(f"data/blob{i:03d}.bin", os.urandom(1 << 20)) for i in range(BIG_FILES))])
    archive = write_docker_archive(folder / "big.tar", [layer], repo_tags=["big/image:1"])
    layer.unlink()
    return archive


def place(scene: Scene, archive: Path) -> Path:
    """The big archive in the scene's input folder (a hardlink: no copy of 300 MB per test)."""
    target = scene.inputs / archive.name
    os.link(archive, target)
    return target


def wait_for(found: Callable[[], bool], proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not found():
        assert proc.poll() is None, "harden finished before it could be interrupted"
        assert time.monotonic() < deadline, "harden never reached the point to interrupt"
        time.sleep(POLL_SECONDS)


def writing_layer(scene: Scene) -> bool:
    """The squashed layer is being written in the workspace (``.layer.tar.*.tmp``, then ``layer.tar``, in the
    platform's folder)."""
    return any(p.name.startswith(".layer.tar.") or p.name == "layer.tar" for p in scene.work.rglob("*layer.tar*"))


def writing_output(scene: Scene) -> bool:
    """The output is being written next to its destination (``.out.tar.*.partial``)."""
    return any(p.name.startswith(".out.tar.") for p in scene.out.iterdir())


@pytest.mark.parametrize("phase", ["layer", "output"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_run_leaves_nothing(scene: Scene, big_archive: Path, signum: int, phase: str) -> None:
    archive = place(scene, big_archive)
    before = scene.snapshot()
    out = scene.out / "out.tar"
    proc = scene.spawn("image", f"docker-archive:{archive}", "--no-verify", "--jobs", "1",
                       "--output", f"docker-archive:{out}", "--report-dir", str(scene.reports / "r"))
    try:
        wait_for(lambda: (writing_layer if phase == "layer" else writing_output)(scene), proc)
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=DEADLINE_SECONDS)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 128 + signum, stderr
    what = "interrupted" if signum == signal.SIGINT else "terminated by SIGTERM"
    assert stderr.splitlines() == [f"harden: {what}; nothing was written"], stderr
    assert stdout == ""
    assert not out.exists()
    assert scene.check_after(before) == set(), "an interrupted run must leave no output, report or temp file"


def test_two_runs_on_one_source_at_once(scene: Scene, big_archive: Path) -> None:
    archive = place(scene, big_archive)
    before = scene.snapshot()
    procs = [scene.spawn("image", f"docker-archive:{archive}", "--no-verify", "--jobs", "1",
                         "--output", f"docker-archive:{scene.out / f'out-{n}.tar'}:hardened/image:{n}",
                         "--report-dir", str(scene.reports / f"r{n}"))
             for n in (1, 2)]
    results = [proc.communicate(timeout=DEADLINE_SECONDS) for proc in procs]
    for proc, (_, stderr) in zip(procs, results, strict=True):
        assert proc.returncode == 0, stderr
    created = scene.check_after(before)
    assert {p.split("/")[1] for p in created if p.startswith("out/")} == {"out-1.tar", "out-2.tar"}
    assert {p.split("/")[1] for p in created if p.startswith("reports/")} == {"r1", "r2"}
    one, two = (scene.out / "out-1.tar").read_bytes(), (scene.out / "out-2.tar").read_bytes()
    assert len(one) == len(two) > BIG_FILES << 20
    assert one.replace(b"hardened/image:1", b"hardened/image:2") == two, "same source, same policy: same image"
