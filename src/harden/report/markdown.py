"""report.md: the report dict for a person, in a terminal, on GitHub or in ``$GITHUB_STEP_SUMMARY``.

Headline numbers first, then tables; long lists are cut to their top entries (report.json has everything).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harden.report.markdown_attest import attestation_lines
from harden.report.markdown_verify import verification_lines
from harden.report.text import cell as c
from harden.report.text import code, number, percent, plural, table
from harden.units import human_bytes

TOP = 10
TOP_CHANGES = 20
TOP_LOCATIONS = 3
_COUNTED = frozenset({"record", "installed-files", "dpkg-list"})


def render_markdown(report: Mapping[str, Any]) -> str:
    sections = [
        _headline(report),
        _identity(report),
        _stages(report),
        _categories(report),
        _largest(report),
        _efficiency(report),
        _findings(report),
        _elf(report),
        _verification(report),
        _changes(report),
        _sbom(report),
        attestation_lines(report),
    ]
    text = "\n\n".join("\n".join(lines) for lines in sections if lines)
    return text.rstrip() + "\n"


def _headline(report: Mapping[str, Any]) -> list[str]:
    ident, sizes = report["identity"], report["sizes"]
    before, after = sizes["before"], sizes["after"]
    review = ident["kind"] == "review"
    title = "security review" if review else ("dry run" if ident["dry_run"] else "hardening report")
    lines = [f"# harden {title}: {code(ident['source'])}", ""]
    if after is None:
        lines.append(f"**Size:** {human_bytes(before['bytes'])} in {plural(before['files'], 'file')}"
                     + (" (review only: nothing was changed)" if review else ""))
    else:
        saved = sizes["saved_bytes"]
        change = (f"saved {human_bytes(saved)}, {sizes['saved_percent']:.1f}%" if saved >= 0
                  else f"grew by {human_bytes(-saved)}")
        lines.append(f"**Size:** {human_bytes(before['bytes'])} → {human_bytes(after['bytes'])} ({change}), "
                     f"files {number(before['files'])} → {number(after['files'])}")
    lines.append("")
    lines.append(f"**Verification:** {_verdict(report)}")
    lines.append("")
    counts = report["findings_summary"]
    summary = _counts(counts)
    fixed = report.get("fixed_findings")
    if fixed is not None:
        summary += f" (original image: {_counts(report['original_findings_summary'])}; fixed by harden: "
        summary += f"{len(fixed)})"
    lines.append(f"**Findings:** {summary}")
    efficiency = report.get("efficiency")
    if efficiency is not None:
        lines.append("")
        lines.append(f"**Source layer efficiency:** {100 * efficiency['score']:.1f}% "
                     f"({human_bytes(efficiency['wasted_bytes'])} wasted in "
                     f"{plural(len(efficiency['layers']), 'layer')})")
    return lines


def _counts(counts: Mapping[str, int]) -> str:
    errors, warnings = plural(counts["error"], "error"), plural(counts["warning"], "warning")
    return f"{errors} · {warnings} · {counts['info']} info"


def _verdict(report: Mapping[str, Any]) -> str:
    verification = report.get("verification")
    ident = report["identity"]
    if verification is None:
        if ident["kind"] == "review":
            return "not applicable (review)"
        return "not run (dry run)" if ident["dry_run"] else "not run (--no-verify or disabled by the policy)"
    verdict = "PASSED" if verification["ok"] else "FAILED"
    summary = c(verification["summary"], 300)
    return summary if verdict in summary else f"{verdict}: {summary}"


def _identity(report: Mapping[str, Any]) -> list[str]:
    ident = report["identity"]
    policy = ident["policy"]
    rows = [
        ["source", code(ident["source"])],
        ["source digest", code(ident["source_digest"] or "-")],
        ["output digest", code(ident["output_digest"] or "-")],
        ["platform", c(ident["platform"] or "-")],
        ["OS", _os(report["os"])],
        ["policy", "-" if policy is None else f"{c(policy['name'])} ({code(policy['digest'])})"],
        ["harden", c(ident["harden_version"])],
        ["generated", c(ident["generated_at"])],
    ]
    if ident["harden_seconds"] is not None:
        rows.append(["time", f"{ident['harden_seconds']:.1f} s"])
    for written in ident["written"]:
        rows.append(["written", code(written)])
    if report["dropped"]:
        rows.append(["dropped layer entries", f"{len(report['dropped'])} (--sanitize; see report.json)"])
    return ["## Identity", "", *table(["", ""], rows)]


def _os(os: Mapping[str, Any]) -> str:
    """``Alpine Linux v3.19 (apk: /lib/apk/db/installed)``; a database harden does not prune says so."""
    databases = [f"{db['kind']}{'' if db['prunable'] else ', not pruned'}: {', '.join(db['sources'])}"
                 for db in os["databases"]]
    return f"{c(os['name'])} ({c('; '.join(databases)) if databases else 'no package database'})"


def _stages(report: Mapping[str, Any]) -> list[str]:
    stages = report["sizes"]["stages"]
    if not stages:
        return []
    rows = [
        [c(s["stage"]), human_bytes(s["bytes_saved"]), number(s["files_removed"]), number(s["changes"]),
         f"{s['seconds']:.1f}"]
        for s in stages
    ]
    return ["## Size by stage", "", *table(["stage", "saved", "files removed", "changes", "seconds"], rows,
                                           "lrrrr")]


def _categories(report: Mapping[str, Any]) -> list[str]:
    review = report["sizes"]["after"] is None
    rows = []
    for row in report["sizes"]["categories"]:
        before, after = row["before"], row["after"]
        if before is None and not row["changes"]:
            continue
        if before is not None and not before["files"] and not before["bytes"] and not row["changes"]:
            continue
        line = [c(row["category"]), human_bytes(before["bytes"]) if before else "-"]
        if not review:
            line += [human_bytes(after["bytes"]) if after else "-", human_bytes(row["saved_bytes"]),
                     number(row["files_removed"])]
        rows.append(line)
    headers = ["category", "in image"] if review else ["category", "before", "after", "saved by stages",
                                                       "files removed"]
    lines = ["## Size by category", ""]
    lines += table(headers, rows, "lrrrr")
    lines += ["", "Before/after are the report's own classification of the files (ELF debug sections count "
              "as debug symbols); \"saved by stages\" is what each stage recorded."]
    return lines


def _largest(report: Mapping[str, Any]) -> list[str]:
    files = report["largest_files"][:TOP]
    packages = report["largest_packages"][:TOP]
    lines = ["## Largest remaining files and packages", ""]
    lines += table(["file", "size"], [[code(f["path"]), human_bytes(f["bytes"])] for f in files], "lr")
    if packages:
        lines.append("")
        lines += table(
            ["package", "version", "type", "size", "files"],
            [[c(p["name"]), c(p["version"]), p["ecosystem"], human_bytes(p["bytes"]),
              number(p["files"]) if p["size_source"] in _COUNTED else "-"] for p in packages],
            "lllrr",
        )
    return lines


def _efficiency(report: Mapping[str, Any]) -> list[str]:
    efficiency = report.get("efficiency")
    if efficiency is None:
        return []
    lines = [
        "## Layer efficiency of the source image",
        "",
        f"dive's figure: {100 * efficiency['score']:.2f}% efficient, "
        f"{human_bytes(efficiency['wasted_bytes'])} wasted of {human_bytes(efficiency['total_bytes'])} in "
        f"the layers; wasted bytes in layers after the first: {100 * efficiency['user_wasted_ratio']:.1f}%.",
        "",
    ]
    lines += table(
        ["layer", "diff_id", "size", "files", "whiteouts"],
        [[str(layer["index"]), code(layer["diff_id"][:19]), human_bytes(layer["bytes"]),
          number(layer["files"]), number(layer["whiteouts"])] for layer in efficiency["layers"]],
        "rlrrr",
    )
    wasted = efficiency["wasted_paths"][:TOP]
    if wasted:
        lines += ["", *table(["path", "copies", "wasted"],
                             [[code(w["path"]), str(w["occurrences"]), human_bytes(w["wasted_bytes"])]
                              for w in wasted], "lrr")]
    return lines


def _findings(report: Mapping[str, Any]) -> list[str]:
    rules = {r["code"]: r for r in report["rules"]}
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for finding in report["findings"]:
        grouped.setdefault(finding["code"], []).append(finding)
    lines = ["## Findings", ""]
    if not grouped:
        lines.append("No findings.")
    else:
        rows = []
        for code_, items in grouped.items():
            where = ", ".join(code(f["location"], 60) for f in items[:TOP_LOCATIONS])
            if len(items) > TOP_LOCATIONS:
                where += f" (+{len(items) - TOP_LOCATIONS} more)"
            rows.append([items[0]["severity"], code_, c(rules[code_]["title"]), str(len(items)), where])
        lines += table(["severity", "code", "check", "count", "where"], rows, "lllrl")
        lines += ["", "Remediation:", ""]
        lines += [f"- **{code_}**: {c(rules[code_]['remediation'], 300)}" for code_ in grouped]
    fixed = report.get("fixed_findings")
    if fixed:
        by_code: dict[str, int] = {}
        for finding in fixed:
            by_code[finding["code"]] = by_code.get(finding["code"], 0) + 1
        fixed_text = ", ".join(f"{code_} x{count}" for code_, count in sorted(by_code.items()))
        lines += ["", f"Fixed by harden (present in the original image): {fixed_text}."]
    return lines


_PROTECTIONS = (
    ("full RELRO", "full_relro"), ("partial RELRO", "partial_relro"), ("no RELRO", "no_relro"),
    ("BIND_NOW", "bind_now"), ("NX (non-executable stack)", "nx"), ("executable stack", "execstack"),
    ("PIE executables", "pie_executables"), ("non-PIE executables", "non_pie_executables"),
    ("stack canary", "canary"), ("FORTIFY", "fortify"), ("RPATH", "rpath"), ("RUNPATH", "runpath"),
    ("unreadable", "errors"),
)


def _problems(row: Mapping[str, Any]) -> list[str]:
    if row["error"]:
        return ["unreadable"]
    found = []
    if row["execstack"]:
        found.append("executable stack")
    if row["relro"] != "full":
        found.append(f"{row['relro']} RELRO")
    if row["pie"] == "no":
        found.append("not PIE")
    if row["canary"] is False:
        found.append("no canary")
    if row["rpath"]:
        found.append("RPATH")
    return found


def _elf(report: Mapping[str, Any]) -> list[str]:
    elf = report["elf"]
    summary = elf["summary"]
    lines = ["## ELF hardening", ""]
    if not summary["files"] and not summary["errors"]:
        return [*lines, "No ELF executables or shared objects."]
    lines.append(f"{plural(summary['executables'], 'executable')} and "
                 f"{plural(summary['shared_objects'], 'shared object')}; debug sections left: "
                 f"{human_bytes(summary['debug_bytes'])}. The full table is in report.json (`elf.files`).")
    lines.append("")
    rows = [[name, number(summary[key]), "-" if key == "errors" else percent(summary[key], summary["files"])]
            for name, key in _PROTECTIONS if key != "errors" or summary[key]]
    lines += table(["protection", "files", "share"], rows, "lrr")
    ranked = sorted(((len(_problems(r)), r) for r in elf["files"] if _problems(r)),
                    key=lambda item: (-item[0], item[1]["path"]))
    worst = [r for _, r in ranked[:TOP]]
    if worst:
        lines += ["", "Worst offenders:", ""]
        lines += table(["file", "type", "weaknesses"],
                       [[code(r["path"], 80), c(r["type"]), c(", ".join(_problems(r)))] for r in worst])
    return lines


def _verification(report: Mapping[str, Any]) -> list[str]:
    verification = report.get("verification")
    if verification is None:
        return []
    return verification_lines(verification, _verdict(report))


def _changes(report: Mapping[str, Any]) -> list[str]:
    changes = report["changes"]
    if not changes and not report["skipped"] and not report["notes"]:
        return []
    grouped: dict[tuple[str, str], list[int]] = {}
    for change in changes:
        totals = grouped.setdefault((change["stage"], change["category"]), [0, 0, 0])
        totals[0] += 1
        totals[1] += change["files_removed"]
        totals[2] += change["bytes_saved"]
    lines = ["## Changes", "", f"{plural(len(changes), 'change')} (each with its reason in report.json)."]
    lines += ["", *table(["stage", "category", "changes", "files removed", "saved"],
                         [[c(stage), c(category), number(n), number(files), human_bytes(saved)]
                          for (stage, category), (n, files, saved) in grouped.items()], "llrrr")]
    top = sorted(changes, key=lambda ch: (-ch["bytes_saved"], ch["target"]))[:TOP_CHANGES]
    top = [ch for ch in top if ch["bytes_saved"] > 0]
    if top:
        lines += ["", f"Top {len(top)} changes by bytes saved:", ""]
        lines += table(["stage", "action", "target", "saved", "reason"],
                       [[c(ch["stage"]), c(ch["action"]), code(str(ch["target"]), 80),
                         human_bytes(ch["bytes_saved"]), c(ch["reason"], 80)] for ch in top], "lllrl")
    if report["skipped"]:
        kept = plural(len(report["skipped"]), "path")
        lines += ["", f"Deliberately kept: {kept} (see report.json `skipped`)."]
    if report["notes"]:
        lines.append("")
    for note in report["notes"]:  # every one: remove-unreachable's say why each kept package is reachable
        lines.append(f"- note ({c(note['stage'])}): {c(note['note'], 300)}")
    return lines


def _sbom(report: Mapping[str, Any]) -> list[str]:
    sbom = report.get("sbom")
    packages = report["packages"]
    before = packages["before"]
    after = packages["after"]
    lines = ["## Software bill of materials", ""]
    text = f"Python distributions: {before['pypi']}, Debian packages: {before['deb']}"
    if after is not None:
        text = (f"Python distributions: {before['pypi']} → {after['pypi']}, "
                f"Debian packages: {before['deb']} → {after['deb']}")
    lines.append(text + ".")
    if sbom is not None:
        files = [code(name) for name in (sbom["original"], sbom["hardened"], sbom["diff"]) if name]
        lines += ["", "CycloneDX 1.5: " + ", ".join(files) + "."]
        summary = sbom.get("diff_summary")
        if summary is not None:
            lines += ["", f"Diff: {summary['added']} added, {summary['removed']} removed, "
                          f"{summary['changed']} changed, {summary['unchanged']} unchanged."]
    return lines
