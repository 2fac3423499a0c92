"""What harden's verifier found broken in an image (its verify.json), condensed for the results table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from imagebench.model import Breakage, Example


def breakage_from(verify: Mapping[str, Any]) -> Breakage:
    imports = verify.get("imports") or []
    metadata = verify.get("metadata") or []
    regressions = [Example(change["module"], change.get("after", ""))
                   for diff in imports for change in diff.get("regressions", [])]
    missing = sorted({name for meta in metadata for name in meta.get("missing", [])})
    return Breakage(
        verified=bool(imports or metadata),
        failures=len(verify.get("failures") or []),
        imports=tuple((d.get("interpreter", "?"), int(d["counts"]["total"]), int(d["counts"]["ok_before"]),
                       int(d["counts"]["ok_after"])) for d in imports),
        import_regressions=tuple(sorted(regressions, key=lambda e: e.name)),
        distributions=tuple((m.get("interpreter", "?"), int(m.get("distributions_before", 0)),
                             int(m.get("distributions_after", 0))) for m in metadata),
        distributions_missing=tuple(missing),
        entry_points_missing=sum(len(m.get("entry_points_missing", [])) for m in metadata),
        smoke_failures=tuple(Example(s["name"], s["after"].get("detail", ""))
                             for s in verify.get("smoke") or [] if not s.get("passed")),
        assertion_failures=tuple(Example(a["code"], a.get("detail") or a.get("title", ""))
                                 for a in verify.get("assertions") or [] if not a.get("passed")),
        assertions_passed=tuple(a["code"] for a in verify.get("assertions") or [] if a.get("passed")),
        problems=tuple(verify.get("problems") or []),
    )


def describe_distributions(breakage: Breakage) -> str:
    """``/opt/venv/bin/python3: 42 → 0; /usr/bin/python3: 3 → 3`` (original → naive)."""
    return "; ".join(f"{interpreter}: {before} → {after}" for interpreter, before, after in breakage.distributions)


def describe_imports(breakage: Breakage) -> str:
    """``/opt/venv/bin/python3: 6 of 847 fail; …`` (of the targets that import in the original)."""
    return "; ".join(f"{interpreter}: {ok_before - ok_after} of {ok_before} fail"
                     for interpreter, _, ok_before, ok_after in breakage.imports)


def root_causes(breakage: Breakage, limit: int = 6) -> list[tuple[str, int, str]]:
    """Regressions grouped by their error text: (error, how many targets, an example target), most first."""
    groups: dict[str, list[str]] = {}
    for example in breakage.import_regressions:
        groups.setdefault(_shorten(example.detail), []).append(example.name)
    ranked = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    return [(error, len(names), names[0]) for error, names in ranked[:limit]]


def _shorten(error: str, width: int = 110) -> str:
    error = " ".join(error.split())
    return error if len(error) <= width else error[: width - 1] + "…"
