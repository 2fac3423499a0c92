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
    "touched", "writable", "restricted", "linkage",
})
COVERAGE = (
    "What was checked: in each image, every module and submodule of every importable top-level package of each "
    "interpreter (site-packages, `.pth`-added paths, namespace packages, extension modules, packages that extend "
    "`__path__`), the standard library (test suites excepted), every entry point's `module:attr` and the "
    "policy's imports and plugins were imported; `importlib.metadata`, a bare start and the policy's smoke "
    "snippets were compared. Not imported: `__main__` modules, the stdlib's test suites and modules that act "
    "when imported (counted below). A module that imported in the original and not in the hardened image was "
    "imported again alone in a fresh interpreter on both sides before it counted as lost."
)


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
    for render in (_imports, _touched, _linkage, _writable, _metadata, _smoke, _assertions, _startup,
                   _clean_starts, _notes, _unknown):
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
        walked = str(n.get("total", "-")) + ("" if diff.get("stdlib_deep", True) else " *")
        rows.append([code(diff.get("interpreter", "")), walked, *(str(n.get(k, "-")) for k in (
            "ok_before", "ok_after", "regressions", "accounted", "preexisting_failures", "skipped"))])
    lines = ["### Import surface", "", COVERAGE, ""]
    lines += table(["interpreter", "modules walked", "imported in original", "import hardened", "lost",
                    "removed on purpose", "failing in original too", "not imported (rule)"], rows, "lrrrrrrr")
    if any(not diff.get("stdlib_deep", True) for diff in diffs):
        lines += ["", "\\* the standard library's submodules were walked with the first interpreter that shares "
                      "it (same files); this one imported its top-level modules."]
    lost = [(diff, loss) for diff in diffs for loss in diff.get("regressions") or ()]
    if lost:
        rows = [[code(loss.get("module", "")), c(loss.get("after", ""), 80), c(loss.get("hint", "") or "-", 120)]
                for _, loss in lost[:TOP]]
        lines += ["", "Lost (each one fails verification):", "", *table(["module", "hardened", "why"], rows)]
        if len(lost) > TOP:
            lines.append(f"… {len(lost) - TOP} more in report.json")
    return lines + _accounted(diffs)


def _accounted(diffs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Accounted removals, one row per stage and removed path (or declaration), with the modules it took."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for diff in diffs:
        for loss in diff.get("accounted") or ():
            account = loss.get("accounting") or {}
            key = (str(account.get("stage", "")), str(account.get("path", "") or "-"),
                   str(account.get("reason", "")) + (f" ({account['via']})" if account.get("via") else ""))
            groups.setdefault(key, []).append(str(loss.get("module", "")))
    if not groups:
        return []
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    rows = []
    for (stage, path, reason), modules in ordered[:TOP]:
        shown = ", ".join(code(m, 60) for m in sorted(set(modules))[:3])
        more = f" (+{len(set(modules)) - 3} more)" if len(set(modules)) > 3 else ""
        rows.append([code(stage), code(path, 90), c(reason, 100), str(len(modules)), shown + more])
    lines = ["", "### Removed on purpose (accounted removals)", "",
             f"{plural(sum(len(m) for m in groups.values()), 'module')} no longer import because a stage removed "
             "them (or what they need) on purpose; each row names the stage, what it removed and why. Every "
             "module is listed in report.json.", ""]
    lines += table(["stage", "removed", "why", "modules", "for example"], rows, "lllrl")
    if len(ordered) > TOP:
        lines.append(f"… {len(ordered) - TOP} more groups in report.json")
    return lines


def _writable(details: Mapping[str, Any]) -> list[str]:
    needs: Sequence[Mapping[str, Any]] = details.get("writable") or ()
    if not details.get("restricted"):
        return []
    if not needs:
        return ["### As a restricted Kubernetes pod", "",
                "The hardened image's probes ran as a `restricted` pod runs it (non-root, read-only root "
                "filesystem, nothing writable, every capability dropped, no privilege escalation): every import "
                "and smoke snippet worked."]
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for need in needs:
        groups.setdefault(str(need.get("remedy", "")), []).append(need)
    rows = []
    for text, members in sorted(groups.items(), key=lambda item: -len(item[1])):
        targets = ", ".join(f"{m.get('kind')} {code(m.get('target', ''), 50)}" for m in members[:3])
        paths = sorted({p for m in members for p in m.get("paths") or ()})
        rows.append([c(text, 90), str(len(members)), targets + (f" (+{len(members) - 3} more)" if len(members) > 3
                                                                 else ""),
                     ", ".join(code(p, 50) for p in paths[:2]) or "-"])
    return ["### As a restricted Kubernetes pod", "",
            f"{plural(len(needs), 'import or smoke snippet', 'imports or smoke snippets')} work in a standard "
            "container but not as a `restricted` pod runs the image (read-only root filesystem, nothing writable): "
            "they need a writable path. Warnings, not failures; the remedy is a mount or a variable:", "",
            *table(["remedy", "count", "what", "tried to write"], rows, "lrll")]


def _linkage(details: Mapping[str, Any]) -> list[str]:
    linkage = details.get("linkage")
    if not linkage:
        return []
    broken = linkage.get("broken") or ()
    text = (f"Static linkage: every `DT_NEEDED` and symbol version of the {linkage.get('objects', 0):,} ELF files "
            "of the hardened image was resolved as its dynamic loader would resolve it: "
            + (f"{plural(len(broken), 'link')} broke:" if broken else "none broke."))
    lines = ["### Static linkage", "", text]
    lines += [f"- {c(line, 200)}" for line in broken[:TOP]]
    if linkage.get("preexisting"):
        lines += ["", f"{plural(len(linkage['preexisting']), 'link')} already broken in the original (not blamed)."]
    return lines


def _touched(details: Mapping[str, Any]) -> list[str]:
    files: Sequence[Mapping[str, Any]] = details.get("touched") or ()
    if not files:
        return []
    rows = [[code(f.get("path", ""), 80), ", ".join(code(w, 40) for w in (f.get("opened_by") or ())[:2])
             + (f" (+{len(f['opened_by']) - 2})" if len(f.get("opened_by") or ()) > 2 else ""),
             code(f.get("stage", "") or "no stage"), "on purpose" if f.get("accounted") else "FAILED"]
            for f in files[:TOP]]
    return ["### Files the original read that are gone", "",
            "Files the original opened while its modules imported or its smoke snippets ran (recorded with an "
            "audit hook) and that the hardened image no longer has:", "",
            *table(["file", "read by", "removed by", "verdict"], rows)]


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
