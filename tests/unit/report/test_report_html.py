"""report.html: the Markdown as one self-contained page with an inline SVG chart, safely escaped."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from report_support import FIXED_TIME, StandInPolicy, build_image, harden, small_image_layers

from harden.image.blobs import BlobStore
from harden.report.html import markdown_to_html
from harden.report.svg import category_chart
from harden.report.write import write_review_reports, write_run_reports
from imagefactory import file

SVG = "{http://www.w3.org/2000/svg}"


def run(tmp_path: Path) -> Path:
    blobs = BlobStore(tmp_path / "blobs")
    image, rootfs = build_image(small_image_layers(), blobs)
    result = harden(rootfs, image.config, blobs)
    write_run_reports(tmp_path / "out", source="demo:1", source_image=image, original=rootfs, result=result,
                      policy=StandInPolicy(), verification=None, dropped=(), written=(), harden_seconds=1.0,
                      dry_run=False, blobs=blobs, generated_at=FIXED_TIME)
    return tmp_path / "out"


def test_html_embeds_a_well_formed_svg_chart_with_before_and_after_bars(tmp_path: Path) -> None:
    out = run(tmp_path)
    html = (out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<link" not in html and "<script" not in html
    svg_text = html[html.index("<svg"):html.index("</svg>") + len("</svg>")]
    svg = ET.fromstring(svg_text)
    assert svg.tag == f"{SVG}svg"
    labels = [t.text for t in svg.iter(f"{SVG}title")]
    assert "tests before: 7.4 KiB" in labels and "tests after: 0 B" in labels
    report = json.loads((out / "report.json").read_text())
    rows = report["sizes"]["categories"]
    drawn = {row["category"] for row in rows if row["before"] and row["before"]["bytes"]}
    texts = {t.text for t in svg.iter(f"{SVG}text")}
    assert drawn <= texts
    assert html.index("<svg") < html.index("<h2>Identity</h2>")


def test_markdown_tables_become_html_tables_with_alignment() -> None:
    blocks = markdown_to_html("# T\n\n| a | n |\n| --- | ---: |\n| `x\\|y` | 3 |\n\n- **b** item\n")
    assert blocks[0] == "<h1>T</h1>"
    assert blocks[1] == ('<table><thead><tr><th>a</th><th class="r">n</th></tr></thead><tbody>'
                         '<tr><td><code>x|y</code></td><td class="r">3</td></tr></tbody></table>')
    assert blocks[2] == "<ul><li><strong>b</strong> item</li></ul>"


def test_hostile_paths_are_escaped(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    image, rootfs = build_image([[file("srv/<script>alert(1)</script>.txt", b"x" * 5000, mode=0o666)]], blobs)
    write_review_reports(tmp_path / "out", source="demo:1", source_image=image, rootfs=rootfs, blobs=blobs,
                         generated_at=FIXED_TIME)
    html = (tmp_path / "out" / "report.html").read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_review_chart_has_one_bar_per_category_and_no_legend(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    image, rootfs = build_image(small_image_layers(), blobs)
    written = write_review_reports(tmp_path / "out", source="demo:1", source_image=image, rootfs=rootfs,
                                   blobs=blobs, generated_at=FIXED_TIME)
    chart = category_chart(written.report)
    assert chart is not None and "after" not in chart
    svg = ET.fromstring(chart)
    assert len(list(svg.iter(f"{SVG}rect"))) == 5  # bytecode, tests, shells, installers, other
