"""Settling before each timed sample: the page cache dropped (or why not), the image read through a discarded
save, the code read; and the I/O table says how the samples were taken."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from imagebench import settle as settle_module
from imagebench.render_markdown import io_section
from imagebench.settle import DESCRIPTION, code_paths, settle
from results_factory import deps_result, io


class SavingEngine:
    def __init__(self) -> None:
        self.saved: list[tuple[str, Path]] = []

    def save(self, reference: str, archive: Path) -> tuple[float, float | None]:
        archive.write_bytes(b"x" * 4096)
        self.saved.append((reference, archive))
        return 0.1, 0.05


def test_settle_drops_the_page_cache_reads_the_image_and_leaves_no_archive(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    knob = tmp_path / "drop_caches"
    knob.write_text("0\n")
    monkeypatch.setattr(settle_module, "DROP_CACHES", knob)
    code = tmp_path / "venv"
    (code / "lib").mkdir(parents=True)
    (code / "lib" / "module.py").write_text("x = 1\n")
    engine = SavingEngine()
    done = settle(engine, "deps:latest", tmp_path, [code])
    assert done.dropped and done.note == "" and knob.read_text() == "1\n"
    assert [reference for reference, _ in engine.saved] == ["deps:latest"]
    assert not engine.saved[0][1].exists()


def test_settle_says_when_the_page_cache_could_not_be_dropped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settle_module, "DROP_CACHES", tmp_path / "no-such-dir" / "drop_caches")
    done = settle(SavingEngine(), "deps:latest", tmp_path, [])
    assert not done.dropped and done.note.startswith("page cache not dropped: ")


def test_code_paths_take_a_venv_and_never_a_system_prefix(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    assert venv in code_paths([str(venv / "bin" / "harden")])
    system = tmp_path / "usr"
    (system / "bin").mkdir(parents=True)
    assert system not in code_paths([str(system / "bin" / "python3"), "-m", "harden"])


def test_io_table_names_the_settling_and_each_pairs_order() -> None:
    comparison = io((50.0, 60.0), (40.0, 66.0))
    pairs = (dataclasses.replace(comparison.pairs[0], first="floor"),
             dataclasses.replace(comparison.pairs[1], first="harden", settle_note="page cache not dropped: denied"))
    settled = dataclasses.replace(comparison, pairs=pairs, settle=DESCRIPTION)
    text = "\n".join(io_section(dataclasses.replace(deps_result(), io=settled)))
    assert DESCRIPTION in text and "| floor first |" in text
    assert "| harden first; page cache not dropped: denied |" in text
    unsettled = "\n".join(io_section(dataclasses.replace(deps_result(), io=comparison)))
    assert "not settled" in unsettled and "floor first" not in unsettled
