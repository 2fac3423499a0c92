"""bench/results/<image>.md: every number of one run, with how it was measured."""

from __future__ import annotations

from collections.abc import Sequence

from imagebench.breakage import describe_distributions, describe_imports, root_causes
from imagebench.figures import (
    growth,
    harden_seconds,
    mb,
    median,
    pct,
    ratio,
    scale_seconds,
    sec,
    spread,
    verdicts,
)
from imagebench.model import BenchResult, Run, ScalePoint


def _table(header: tuple[str, ...], rows: Sequence[Sequence[str]]) -> list[str]:
    def esc(cell: str) -> str:
        return cell.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(esc(str(c)) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _phases(run: Run) -> list[tuple[str, str]]:
    return [(p.name, sec(p.seconds)) for p in run.phases if p.seconds >= 0.05]


def render_markdown(result: BenchResult, chart_name: str) -> str:
    m, o, n, h, f, run = (result.machine, result.original, result.naive, result.hardened, result.floor,
                          result.harden)
    lines = [
        f"# Benchmark: `{result.image}` — original vs hardened vs the naive recipe",
        "",
        f"Measured **{m.date}** with `make bench` (bench/image_bench.py), all on one engine in one run "
        f"({result.bench_seconds / 60:.1f} min in all).",
        "",
        f"- machine: **{m.cores} cores** ({m.cpu_model}), **{m.memory_bytes / 2**30:.1f} GiB** memory, "
        f"Linux {m.kernel}",
        f"- engine: {m.engine}; harden {m.harden_version} (commit {m.commit}) on Python {m.python}; "
        f"policy `{result.policy}`",
        f"- MB = 10^6 bytes. Times are wall-clock on a {m.cores}-core machine shared with other work: the I/O floor "
        f"and harden's time without verification are medians of {len(result.harden_samples)} runs (spreads below), "
        "every other time is one run — read them to ±20 %.",
        "",
        f"![sizes and times]({chart_name})",
        "",
        "## Against the targets of issue #3",
        "",
    ]
    lines += _table(("target", "measured", "verdict"), [(v.target, v.measured, v.mark) for v in verdicts(result)])
    lines += [
        "## Sizes",
        "",
    ]
    lines += _table(("image", "layers", "uncompressed", "gzip -6", "files", "file bytes", "uncompressed vs original",
                     "gzip vs original"), [
        (s.label, str(s.layers), mb(s.uncompressed_bytes), mb(s.gzip_bytes), f"{s.files:,}", mb(s.content_bytes),
         pct(s.uncompressed_bytes, o.uncompressed_bytes), pct(s.gzip_bytes, o.gzip_bytes))
        for s in (o, n, h)
    ])
    lines += [
        "How: each image is `docker save`d to a scratch file; *uncompressed* is the sum of its layer tars, *gzip -6* "
        "the sum of each layer tar streamed through zlib at level 6 (counted, not kept), *files* the non-directory "
        "entries (regular files, symlinks, hard links) and *file bytes* the regular files' sizes after merging the "
        "layers with their whiteouts — all computed by the bench itself, not taken from harden's report.",
        "",
        "Where hardened's bytes went (harden's own report.json, per stage):",
        "",
    ]
    lines += _table(("stage", "seconds", "bytes saved", "files removed"),
                    [(name, sec(seconds), mb(saved), f"{files:,}")
                     for name, seconds, saved, files in result.stage_savings])
    lines += _naive_section(result)
    lines += [
        "## Time: harden vs the I/O floor",
        "",
    ]
    hs = harden_seconds(result)
    honest = [s.honest_seconds for s in result.floor_samples if s.honest_seconds is not None]
    repeat = len(result.harden_samples)
    lines += [
        f"The I/O floor and harden's time without verification are each measured {repeat} times, alternating "
        "(the full `harden image` run with verification, then `harden image --no-verify` runs); the table shows the "
        "medians, and the floor's components are those of its median run.",
        "",
    ]
    lines += _table(("step", "seconds", "how"), [
        ("`docker save` of the original", sec(f.save_seconds), f"to a file ({mb(f.archive_bytes)})"),
        ("`docker load` of it, same engine", sec(f.load_dedup_seconds),
         "every layer already exists: podman skips them, so this is cheaper than a real load"),
        ("`podman load` into an empty storage", sec(f.load_fresh_seconds),
         f.fresh_note or "throw-away `--root`/`--runroot`, overlay driver: every layer written again"),
        ("**I/O floor, honest** (save + empty load)", sec(f.honest_seconds),
         f"the floor the ratio is judged on; {spread(honest)}"),
        ("I/O floor, deduplicated (save + reload)", sec(f.dedup_seconds), "for reference"),
        ("**harden image, verification excluded**", sec(hs),
         "wall time of the whole harden process (minus the verify phase in the full run); "
         f"{spread(result.harden_samples)}"),
        ("ratio to the honest floor", f"{ratio(hs, f.honest_seconds) or 0:.2f}x", ""),
        ("ratio to the deduplicated floor", f"{ratio(hs, f.dedup_seconds) or 0:.2f}x", ""),
        ("verification (the verify phase of harden image)", sec(run.verify_seconds),
         "probes in containers of both images: imports, metadata, smoke tests, assertions, startup"),
        ("harden image, total", sec(run.wall_seconds), f"exit {run.exit_code}"),
        ("report.json `harden_seconds`", sec(result.report_harden_seconds),
         "harden's own clock: read, merge, stages, layer write (no engine load, no reports)"),
    ])
    lines += [
        "The phases of the full `harden image` run (bench/imagebench/harden_phases.py calls "
        "`harden.api.harden_image` — what the CLI calls — with a progress reporter that timestamps each phase "
        "harden announces; *startup* is "
        "interpreter start, imports and policy loading, *write layer* includes loading the result into the engine, "
        "*verify* includes tagging, *finish* is writing the reports):",
        "",
    ]
    lines += _table(("phase", "seconds"), _phases(run))
    lines += _memory_section(result)
    lines += _startup_section(result)
    lines += _scaling_section(result)
    lines += [
        "## Caveats",
        "",
        "- The engine and the cores are shared with whatever else runs on the machine; the spreads show how much "
        "that moved the repeated measurements.",
        "- The archives are read right after `docker save` wrote them (page cache warm), which flatters the floor "
        "and so makes the ratio conservative.",
        "- harden reads its source through the engine's API (the engine exports the image, as `docker save` does) "
        "and loads its result back: the podman service's own CPU and memory are outside harden's process tree.",
        "- Build times (not part of any comparison): "
        + ", ".join(f"{k} {sec(v)}" for k, v in result.build_seconds.items()) + ".",
        *[f"- {note}" for note in result.notes],
        "",
    ]
    return "\n".join(lines)


def _naive_section(result: BenchResult) -> list[str]:
    b, run = result.breakage, result.naive_verify
    lines = [
        "## The naive recipe and what it breaks",
        "",
        "bench/naive/Dockerfile, the seed build pattern: `find /opt/venv -type f -name \"*.so\" -exec strip {} \\;`, "
        "then delete `__pycache__`, `*.pyc`, `*.dist-info`, `*.egg-info`, `doc`, `docs`, `test`, `tests` under the "
        "venv, `rm -f /bin/sh /bin/ash /bin/bash` and `rm -rf /bin/* /sbin/* /usr/bin/* /usr/sbin/*`. The work runs "
        "in stages that still have a shell (binutils comes from Debian in a builder stage) and the final stage "
        "copies the result into an empty image, so the deletions really remove bytes. **One deviation:** the seed "
        "assumed Python in /usr/local; this Debian base has `/usr/bin/python3` (and `/bin` → `usr/bin`), so the "
        "recipe keeps `/usr/bin/python3*` — taken literally it deletes the interpreter and nothing runs at all.",
        "",
        f"`harden verify {result.image} naive --policy {result.policy}` (the verifier harden runs on its own "
        f"output) exited **{run.exit_code}** after {sec(run.wall_seconds)} with **{b.failures} failures**:",
        "",
        f"- imports, of the targets (modules, plugins, entry points) that import in the original, per interpreter: "
        f"{describe_imports(b)}.",
        f"- `importlib.metadata.distributions()` per interpreter, original → naive: {describe_distributions(b)}. "
        f"The verifier reports {len(b.distributions_missing)} distributions gone "
        f"(e.g. {', '.join(b.distributions_missing[:5]) or '—'}; the installers the policy removes on purpose are not "
        "counted): `version()` raises PackageNotFoundError, entry points disappear with them, and scanners that "
        "read `*.dist-info` (Syft, Grype, Trivy) find no Python package"
        + (f"; {b.entry_points_missing} entry points lost on distributions still present." if b.entry_points_missing
           else "."),
        f"- smoke tests failing: {len(b.smoke_failures)}"
        + (f" ({', '.join(e.name for e in b.smoke_failures[:5])})" if b.smoke_failures else "")
        + f"; hardening assertions failing: {len(b.assertion_failures)}"
        + (f" ({', '.join(e.name for e in b.assertion_failures)})" if b.assertion_failures else "") + ".",
        *[f"- problem: {p}" for p in b.problems[:5]],
        "",
        "Import regressions grouped by error (the first failing import explains the rest):",
        "",
    ]
    lines += _table(("error in the naive image", "targets", "example"),
                    [(error, str(count), f"`{example}`") for error, count, example in root_causes(b)])
    labels = tuple(label for label, _ in result.checks[0].results) if result.checks else ()
    lines += ["The same, checked directly (`python3 -c …` in a fresh container of each image):", ""]
    lines += _table(("check", *labels), [(f"`{c.name}`", *(outcome for _, outcome in c.results))
                                         for c in result.checks])
    return lines


def _memory_section(result: BenchResult) -> list[str]:
    rows = [("harden image (with verification)", result.harden)]
    rows += [(f"harden image --no-verify, {p.label}", p.harden) for p in result.scaling[1:]]
    rows += [("harden verify, naive image", result.naive_verify)]
    lines = ["## Peak memory", ""]
    lines += _table(("run", "largest process", "process tree (sum of PSS)", "wall"),
                    [(name, mb(r.peak_rss_process_bytes), mb(r.peak_pss_tree_bytes), sec(r.wall_seconds))
                     for name, r in rows])
    return [
        *lines,
        "*Largest process* is `ru_maxrss` from `wait4` on the harden process (the maximum over it and every "
        "descendant it waited for); *process tree* is the largest sum of PSS over the live tree, sampled from "
        "/proc/PID/smaps_rollup every 0.25 s (a page shared by forked workers counts once in the sum).",
        "",
    ]


def _startup_section(result: BenchResult) -> list[str]:
    s = result.startup
    if s is None:
        return ["## Import startup", "", "Not measured (the policy's verification recorded no startup cost).", ""]
    lines = ["## Import startup", ""]
    rows = [("harden's verifier (during `harden image`)", f"{s.runs} per image", sec(s.before_seconds),
             sec(s.after_seconds), f"x{ratio(s.after_seconds, s.before_seconds) or 0:.2f}")]
    if s.bench_before and s.bench_after:
        before, after = median(s.bench_before), median(s.bench_after)
        rows.append(("the bench, original and hardened containers alternating",
                     f"{len(s.bench_before)} per image", f"{sec(before)} ({spread(s.bench_before)})",
                     f"{sec(after)} ({spread(s.bench_after)})", f"x{ratio(after, before) or 0:.2f}"))
    lines += [f"Median wall time of a fresh interpreter importing `{', '.join(s.modules)}` inside containers of "
              "each image:", ""]
    lines += _table(("measured by", "runs", "original", "hardened", "hardened / original"), rows)
    bytecode = next((row for row in result.stage_savings if row[0] == "remove-bytecode"), None)
    if bytecode is not None and bytecode[2] > 0:
        lines.append(
            f"The original ships compiled bytecode; harden's remove-bytecode stage deletes it ({bytecode[3]:,} files, "
            f"{mb(bytecode[2])}). Without it an interpreter compiles every module it imports from source, and "
            "nothing caches the result (the images set `PYTHONDONTWRITEBYTECODE=1`, and the hardened one runs as a "
            "non-root user who cannot write beside the root-owned sources): that compile is paid at every start.")
    return [*lines, ""]


def _scaling_section(result: BenchResult) -> list[str]:
    if len(result.scaling) < 2:
        return []
    lines = [
        "## Scaling",
        "",
        "bench/scaling/Dockerfile: the same image plus a full copy of `/opt/venv` as `/opt/venv2`, hardened with the "
        "same policy (`--no-verify`: the time below excludes verification for both rows; medians of "
        f"{len(result.scaling[-1].harden_samples)} runs, as above).",
        "",
    ]
    lines += _table(("image", "uncompressed", "files", "harden, verification excluded", "MB/s", "honest I/O floor",
                     "ratio", "hardened file bytes"), [
        (p.label, mb(p.size.uncompressed_bytes), f"{p.size.files:,}", sec(scale_seconds(p)),
         _mbps(p), sec(p.floor.honest_seconds),
         f"{ratio(scale_seconds(p), p.floor.honest_seconds) or 0:.2f}x", mb(p.output_content_bytes))
        for p in result.scaling
    ])
    if g := growth(result):
        first, last = result.scaling[0], result.scaling[-1]
        floor = ratio(last.floor.honest_seconds, first.floor.honest_seconds)
        lines += [
            f"Size x{g[0]:.2f} → harden time x{g[1]:.2f}"
            + (f" (honest I/O floor x{floor:.2f})" if floor else "")
            + f"; throughput {_mbps(first)} → {_mbps(last)} MB/s. The copy is byte-identical to the venv, so "
            "content-addressed blobs and the dedupe stage (hard links) keep the hardened file bytes where they were: "
            "the second venv costs reading, merging, planning and writing, not a second strip.",
            "",
        ]
    return lines


def _mbps(point: ScalePoint) -> str:
    return f"{point.size.uncompressed_bytes / 1e6 / scale_seconds(point):.1f}"
