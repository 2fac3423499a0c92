"""The verification part of report.md: import surface diff, metadata diff, smoke scripts, assertions, startup.

It reads ``VerificationReport.to_dict()`` (harden.verify.result); keys it does not know are listed compactly,
so a newer verifier never breaks the report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harden.report.text import cell as c
from harden.report.text import code, plural, table

TOP = 20
_KNOWN = frozenset({
    "schema_version", "ok", "skipped", "original", "hardened", "runner", "interpreters", "failures",
    "imports", "metadata", "smoke", "assertions", "startup", "clean_starts", "problems", "notes",
})


def verification_lines(verification: Mapping[str, Any], verdict: str) -> list[str]:
    details: Mapping[str, Any] = verification.get("details") or {}
    lines = ["## Verification", "", verdict]
    if details.get("runner"):
        lines += ["", f"Probes ran on the {c(details['runner'])} runner, interpreters: "
                      + (", ".join(code(i) for i in details.get("interpreters") or ()) or "-") + "."]
    if verification["failures"]:
        lines += ["", "Failures:", ""]
        lines += [f"- {c(failure, 300)}" for failure in verification["failures"][:50]]
        if len(verification["failures"]) > 50:
            lines.append(f"- … {len(verification['failures']) - 50} more in report.json")
    for render in (_imports, _metadata, _smoke, _assertions, _startup, _clean_starts, _notes, _unknown):
        block = render(details)
        if block:
            lines += ["", *block]
    return lines


def _imports(details: Mapping[str, Any]) -> list[str]:
    diffs: Sequence[Mapping[str, Any]] = details.get("imports") or ()
    if not diffs:
        return []
    rows = []
    for diff in diffs:
        n = diff.get("counts") or {}
        rows.append([code(diff.get("interpreter", "")), *(str(n.get(k, "-")) for k in (
            "total", "ok_before", "ok_after", "regressions", "excused", "preexisting_failures", "fixed"))])
    lines = ["### Import surface", ""]
    lines += table(["interpreter", "targets", "ok before", "ok after", "regressions", "removed on purpose",
                    "failing in original", "fixed"], rows, "lrrrrrrr")
    changes = [(diff, change) for diff in diffs for change in diff.get("regressions") or ()]
    if changes:
        rows = [[code(ch.get("module", "")), c(ch.get("before", ""), 60), c(ch.get("after", ""), 80)]
                for _, ch in changes[:TOP]]
        lines += ["", *table(["module", "original", "hardened"], rows)]
    return lines


def _metadata(details: Mapping[str, Any]) -> list[str]:
    diffs: Sequence[Mapping[str, Any]] = details.get("metadata") or ()
    if not diffs:
        return []
    rows = [
        [code(d.get("interpreter", "")),
         f"{d.get('distributions_before', '-')} → {d.get('distributions_after', '-')}",
         str(len(d.get("missing") or ())), str(len(d.get("removed_deliberately") or ())),
         str(len(d.get("added") or ())), str(len(d.get("changed") or ())),
         str(len(d.get("entry_points_missing") or ()))]
        for d in diffs
    ]
    return ["### Package metadata (importlib.metadata)", "",
            *table(["interpreter", "distributions", "missing", "removed on purpose", "added", "changed",
                    "entry points lost"], rows, "lrrrrrr")]


def _smoke(details: Mapping[str, Any]) -> list[str]:
    results: Sequence[Mapping[str, Any]] = details.get("smoke") or ()
    if not results:
        return []

    def side(run: Mapping[str, Any] | None) -> str:
        if not run:
            return "-"
        return "passed" if run.get("passed") else f"FAILED: {c(run.get('detail', ''), 80)}"

    rows = [[c(r.get("name", "")), side(r.get("before")), side(r.get("after"))] for r in results]
    return ["### Smoke scripts", "", *table(["script", "original", "hardened"], rows)]


def _assertions(details: Mapping[str, Any]) -> list[str]:
    checks: Sequence[Mapping[str, Any]] = details.get("assertions") or ()
    if not checks:
        return []
    rows = [[code(a.get("code", "")), c(a.get("title", "")), "passed" if a.get("passed") else "FAILED",
             c(a.get("detail", ""), 80)] for a in checks]
    return ["### Hardening assertions", "", *table(["check", "what", "result", "detail"], rows)]


def _seconds(value: Any) -> str:
    return f"{value * 1000:.0f} ms" if isinstance(value, int | float) else "-"


def _startup(details: Mapping[str, Any]) -> list[str]:
    startup = details.get("startup")
    if not startup:
        return []
    ratio = startup.get("ratio")
    before = _seconds(startup.get("median_before_seconds"))
    after = _seconds(startup.get("median_after_seconds"))
    text = (f"Importing {', '.join(code(m) for m in startup.get('modules') or ()) or '-'} "
            f"(median of {startup.get('runs', '-')} runs): {before} in the original, {after} hardened"
            + (f" (x{ratio:.2f})." if isinstance(ratio, int | float) else "."))
    if startup.get("error"):
        text += f" Error: {c(startup['error'], 200)}"
    return ["### Startup cost", "", text]


def _clean_starts(details: Mapping[str, Any]) -> list[str]:
    starts: Sequence[Mapping[str, Any]] = details.get("clean_starts") or ()
    if not starts:
        return []
    broken = [start for start in starts if start.get("failure")]
    if not broken:
        return ["### Bare start", "",
                f"`python -c pass` starts as cleanly as in the original with "
                f"{', '.join(code(s.get('interpreter', '')) for s in starts)}: no new stderr, same exit code."]
    rows = [[code(s.get("interpreter", "")), str(s.get("exit_before")), str(s.get("exit_after")),
             c(" | ".join(s.get("new_stderr") or ()) or "-", 200)] for s in broken]
    return ["### Bare start", "", *table(["interpreter", "exit before", "exit after", "new stderr"], rows)]


def _notes(details: Mapping[str, Any]) -> list[str]:
    notes = list(details.get("notes") or ()) + [f"problem: {p}" for p in details.get("problems") or ()]
    return [f"- {c(note, 200)}" for note in notes[:TOP]]


def _unknown(details: Mapping[str, Any]) -> list[str]:
    extra = [key for key in details if key not in _KNOWN]
    if not extra:
        return []
    return [f"Other verification results in report.json: {', '.join(code(k) for k in extra)} "
            f"({plural(len(extra), 'key')})."]
