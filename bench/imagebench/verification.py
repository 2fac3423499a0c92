"""Figures from harden's report.json: stage savings, harden's own sizes and the verification's statistics
(``verification.details`` is harden's verify.json: harden.verify.result.VerificationReport.to_dict)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from imagebench.model import ImportStats, MetadataStats, StageSaving, Startup, VerificationStats

FIRST = 12
"""How many failures, writable needs and touched files are kept verbatim."""


def stage_savings(report: Mapping[str, Any]) -> tuple[StageSaving, ...]:
    stages = (report.get("sizes") or {}).get("stages") or []
    return tuple(StageSaving(s["stage"], float(s["seconds"]), int(s["bytes_saved"]), int(s["files_removed"]))
                 for s in stages)


def report_bytes(report: Mapping[str, Any]) -> tuple[int | None, int | None]:
    sizes = report.get("sizes") or {}

    def count(side: str) -> int | None:
        value = sizes.get(side)
        return int(value["bytes"]) if isinstance(value, Mapping) and "bytes" in value else None

    return count("before"), count("after")


def harden_seconds(report: Mapping[str, Any]) -> float | None:
    value = (report.get("identity") or {}).get("harden_seconds")
    return None if value is None else float(value)


def startup_of(details: Mapping[str, Any]) -> Startup | None:
    startup = details.get("startup")
    if not startup:
        return None
    return Startup(tuple(startup.get("modules") or ()), int(startup.get("runs") or 0),
                   startup.get("median_before_seconds"), startup.get("median_after_seconds"))


def verification_stats(report: Mapping[str, Any]) -> VerificationStats | None:
    """None when the run did not verify (``--no-verify``)."""
    verification = report.get("verification")
    if not verification:
        return None
    details: Mapping[str, Any] = verification.get("details") or {}
    imports = tuple(
        ImportStats(
            interpreter=str(d.get("interpreter", "?")),
            total=int(d["counts"]["total"]),
            ok_before=int(d["counts"]["ok_before"]),
            ok_after=int(d["counts"]["ok_after"]),
            regressions=int(d["counts"]["regressions"]),
            accounted=int(d["counts"]["accounted"]),
            preexisting_failures=int(d["counts"]["preexisting_failures"]),
            fixed=int(d["counts"].get("fixed", 0)),
            skipped=int(d["counts"].get("skipped", 0)),
            order_dependent=int(d["counts"].get("order_dependent", 0)),
            stdlib_deep=bool(d.get("stdlib_deep", True)),
        )
        for d in details.get("imports") or ()
    )
    metadata = tuple(
        MetadataStats(str(m.get("interpreter", "?")), int(m.get("distributions_before", 0)),
                      int(m.get("distributions_after", 0)), len(m.get("missing") or ()),
                      len(m.get("removed_deliberately") or ()), len(m.get("entry_points_missing") or ()))
        for m in details.get("metadata") or ()
    )
    smoke = details.get("smoke") or []
    assertions = details.get("assertions") or []
    touched = details.get("touched") or []
    linkage = details.get("linkage")
    failures = list(verification.get("failures") or details.get("failures") or [])
    return VerificationStats(
        ok=bool(verification.get("ok")),
        summary=str(verification.get("summary", "")),
        runner=str(details.get("runner", "?")),
        restricted=bool(details.get("restricted", False)),
        interpreters=tuple(details.get("interpreters") or ()),
        imports=imports,
        metadata=metadata,
        smoke_passed=sum(1 for s in smoke if s.get("passed")),
        smoke_total=len(smoke),
        assertions_passed=sum(1 for a in assertions if a.get("passed")),
        assertions_total=len(assertions),
        assertions_failed=tuple(f"{a.get('code')}: {a.get('detail') or a.get('title', '')}"
                                for a in assertions if not a.get("passed")),
        failures_total=len(failures),
        failures=tuple(failures[:FIRST]),
        writable_total=len(details.get("writable") or ()),
        writable=tuple(f"{w.get('kind')} {w.get('target')}: {', '.join(w.get('paths') or ())}"
                       for w in (details.get("writable") or [])[:FIRST]),
        touched_total=len(touched),
        touched_accounted=sum(1 for t in touched if t.get("accounted")),
        touched_failing=tuple(str(t.get("failure")) for t in touched if t.get("failure"))[:FIRST],
        linkage_objects=None if not linkage else int(linkage.get("objects", 0)),
        linkage_broken=tuple((linkage or {}).get("broken") or ())[:FIRST],
        linkage_preexisting=len((linkage or {}).get("preexisting") or ()),
        clean_starts_failing=sum(1 for c in details.get("clean_starts") or () if c.get("failure")),
        startup=startup_of(details),
        problems=tuple(details.get("problems") or ())[:FIRST],
    )
