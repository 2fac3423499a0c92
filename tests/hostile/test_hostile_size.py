"""Decompression bombs, end to end through the CLI: 1 MB gzip layers that expand to 1 GiB (many files, one
huge file, zeros after the tar's end), a compressed outer archive that does the same, a tar entry that declares
more bytes than the limit, and a sparse entry whose holes would expand past it; plus how the limit is set
(``--max-image-size``, ``HARDEN_MAX_IMAGE_BYTES``) and what is refused as a size.

Each refusal is exit 3 with one line naming the layer (index and short digest), what it expanded to so far
against its compressed size, the limit and how to raise it. The run stops at the read that crosses the limit
(or at the header of an entry that cannot fit): the number it reports is at most one read past the limit, never
the 1 GiB the layer holds, and the scene checks that no workspace or temp file is left and that the input is
unchanged."""

from __future__ import annotations

import gzip
import re
import tarfile
from pathlib import Path

import pytest

from hostile.hostile_scene import Run, Scene
from hostile.hostile_support import (
    MIB,
    archive_with_layer_gz,
    base_layer,
    gnu_sparse_entry,
    harden_to_archive,
    read_docker_archive,
    zeros_layer_gz,
)
from imagefactory import default_config, diff_id, file, make_layer_tar

LIMIT = 50 * MIB
SLACK = MIB  # one read: harden reads layers 1 MiB at a time at most
EXPANDED = re.compile(r"expanded to [\d.]+ [KMGT]?i?B \((\d+) bytes\) so far")


@pytest.fixture(autouse=True)
def _no_limit_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARDEN_MAX_IMAGE_BYTES", raising=False)


def many_files() -> tuple[bytes, str]:
    """1024 files of 1 MiB of zeros: 1 GiB from about 1 MB of gzip."""
    return zeros_layer_gz(1024, MIB)


def bomb(scene: Scene, name: str = "bomb.tar") -> Path:
    """base layer + ``many_files()`` (a valid layer: its diff_id is right)."""
    return archive_with_layer_gz(scene, many_files(), name=name)


def refused_for_size(run: Run) -> tuple[str, int]:
    """Exit 3, one line, nothing written; returns the line and the bytes it says the layer expanded to."""
    assert run.exit_code == 3, run.stdout + run.stderr
    line = run.error_line
    assert run.created == set() and run.stdout == ""
    match = EXPANDED.search(line)
    assert match, line
    return line, int(match.group(1))


def test_gzip_bomb_stops_at_the_limit(scene: Scene) -> None:
    archive = bomb(scene)
    line, expanded = refused_for_size(harden_to_archive(scene, archive, "--max-image-size", "50M"))
    data, layer_digest = many_files()
    assert f"layer 1 ({layer_digest[:19]})" in line
    # either the read that crossed the limit or the header of the 1 MiB file that no longer fits stopped it
    assert LIMIT - 2 * SLACK < expanded <= LIMIT + SLACK, f"read {expanded} bytes for a limit of {LIMIT}"
    assert f"from {len(data) / MIB:.1f} MiB compressed" in line
    assert "over the 50.0 MiB limit on an image's uncompressed size (set explicitly)" in line
    assert "--max-image-size" in line and "HARDEN_MAX_IMAGE_BYTES" in line


@pytest.mark.parametrize("command", ["report", "verify"])
def test_every_command_that_reads_images_takes_the_limit(scene: Scene, command: str) -> None:
    archive = bomb(scene)
    good = scene.archive([base_layer()], name="good.tar")
    if command == "report":
        args = ["report", f"docker-archive:{archive}", "--report-dir", str(scene.reports / "r")]
    else:
        args = ["verify", f"docker-archive:{good}", f"docker-archive:{archive}", "--runner", "sandbox"]
    line, expanded = refused_for_size(scene.run(*args, "--max-image-size", str(LIMIT)))
    assert "layer 1 (" in line and LIMIT - 2 * SLACK < expanded <= LIMIT + SLACK


def test_the_limit_counts_every_layer_of_the_image(scene: Scene) -> None:
    """Two layers of 30 files of 1 MiB: each is under a 50 MiB limit, the image is not."""
    lower, upper = zeros_layer_gz(30, MIB, name="a"), zeros_layer_gz(30, MIB, name="b")
    config = default_config([diff_id(base_layer()), lower[1], upper[1]])
    archive = scene.archive([base_layer(), lower[0], upper[0]], config, layout="blobs")
    line, expanded = refused_for_size(harden_to_archive(scene, archive, "--max-image-size", "50M"))
    assert "layer 1 (" in line, "layers are read newest first: layer 2 fits, layer 1 crosses"
    assert "from the layers read before it" in line
    assert 20 * MIB - SLACK < expanded <= 20 * MIB + SLACK


def test_zeros_after_the_end_of_the_tar_count_too(scene: Scene) -> None:
    """A small tar followed by 1 GiB of zeros: no entry is big, the stream is: it stops at the read that crosses
    the limit (harden reads a layer to its very end, to check its diff_id)."""
    archive = archive_with_layer_gz(scene, zeros_layer_gz(1, MIB, trailing=1 << 30))
    line, expanded = refused_for_size(harden_to_archive(scene, archive, "--max-image-size", "50M"))
    assert "layer 1 (" in line and "declares" not in line
    assert LIMIT < expanded <= LIMIT + SLACK, f"read {expanded} bytes for a limit of {LIMIT}"


def test_one_file_bigger_than_the_limit_fails_at_its_header(scene: Scene) -> None:
    """One 1 GiB file of zeros: its header says so, and nothing of it is read."""
    archive = archive_with_layer_gz(scene, zeros_layer_gz(1, 1 << 30))
    line, expanded = refused_for_size(harden_to_archive(scene, archive, "--max-image-size", "50M"))
    assert "its entry 'zeros/0.bin' declares 1.0 GiB" in line
    assert expanded < SLACK


