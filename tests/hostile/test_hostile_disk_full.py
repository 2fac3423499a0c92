"""A disk that fills up (ENOSPC) or a quota that runs out (EDQUOT), end to end through the CLI.

Wherever it happens, the run ends with exit 3 (environment) and one line naming the filesystem, the step and
the space it has free (measured after the workspace was removed: what a run can use there), with what to do:
``HARDEN_WORKDIR`` on a larger disk, or a lower ``--max-image-size``. The workspace is gone afterwards.

The first tests simulate the error in-process, so they run anywhere; the last ones put the workspace on a real
20 MiB tmpfs (root only: skipped, with the reason, where no tmpfs can be mounted)."""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from harden.image.blobs import BlobStore
from hostile.hostile_scene import Run, Scene
from hostile.hostile_support import MIB, archive_with_layer_gz, base_layer, harden_to_archive, zeros_layer_gz
from imagefactory import big_file, diff_id, gzip_bytes, make_layer_tar

FREE = re.compile(r": ([\d.]+) (KiB|MiB|GiB|TiB) free; ")
HINT = "set HARDEN_WORKDIR to a larger disk or lower --max-image-size"


@pytest.fixture(autouse=True)
def _no_limit_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARDEN_MAX_IMAGE_BYTES", raising=False)


def mount_of(path: Path) -> Path:
    path = path.resolve()
    while not os.path.ismount(path):
        path = path.parent
    return path


def disk_full(run: Run) -> str:
    assert run.exit_code == 3, run.stdout + run.stderr
    line = run.error_line
    assert HINT in line and FREE.search(line), line
    assert run.created == set() and run.stdout == ""
    return line


def failing_with(code: int, filename: str | None = None) -> Any:
    def fail(*args: object, **kwargs: object) -> NoReturn:
        raise OSError(code, os.strerror(code), *([filename] if filename else []))

    return fail


# -- simulated ------------------------------------------------------------------------------------------------
def test_disk_full_while_merging(scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = archive_with_layer_gz(scene, zeros_layer_gz(2, MIB))  # compressed: its files are copied
    monkeypatch.setattr(BlobStore, "put_stream", failing_with(errno.ENOSPC))
    line = disk_full(harden_to_archive(scene, archive))
    assert line.startswith(f"harden: error: no space left on {mount_of(scene.work)} while writing under "
                           f"{scene.work} (step 'merge 2 layers'): ")


def test_quota_exceeded_while_writing_the_layer(scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("harden.image.writer.write_planned", failing_with(errno.EDQUOT))
    line = disk_full(harden_to_archive(scene, scene.archive([base_layer()])))
    assert line.startswith(f"harden: error: disk quota exceeded on {mount_of(scene.work)} while writing under "
                           f"{scene.work} (step 'write layer'): ")


def test_a_named_file_names_its_own_filesystem(scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    target = scene.out / "somewhere" / "big.tar"
    monkeypatch.setattr("harden.image.writer.write_planned", failing_with(errno.ENOSPC, str(target)))
    line = disk_full(harden_to_archive(scene, scene.archive([base_layer()])))
    assert f"no space left on {mount_of(scene.out)} while writing {target} (step 'write layer')" in line


def test_disk_full_in_report(scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = archive_with_layer_gz(scene, zeros_layer_gz(2, MIB))
    monkeypatch.setattr(BlobStore, "put_stream", failing_with(errno.ENOSPC))
    run = scene.run("report", f"docker-archive:{archive}", "--report-dir", str(scene.reports / "r"))
    assert "(step 'merge 2 layers')" in disk_full(run)


def test_no_room_for_the_workspace_itself(scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not even the workspace folder can be created: a full disk too, not a usage error."""
    real_mkdir = Path.mkdir

    def mkdir(self: Path, *args: Any, **kwargs: Any) -> None:
        if self.parent == scene.work:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    line = disk_full(harden_to_archive(scene, scene.archive([base_layer()])))
    assert f"no space left on {mount_of(scene.work)} while writing {scene.work}/harden-" in line
    assert "(step" not in line


def test_other_os_errors_stay_internal_errors(scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a full disk or quota is mapped: an I/O error is still a bug or a broken host (exit 4)."""
    monkeypatch.setattr("harden.image.writer.write_planned", failing_with(errno.EIO))
    run = harden_to_archive(scene, scene.archive([base_layer()]))
    assert run.exit_code == 4, run.stdout + run.stderr
    assert run.stderr.startswith("harden: internal error: OSError") and "no space" not in run.stderr


# -- a real small disk ----------------------------------------------------------------------------------------
@pytest.fixture
def small_disk(scene: Scene) -> Iterator[Scene]:
    """The scene with its workspace folder (HARDEN_WORKDIR) on a 20 MiB tmpfs, unmounted afterwards."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8); the simulated disk-full tests above still run")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m,mode=0700", "tmpfs", str(scene.work)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); the simulated tests above still run")
    try:
        yield scene
    finally:
        subprocess.run(["umount", str(scene.work)], check=True)


def forty_mib_image(scene: Scene) -> Path:
    """40 different files of 1 MiB in a gzip layer: merging copies them into the workspace (the store keeps
    one copy of equal contents, so they differ), twice what the disk holds."""
    layer = make_layer_tar([big_file(f"data/{i}.bin", MIB, fill=bytes([i + 1])) for i in range(40)])
    return archive_with_layer_gz(scene, (gzip_bytes(layer), diff_id(layer)))


def test_a_real_full_disk(small_disk: Scene) -> None:
    scene = small_disk
    line = disk_full(harden_to_archive(scene, forty_mib_image(scene), "--max-image-size", "1G"))
    assert line.startswith(f"harden: error: no space left on {scene.work} while writing under {scene.work} "
                           "(step 'merge 2 layers'): ")
    free = FREE.search(line)
    assert free and free.group(2) == "MiB" and float(free.group(1)) > 19, "measured after the workspace was removed"
    assert list(scene.work.iterdir()) == []


def test_the_default_limit_follows_the_free_space(small_disk: Scene) -> None:
    """Without --max-image-size, an image whose layers alone would not fit on the workspace's disk is refused
    as too large before it fills it."""
    scene = small_disk
    run = harden_to_archive(scene, forty_mib_image(scene))
    assert run.exit_code == 3, run.stdout + run.stderr
    line = run.error_line
    assert "over the 18.0 MiB limit on an image's uncompressed size (the default: the 20.0 MiB free on " \
           f"{scene.work} less a margin)" in line
    assert line.endswith("raise it with --max-image-size SIZE or HARDEN_MAX_IMAGE_BYTES, "
                         "or set HARDEN_WORKDIR to a larger disk")
