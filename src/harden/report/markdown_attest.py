"""report.md's "Attestations" section: the in-toto statements the run wrote, what they name, whether signed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harden.report.text import code, table


def attestation_lines(report: Mapping[str, Any]) -> list[str]:
    """The section, or nothing when the run attested nothing (a review, a dry run, a failed verification)."""
    entry = report.get("attestations")
    if not entry:
        return []
    lines = ["## Attestations", ""]
    if entry["subject_digest"] is None:
        lines.append("No statement was made: no output stores a manifest digest to name as the subject.")
    else:
        keys = ", ".join(f"{key['algorithm']} key {code(key['keyid'][:16])}" for key in entry["keys"])
        how = f"signed (DSSE) by {keys}" if entry["signed"] else "**unsigned** (no `--sign-key`)"
        lines.append(f"Subject: the manifest {code(entry['subject_digest'])}, as "
                     + ", ".join(code(name) for name in entry["subjects"]) + f"; {how}.")
        lines.append("")
        lines += table(["Statement", "Predicate type", "File"],
                       [[statement["name"], code(statement["predicate_type"]), code(statement["file"])]
                        for statement in entry["statements"]])
        referrers = entry["referrers"]
        if referrers["outputs"]:
            lines += ["", "Stored as OCI referrers of the manifest in " + ", ".join(
                code(name) for name in referrers["outputs"]) + ": " + ", ".join(
                code(name) for name in referrers["files"]) + "."]
    for line in entry["omitted"]:
        lines += ["", f"Not made: {line}."]
    for line in entry["not_covered"]:
        lines += ["", f"Not covered: {line}."]
    return lines