def test_a_compressed_outer_archive_is_held_to_the_limit_while_it_is_decompressed(scene: Scene) -> None:
    """``docker save | gzip`` of an image with a 1 GiB layer: the copy harden decompresses into its workspace
    stops at the limit too (the layer inside is uncompressed, so the archive is the bomb)."""
    big = tarfile.TarInfo("big/layer.tar")
    big.size = 1 << 30
    member = gzip.compress(bytes(MIB), mtime=0)
    archive = scene.inputs / "bomb.tar.gz"
    archive.write_bytes(gzip.compress(big.tobuf(tarfile.PAX_FORMAT), mtime=0) + member * 1024)
    line, expanded = refused_for_size(scene.run("report", f"docker-archive:{archive}", "--max-image-size", "50M",
                                                "--report-dir", str(scene.reports / "r")))
    assert line.startswith(f"harden: error: docker-archive {archive} expanded to")
    assert LIMIT < expanded <= LIMIT + SLACK


def test_an_entry_declaring_more_than_the_limit_fails_before_it_is_read(scene: Scene) -> None:
    """A gzip layer whose one entry says 1 TiB: refused at its header (the stream is short anyway: without the
    check, harden would read what there is and fail as a truncated layer, not as too large)."""
    info = tarfile.TarInfo("huge.bin")
    info.size = 1 << 40
    data = gzip.compress(info.tobuf(tarfile.PAX_FORMAT) + bytes(64 * 1024), mtime=0)
    archive = archive_with_layer_gz(scene, (data, "sha256:" + "0" * 64))
    line, expanded = refused_for_size(harden_to_archive(scene, archive, "--max-image-size", "50M"))
    assert "its entry 'huge.bin' declares 1.0 TiB" in line
    assert expanded < SLACK


def test_a_sparse_entry_counts_its_expanded_size(scene: Scene) -> None:
    """An uncompressed layer of 2 KiB holding a GNU sparse file of 200 MiB (512 bytes of data, the rest a
    hole): the hole would be written out as zeros, so its declared size is held to the limit."""
    layer = gnu_sparse_entry("app/sparse.bin", 200 * MIB) + bytes(2 * tarfile.BLOCKSIZE)
    archive = scene.archive([base_layer(), layer])
    line, _ = refused_for_size(harden_to_archive(scene, archive, "--max-image-size", "50M"))
    assert "layer 1 (" in line and "its entry 'app/sparse.bin' declares 200.0 MiB" in line


def test_a_sparse_entry_under_the_limit_is_expanded(scene: Scene) -> None:
    layer = gnu_sparse_entry("app/sparse.bin", 3 * MIB) + bytes(2 * tarfile.BLOCKSIZE)
    run = harden_to_archive(scene, scene.archive([base_layer(), layer]), "--max-image-size", "50M")
    assert run.exit_code == 0, run.stderr
    data = read_docker_archive(scene.out / "out.tar")[1]["app/sparse.bin"].data
    assert data == b"x" * 512 + bytes(3 * MIB - 512)


def test_an_image_exactly_at_the_limit_passes(scene: Scene) -> None:
    """The limit is inclusive: the run that reads exactly as many uncompressed bytes as allowed succeeds."""
    top = make_layer_tar([file("app/data.bin", b"d" * 4096)])
    layers = [base_layer(), top]
    total = sum(len(layer) for layer in layers)
    archive = scene.archive(layers)
    ok = harden_to_archive(scene, archive, "--max-image-size", str(total))
    assert ok.exit_code == 0, ok.stderr
    refused_for_size(harden_to_archive(scene, archive, "--max-image-size", str(total - 1), output="again.tar"))


# -- setting the limit --------------------------------------------------------------------------------------
def test_the_environment_variable_sets_the_limit(scene: Scene) -> None:
    line, expanded = refused_for_size(harden_to_archive(scene, bomb(scene), env={"HARDEN_MAX_IMAGE_BYTES": "50M"}))
    assert "(from HARDEN_MAX_IMAGE_BYTES)" in line
    assert LIMIT - 2 * SLACK < expanded <= LIMIT + SLACK


def test_the_option_wins_over_the_environment_variable(scene: Scene) -> None:
    archive = scene.archive([base_layer()])
    env = {"HARDEN_MAX_IMAGE_BYTES": "1K"}
    refused_for_size(harden_to_archive(scene, archive, env=env))
    run = harden_to_archive(scene, archive, "--max-image-size", "1G", env=env)
    assert run.exit_code == 0, run.stderr


@pytest.mark.parametrize("value", ["12Q", "-5", "0", "", "1.5.3", "G", "5 GB of it"])
@pytest.mark.parametrize("command", ["image", "verify", "report"])
def test_bad_sizes_are_usage_errors(scene: Scene, command: str, value: str) -> None:
    archive = scene.archive([base_layer()])
    images = [f"docker-archive:{archive}"] * (2 if command == "verify" else 1)
    run = scene.run(command, *images, f"--max-image-size={value}")
    assert run.exit_code == 2, run.stdout + run.stderr
    assert "--max-image-size" in run.stderr and "Traceback" not in run.stderr
    assert run.created == set()


def test_a_bad_environment_value_is_a_usage_error(scene: Scene) -> None:
    run = harden_to_archive(scene, scene.archive([base_layer()]), env={"HARDEN_MAX_IMAGE_BYTES": "lots"})
    assert run.exit_code == 2, run.stdout + run.stderr
    assert "HARDEN_MAX_IMAGE_BYTES: 'lots' is not a size" in run.error_line
    assert run.created == set()
