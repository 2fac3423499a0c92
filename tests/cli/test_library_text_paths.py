"""The library takes the paths a caller names as text as well as ``Path`` objects (report folder, key, layout)."""

from __future__ import annotations

import json
from pathlib import Path

from harden import api
from hostile.hostile_scene import Scene


def test_harden_image_takes_its_report_folder_as_text(scene: Scene, tiny: Path) -> None:
    before = scene.snapshot()
    reports = scene.reports / "as-text"
    result = api.harden_image(f"docker-archive:{tiny}", verify=False, outputs=[f"oci:{scene.out / 'layout'}:1"],
                              report_dir=str(reports))
    assert result.written
    report = json.loads((reports / "report.json").read_text())
    assert report["identity"]["written"] == [f"oci:{scene.out / 'layout'}:1"]
    scene.check_after(before)
