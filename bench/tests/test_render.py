"""Verdicts and renderers on a hand-made result: the numbers that go in must come out, targets judged right."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from imagebench.figures import growth, median_floor, spread, verdicts
from imagebench.model import (
    BenchResult,
    Breakage,
    Check,
    Example,
    ImageSize,
    IoFloor,
    Machine,
    Phase,
    Run,
    ScalePoint,
    Startup,
)
from imagebench.render_markdown import render_markdown
from imagebench.render_text import render_text

MB = 10**6


def _size(label: str, uncompressed: int, gzip: int, files: int) -> ImageSize:
    return ImageSize(label, f"{label}:latest", 1, uncompressed * MB, gzip * MB, files, uncompressed * MB)


def _run(wall: float, verify: float, rss: int) -> Run:
    phases = (Phase("read x", 10.0), Phase("strip-debug", 4.0), Phase("verify", verify)) if verify else ()
    return Run(("harden", "image"), wall, 0, rss * MB, rss * MB + 5 * MB, phases)


def _result(*, hardened_mb: int = 500, harden_wall: float = 130.0, fresh_load: float | None = 16.0,
            rss: int = 120) -> BenchResult:
    original = _size("original", 1200, 600, 26000)
    floors = (IoFloor(1200 * MB, 9.0, 5.0, fresh_load), IoFloor(1200 * MB, 12.0, 5.0, 30.0),
              IoFloor(1200 * MB, 8.0, 4.0, None if fresh_load is None else 10.0))
    floor = median_floor(floors)
    harden = _run(harden_wall, 100.0, rss)
    samples = (harden.seconds_excluding_verify, 28.0, harden_wall - 100.0 + 3.0)
    big = ScalePoint("deps + venv copy", "s", _size("s", 2400, 0, 52000), IoFloor(2400 * MB, 20.0, 9.0, 30.0),
                     _run(60.0, 0.0, rss), 900 * MB, harden_samples=(60.0, 50.0, 70.0))
    return BenchResult(
        image="deps:latest", policy="p",
        machine=Machine("2026-01-01 00:00 UTC", 2, 24 * 2**30, "cpu", "6.1", "Podman 4.3.1", "3.11.2", "0.1",
                        "abc"),
        original=original, hardened=_size("hardened", hardened_mb, 160, 11000), naive=_size("naive", 937, 512, 16000),
        floor=floor, harden=harden, harden_samples=samples, floor_samples=floors,
        stage_savings=(("remove-bytecode", 0.5, 152 * MB, 6285),),
        report_harden_seconds=25.0, naive_verify=_run(150.0, 110.0, 90),
        breakage=Breakage(True, 49, (("/opt/venv/bin/python3", 857, 847, 841), ("/usr/bin/python3", 788, 779, 779)),
                          (Example("scipy.linalg", "ImportError: libscipy_openblas.so: not page-aligned"),),
                          (("/opt/venv/bin/python3", 42, 0),), ("pandas", "numpy"), 0, (), (), ()),
        checks=(Check("os.getuid()", "...", (("original", "ok: uid 0"), ("hardened", "ok: uid 65532"))),),
        startup=Startup(("pandas",), 5, 0.35, 2.1, (0.3, 0.4, 0.5), (1.0, 1.1, 1.2)),
        scaling=(ScalePoint("deps", "deps:latest", original, floor, harden, 500 * MB, floors, samples), big),
    )


def test_the_median_floor_is_the_middle_sample_by_honest_seconds() -> None:
    floors = (IoFloor(1, 9.0, 5.0, 16.0), IoFloor(1, 12.0, 5.0, 30.0), IoFloor(1, 8.0, 4.0, 10.0))
    assert median_floor(floors) is floors[0]  # honest 25 s, between 18 s and 42 s
    assert spread([25.0, 18.0, 42.0]) == "18.0 to 42.0 s over 3 runs" and spread([3.0]) == "1 run"


def test_verdicts_judge_each_target() -> None:
    size, time, rss = verdicts(_result())
    assert (size.passed, time.passed, rss.passed) == (True, True, True)  # 41.7 %, median 30 s / 25 s, 120 MB

    size, time, rss = verdicts(_result(hardened_mb=700, harden_wall=160.0, rss=600))
    assert (size.passed, time.passed, rss.passed) == (False, False, False)  # 58 %, 60 s / 25 s = 2.4x, 600 MB


def test_a_missing_honest_floor_is_not_a_pass() -> None:
    _, time, _ = verdicts(_result(fresh_load=None))  # the median sample then has no honest floor
    assert time.passed is None and time.mark == "not measured"


def test_growth_compares_first_and_last_scaling_point() -> None:
    assert growth(_result()) == pytest.approx((2.0, 2.0))
    assert growth(dataclasses.replace(_result(), scaling=_result().scaling[:1])) is None


def test_renderers_carry_the_numbers() -> None:
    result = _result()
    text = render_text(result)
    markdown = render_markdown(result, "chart.png")
    for rendered in (text, markdown):
        assert "1,200.0 MB" in rendered and "500.0 MB" in rendered and "937.0 MB" in rendered
        assert "1.20x" in rendered  # 30 s excluding verification / 25 s honest floor
        assert "scipy.linalg" in rendered
        assert "/opt/venv/bin/python3: 42 → 0" in rendered
        assert "/opt/venv/bin/python3: 6 of 847 fail; /usr/bin/python3: 0 of 779 fail" in rendered
    assert "2 cores" in markdown and "2026-01-01" in markdown and "![sizes and times](chart.png)" in markdown
    assert "6,285 files" in markdown  # the bytecode note under import startup
    assert "| x6.00 |" in markdown and "| x2.75 |" in markdown  # verifier's 2.1/0.35, bench's medians 1.1/0.4


def test_chart_is_written(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from imagebench.render_chart import render_chart

    render_chart(_result(), tmp_path / "chart.png")
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_results_come_back_from_json_unchanged(tmp_path: Path) -> None:
    import json

    from imagebench.result_io import load_result

    result = dataclasses.replace(_result(), naive_verify_report={"ok": False})
    data = dataclasses.asdict(result)
    (tmp_path / "r.naive-verify.json").write_text(json.dumps(data.pop("naive_verify_report")))
    (tmp_path / "r.json").write_text(json.dumps(data))

    assert load_result(tmp_path / "r.json", tmp_path / "r.naive-verify.json") == result
