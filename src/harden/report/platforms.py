"""The summary of a multi-platform run (``summary.json`` and ``summary.md`` at the top of the report folder):
each platform, how it was verified (its images ran in the engine or the sandbox, or only the static linkage
check stood in because this machine cannot run that platform) and the verdict, next to the folder of its own
report set; what the source index held that is not an image (left out) and which of its annotations no longer
apply. The job builds the document; this module renders and writes it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harden.report.write import write_json, write_text
from harden.units import human_bytes

SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"


def render_platform_summary(summary: Mapping[str, Any]) -> str:
    kind = "an index" if summary.get("index") else "one image"
    lines = [f"# harden: {summary['source']}", "",
             f"The source is {kind} with {len(summary['platforms'])} platform(s); each was hardened and verified "
             "on its own (its reports are in the folder named after it).", "",
             "| platform | verification | verdict | size before | size after | findings | reports |",
             "|---|---|---|---|---|---|---|"]
    for row in summary["platforms"]:
        lines.append(f"| {row['platform']} | {_mode(row)} | {row['verdict']} | {human_bytes(row['bytes_before'])} | "
                     f"{human_bytes(row['bytes_after'])} | {row['findings']} | [{row['reports']}]"
                     f"({row['reports']}/report.md) |")
    lines.append("")
    for row in summary["platforms"]:
        if row.get("how"):
            lines.append(f"- **{row['platform']}**: {row['how']}")
        lines += [f"  - FAIL {line}" for line in row.get("failures") or ()]
    if summary.get("left_out"):
        lines += ["", "## Left out", "", "Entries of the source that are not platform images, and platforms "
                  "not chosen:", ""] + [f"- {line}" for line in summary["left_out"]]
    if summary.get("annotations_dropped"):
        lines += ["", "## Annotations not carried over", ""] + [f"- {line}" for line in summary["annotations_dropped"]]
    written = summary.get("written") or []
    lines += ["", "## Written", ""] + ([f"- {w}" for w in written] if written else
                                       ["- nothing" + (" (dry run)" if summary.get("dry_run") else "")])
    return "\n".join(lines) + "\n"


def _mode(row: Mapping[str, Any]) -> str:
    return {"linkage": "static linkage check only (not run)", "engine": "ran in the engine",
            "sandbox": "ran in the sandbox"}.get(str(row["verification"]), str(row["verification"]))


def write_platform_summary(report_dir: Path, summary: Mapping[str, Any]) -> tuple[Path, Path]:
    json_path, md_path = report_dir / SUMMARY_JSON, report_dir / SUMMARY_MD
    write_json(json_path, summary)
    write_text(md_path, render_platform_summary(summary))
    return json_path, md_path
