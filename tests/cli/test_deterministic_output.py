"""Same input and policy → byte-identical output archive (sorted entries, kept or clamped mtimes, canonical
config); SOURCE_DATE_EPOCH changes it. Archive in → archive out, no engine."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from harden.cli.main import cli
from imagefactory import directory, file, hardlink, make_layer_tar, symlink, whiteout, write_docker_archive

LIB = b"\x7fELF" + bytes(range(256)) * 64


@pytest.fixture
def source(tmp_path: Path) -> Path:
    base = make_layer_tar([
        directory("usr"), directory("usr/bin"), file("usr/bin/sh", b"#!shell", mode=0o755),
        symlink("bin", "usr/bin"), file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"),
        file("etc/group", b"root:x:0:\n"), directory("tmp", mode=0o1777),
        file("opt/app/pkg/__init__.py", b"import pkg.core\n", mtime=1_600_000_000),
        file("opt/app/pkg/__pycache__/core.cpython-311.pyc", b"\x00" * 300),
        file("opt/app/pkg/lib_a.so", LIB), file("opt/app/pkg/lib_b.so", LIB),
        hardlink("opt/app/pkg/lib_c.so", "opt/app/pkg/lib_a.so"),
    ])
    top = make_layer_tar([whiteout("opt/app/pkg/lib_b.so"), file("opt/app/pkg/core.py", b"X = 1\n")])
    return write_docker_archive(tmp_path / "in.tar", [base, top])


def harden(source: Path, out: Path, env: dict[str, str] | None = None) -> Path:
    result = CliRunner().invoke(
        cli, ["image", f"docker-archive:{source}", "--no-verify", "--fail-on", "never", "--report-dir",
              str(out.parent / f"{out.name}.reports"), "--output", f"docker-archive:{out}"],
        env=env, catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return out


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_runs_give_byte_identical_archives(source: Path, tmp_path: Path) -> None:
    first = harden(source, tmp_path / "one.tar")
    second = harden(source, tmp_path / "two.tar")
    assert digest(first) == digest(second)


def test_source_date_epoch_clamps_mtimes_and_sets_created(source: Path, tmp_path: Path) -> None:
    plain = harden(source, tmp_path / "plain.tar")
    clamped = harden(source, tmp_path / "clamped.tar", env={"SOURCE_DATE_EPOCH": "1000000000"})
    assert digest(plain) != digest(clamped)
    with tarfile.open(clamped) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
        config = json.load(outer.extractfile(manifest[0]["Config"]))  # type: ignore[arg-type]
        with tarfile.open(fileobj=outer.extractfile(manifest[0]["Layers"][0])) as layer:
            assert max(member.mtime for member in layer.getmembers()) <= 1_000_000_000
    assert config["created"] == "2001-09-09T01:46:40Z"
    assert len(config["rootfs"]["diff_ids"]) == 1
    assert config["history"][-1]["created_by"].startswith("harden ")


def test_source_archive_is_never_changed(source: Path, tmp_path: Path) -> None:
    before = digest(source)
    harden(source, tmp_path / "out.tar")
    assert digest(source) == before


PINNED_LAYER = "sha256:8df42d46cea655d472ee19061b50f2200ce941a3911cc041fe349f546596dde1"
"""The rewritten layer's diff_id for ``source`` under the default policy and SOURCE_DATE_EPOCH=1000000000. A
refactoring must not move it; a deliberate change of what a stage does on this input updates it, and says so."""


def test_the_rewritten_layer_is_pinned(source: Path, tmp_path: Path) -> None:
    out = harden(source, tmp_path / "pinned.tar", env={"SOURCE_DATE_EPOCH": "1000000000"})
    with tarfile.open(out) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
        config = json.load(outer.extractfile(manifest[0]["Config"]))  # type: ignore[arg-type]
    assert config["rootfs"]["diff_ids"] == [PINNED_LAYER]


def test_under_source_date_epoch_kept_bytecode_keeps_its_sources_mtime(source: Path, tmp_path: Path) -> None:
    """A policy that keeps bytecode: core.py (above the epoch, its .pyc kept) keeps its mtime and the report
    names it; __init__.py (no .pyc) is capped as every other entry."""
    policy = tmp_path / "keep-bytecode.toml"
    policy.write_text('schema_version = 1\nname = "keep-bytecode"\nextends = "default"\n'
                      '[stages.remove-bytecode]\nmode = "keep"\n')
    out = tmp_path / "kept.tar"
    result = CliRunner().invoke(
        cli, ["image", f"docker-archive:{source}", "--no-verify", "--fail-on", "never", "--policy", str(policy),
              "--report-dir", str(tmp_path / "reports"), "--output", f"docker-archive:{out}"],
        env={"SOURCE_DATE_EPOCH": "1000000000"}, catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    with tarfile.open(out) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
        with tarfile.open(fileobj=outer.extractfile(manifest[0]["Layers"][0])) as layer:
            mtimes = {member.name: member.mtime for member in layer.getmembers()}
    assert mtimes["opt/app/pkg/core.py"] == 1_700_000_000
    assert mtimes["opt/app/pkg/__init__.py"] == mtimes["opt/app/pkg/__pycache__/core.cpython-311.pyc"] == 1_000_000_000
    notes = json.loads((tmp_path / "reports" / "report.json").read_text())["notes"]
    (note,) = [n for n in notes if n["stage"] == "write layer"]
    assert "except those of 1 Python source whose" in note["note"] and "/opt/app/pkg/core.py" in note["note"]
