"""bench/results/<stem>.md: every number of one ImageResult, with how it was measured; and summary.md, the
headline figures of every part of one run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from imagebench.breakage import describe_distributions, describe_imports, root_causes
from imagebench.figures import (
    IoFigures,
    io_figures,
    mb,
    median,
    pct,
    ratio,
    sec,
    size_share,
    spread,
    times,
    verdicts,
    verify_samples,
)
from imagebench.model import ImageResult, ImageSize, Memory, PolicyRun, VerificationStats

TITLES = {
    "deps": "the project's deps image: harden vs the I/O floor, policies, the naive recipe",
    "scaling": "time and memory against image size",
    "data": "an independent data image, default policy",
    "base": "the Python base, hardened, beside a distroless-style image",
}
FRESH_WORD = {True: "yes", False: "NO", None: "?"}
"""A run's *fresh write* (its output layer new to the engine), as every table and line says it."""


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def esc(cell: str) -> str:
        return str(cell).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def machine_lines(result: ImageResult) -> list[str]:
    m = result.machine
    return [
        f"Measured **{m.date}** by `make bench` (bench/image_bench.py), this part in "
        f"{result.bench_seconds / 60:.1f} min; every figure below comes from this run.",
        "",
        f"- machine: **{m.cores} cores** ({m.cpu_model}), **{m.memory_bytes / 2**30:.1f} GiB** memory, "
        f"Linux {m.kernel}",
        f"- engine: {m.engine}, storage {m.storage}",
        f"- harden {m.harden_version}, commit {m.commit}, Python {m.python}",
        f"- options: {', '.join(f'{k} {v}' for k, v in result.options.items())}",
        "- MB = 10^6 bytes. The cores are shared with other work: spreads (min-max) show how much that moved the "
        "repeated samples; single runs are one sample.",
        "",
    ]


def render_markdown(result: ImageResult) -> str:
    lines = [f"# `{result.image}` — {TITLES.get(result.kind, result.kind)}", "", *machine_lines(result)]
    lines += ["## Against the targets", ""]
    lines += table(("target", "measured", "verdict"), [(v.target, v.measured, v.mark) for v in verdicts(result)])
    lines += sizes_section(result)
    lines += io_section(result)
    lines += runs_section(result)
    for run in result.runs:
        if run.verification is not None:
            lines += verification_section(run, run.verification)
    lines += memory_section(result)
    lines += naive_section(result)
    lines += checks_section(result)
    lines += startup_section(result)
    lines += scaling_section(result)
    lines += distroless_section(result)
    if result.notes:
        lines += ["## Notes", "", *[f"- {note}" for note in result.notes], ""]
    return "\n".join(lines)


def size_row(size: ImageSize, original: ImageSize) -> tuple[str, ...]:
    return (size.label, str(size.layers), mb(size.uncompressed_bytes), mb(size.gzip_bytes), f"{size.files:,}",
            mb(size.content_bytes), pct(size.uncompressed_bytes, original.uncompressed_bytes),
            pct(size.gzip_bytes, original.gzip_bytes))


def sizes_section(result: ImageResult) -> list[str]:
    o = result.original
    sizes = [o] + [replace(run.hardened, label=run.label) for run in result.runs if run.hardened is not None]
    if result.naive is not None:
        sizes.append(replace(result.naive.size, label="naive recipe"))
    if result.distroless is not None:
        sizes.append(replace(result.distroless.size, label="distroless-style"))
    lines = ["## Sizes", ""]
    lines += table(("image", "layers", "uncompressed", "gzip -6", "files", "file bytes", "uncompressed vs original",
                    "gzip vs original"), [size_row(s, o) for s in sizes])
    lines += ["How: `docker save` of each image to a scratch file; *uncompressed* is the sum of its layer tars, "
              "*gzip -6* each layer tar through zlib at level 6 (counted, not kept), *files* the non-directory "
              "entries and *file bytes* the regular files' bytes of the merged filesystem — computed by the bench, "
              "not taken from harden's report.", ""]
    return lines


def io_section(result: ImageResult) -> list[str]:
    io, figures = result.io, io_figures(result.io)
    if io is None or figures is None:
        return []
    lines = ["## harden vs the I/O floor", "",
             "Floor: `docker save` of the image to a file, then `podman load` of that file into an empty storage "
             "(a podman of its own: new root, runroot and tmpdir in a scratch directory, so every layer is written). "
             "harden: `"
             + " ".join(io.argv) + "`, its wall time, its output layer new to the engine ("
             + ("each run gets its own SOURCE_DATE_EPOCH, so its layer bytes differ from every earlier one, and the "
                "previous output is removed" if io.fresh_method == "epoch" else "earlier outputs removed")
             + "; checked against every image's layers before the run). "
             + ("The order alternates from pair to pair (floor first in the first); " + io.settle + "." if io.settle
                else "Samples alternate floor, harden, floor, harden …; the machine was not settled between them."),
             ""]
    rows = []
    for index, pair in enumerate(io.pairs, 1):
        f, h = pair.floor, pair.harden
        first = "" if f.save_first_byte_seconds is None else f" (first byte at {sec(f.save_first_byte_seconds)})"
        rows.append((str(index), sec(f.save_seconds) + first, sec(f.load_seconds), sec(f.seconds), sec(h.wall_seconds),
                     times(pair.ratio), FRESH_WORD[h.fresh],
                     mb(h.memory.tree_rss_peak_bytes),
                     "; ".join(n for n in (f"{pair.first} first" if io.settle else "", pair.settle_note, f.note,
                                           h.error) if n)))
    rows.append(("**median**", sec(figures.save_median), sec(figures.load_median), sec(figures.floor_median),
                 sec(figures.harden_median), times(figures.ratio_median), f"{figures.fresh_pairs} of {figures.pairs}",
                 "", ""))
    lines += table(("sample", "save", "load (empty storage)", "floor", "harden --no-verify", "ratio",
                    "fresh write", "harden tree RSS peak", "note"), rows)
    lines += [f"Spreads: floor {spread(figures.floor_values)}; harden {spread(figures.harden_values)}; "
              f"ratio {spread(figures.ratio_values, '')}. The ratio median is over the per-pair ratios of pairs "
              "whose harden write was fresh.", *_first_byte(figures), ""]
    return lines


def runs_section(result: ImageResult) -> list[str]:
    o = result.original
    lines = ["## Policies", "",
             "Each row is one `harden image` run (through harden.api, what the CLI calls, with a clock on the phases "
             "harden announces); *without verify* is its wall time minus the verify phase. *fresh write*: the "
             "output's layer was new to the engine (no image held it before the run).", ""]
    rows = []
    for run in result.runs:
        r = run.run
        rows.append((run.label, f"`{run.policy}`", pct(run.hardened.uncompressed_bytes if run.hardened else None,
                                                        o.uncompressed_bytes),
                     pct(run.hardened.gzip_bytes if run.hardened else None, o.gzip_bytes),
                     sec(r.wall_seconds), sec(r.seconds_excluding_verify),
                     sec(r.verify_seconds) if run.verified else "not verified",
                     mb(r.memory.headline_bytes), FRESH_WORD[run.fresh],
                     f"exit {r.exit_code}"))
    lines += table(("run", "policy", "uncompressed vs original", "gzip vs original", "wall", "without verify",
                    "verify", "peak memory", "fresh write", "exit"), rows)
    first = result.runs[0] if result.runs else None
    if first is not None and result.verify_repeats:
        samples = verify_samples(result, first)
        more = len(result.verify_repeats)
        lines += [f"Verify phase of {first.label} in {more} more `harden image` run{'s' if more > 1 else ''} right "
                  f"after it, {'each' if more > 1 else 'its'} verification PASSED (the machine not settled between "
                  "runs, as for the headline): "
                  + ", ".join(sec(s) for s in result.verify_repeats)
                  + f"; with the headline's {sec(samples[0])}, median {sec(median(samples))}, {spread(samples)}. "
                  + _repeats_fresh(result.verify_repeats_fresh),
                  ""]
    if first is not None and first.stage_savings:
        lines += [f"Where the bytes went under {first.label} (harden's report.json, per stage):", ""]
        lines += table(("stage", "seconds", "bytes saved", "files removed"),
                       [(s.stage, sec(s.seconds), mb(s.bytes_saved), f"{s.files_removed:,}")
                        for s in first.stage_savings if s.bytes_saved or s.files_removed])
        phases = [(p.name, sec(p.seconds)) for p in first.run.phases if p.seconds >= 0.05]
        if phases:
            lines += [f"Phases of {first.label}:", ""]
            lines += table(("phase", "seconds"), phases)
    return lines


def verification_section(run: PolicyRun, v: VerificationStats) -> list[str]:
    lines = [f"## Verification — {run.label}", "", f"harden's summary: {v.summary}", ""]
    rows = [(i.interpreter, f"{i.total:,}", f"{i.regressions:,}", f"{i.accounted:,}", f"{i.preexisting_failures:,}",
             f"{i.skipped:,}", "yes" if i.stdlib_deep else "no") for i in v.imports]
    lines += table(("interpreter", "modules walked", "lost", "accounted (removed on purpose)",
                    "failing in the original too", "skipped", "stdlib walked"), rows)
    lines += [
        f"- runner: {v.runner}{' (restricted, as a pod would run it)' if v.restricted else ''}; "
        f"verify phase {sec(run.run.verify_seconds)}",
        "- distributions (importlib.metadata): "
        + "; ".join(f"{m.interpreter}: {m.distributions_before} → {m.distributions_after}, {m.missing} missing, "
                    f"{m.removed_deliberately} removed on purpose" for m in v.metadata),
        f"- smoke tests {v.smoke_passed}/{v.smoke_total}; assertions {v.assertions_passed}/{v.assertions_total}"
        + (f" (failed: {'; '.join(v.assertions_failed)})" if v.assertions_failed else ""),
        f"- files the original read while importing that are gone: {v.touched_total}, of which accounted "
        f"{v.touched_accounted}",
        f"- linkage: {v.linkage_objects if v.linkage_objects is not None else 'not checked'} objects, "
        f"{len(v.linkage_broken)} broken, {v.linkage_preexisting} broken in the original too",
        f"- failures: {v.failures_total}" + (f" (first: {'; '.join(v.failures[:3])})" if v.failures else ""),
        f"- writable paths needed under a read-only root: {v.writable_total}",
        "",
    ]
    return lines


def memory_row(name: str, memory: Memory, wall: float) -> tuple[str, ...]:
    return (name, mb(memory.headline_bytes), mb(memory.tree_rss_peak_bytes), mb(memory.with_probes_peak_bytes),
            mb(memory.tree_pss_peak_bytes), mb(memory.largest_process_bytes), str(memory.processes_peak),
            mb(memory.engine_service_rss_peak_bytes), sec(wall))


def memory_section(result: ImageResult) -> list[str]:
    rows = [memory_row(run.label + ("" if run.verified else ", --no-verify"), run.run.memory, run.run.wall_seconds)
            for run in result.runs]
    if result.io is not None:
        for index, pair in enumerate(result.io.pairs, 1):
            rows.append(memory_row(f"harden --no-verify, sample {index}", pair.harden.memory,
                                   pair.harden.wall_seconds))
    lines = ["## Peak memory", ""]
    lines += table(("run", "**peak (headline)**", "process tree RSS", "tree + probe containers", "tree PSS",
                    "largest process", "processes", "engine service RSS", "wall"), rows)
    lines += ["*Process tree RSS*: every 0.2 s the bench sums the RSS of harden and every live descendant "
              "(verification children in harden's sandbox included) and keeps the largest sum. *Tree + probe "
              "containers*: when the verifier runs its probes as engine containers (not harden's descendants), "
              "their memory cgroups' anonymous memory is added at the same sample. The headline is the larger of "
              "the two. *Largest process* is `ru_maxrss` from `wait4`; the engine service (podman) exports and "
              "loads images for harden and is shown apart, outside the headline.", ""]
    for run in result.runs:
        c = run.run.containers
        if c is not None:
            lines.append(f"- {run.label}: probe containers started {c.probes_started}, sampled {c.probes_sampled}, "
                         f"largest single peak {mb(c.largest_peak_bytes)}, concurrent anonymous peak "
                         f"{mb(c.concurrent_anon_peak_bytes)}{'; ' + c.note if c.note else ''}")
    return [*lines, ""]


def naive_section(result: ImageResult) -> list[str]:
    n = result.naive
    if n is None:
        return []
    lines = ["## The naive recipe (seed 004) and what it breaks", "",
             f"`{n.dockerfile}` follows the seed's final stage step by step, its non-root user included (built in "
             f"{sec(n.build_seconds)}). Its deviations from the seed, as its header lists them:", ""]
    lines += [f"{i}. {d}" for i, d in enumerate(n.deviations, 1)] or ["(none listed)"]
    b, run = n.breakage, n.verify
    if b is None or run is None:
        return [*lines, "", "`harden verify` of the naive image was skipped (--no-naive-verify); the direct checks "
                "below show what it broke.", ""]
    lines += ["",
              f"`harden verify {result.image} <naive>` exited **{run.exit_code}** after {sec(run.wall_seconds)} with "
              f"**{b.failures} failures**:", "",
              f"- imports that work in the original and fail in the naive image: {describe_imports(b)}",
              f"- distributions, original → naive: {describe_distributions(b)}; gone: {len(b.distributions_missing)}"
              + (f" (e.g. {', '.join(b.distributions_missing[:5])})" if b.distributions_missing else ""),
              f"- smoke tests failing: {len(b.smoke_failures)}; assertions failing: {len(b.assertion_failures)}"
              + (f" ({', '.join(e.name for e in b.assertion_failures)})" if b.assertion_failures else "")
              + f"; passing: {', '.join(b.assertions_passed) or 'none'}",
              *[f"- problem: {p}" for p in b.problems[:5]], ""]
    causes = root_causes(b)
    if causes:
        lines += table(("error in the naive image", "targets", "example"),
                       [(error, str(count), f"`{example}`") for error, count, example in causes])
    return lines


def checks_section(result: ImageResult) -> list[str]:
    if not result.checks:
        return []
    labels = [label for label, _ in result.checks[0].results]
    lines = ["## Direct checks", "", "`python3 -c …` in a fresh container of each image:", ""]
    lines += table(("check", *labels), [(f"`{c.name}`", *(outcome for _, outcome in c.results))
                                        for c in result.checks])
    return lines


def startup_section(result: ImageResult) -> list[str]:
    s = result.startup
    if s is None:
        return []
    lines = ["## Import start-up", "", f"Fresh interpreters running `import {', '.join(s.modules)}` in containers of "
             "each image, images alternating:", ""]
    lines += table(("image", "median", "spread"), [(label, sec(median(values)), spread(values))
                                                    for label, values in s.images])
    return lines


def scaling_section(result: ImageResult) -> list[str]:
    sc = result.scaling
    if sc is None:
        return []
    lines = ["## Scaling", "", f"{sc.recipe} (built in {sec(sc.build_seconds)}).", ""]
    rows = []
    base = sc.points[0]
    base_io = io_figures(base.io)
    for point in sc.points:
        f = io_figures(point.io)
        v = point.verified
        rows.append((point.label, mb(point.size.uncompressed_bytes),
                     f"{ratio(point.size.uncompressed_bytes, base.size.uncompressed_bytes) or 0:.2f}x",
                     sec(f.floor_median if f else None), sec(f.harden_median if f else None),
                     times(f.ratio_median if f else None),
                     f"{ratio(f.harden_median if f else None, base_io.harden_median if base_io else None) or 0:.2f}x",
                     sec(v.run.verify_seconds if v else None), mb(v.run.memory.headline_bytes if v else None),
                     mb(max((p.harden.memory.tree_rss_peak_bytes for p in point.io.pairs), default=None))))
    lines += table(("image", "uncompressed", "size vs deps", "floor (median)", "harden --no-verify (median)",
                    "ratio", "harden time vs deps", "verify", "peak memory, verified run",
                    "peak memory, --no-verify"), rows)
    return lines


def distroless_section(result: ImageResult) -> list[str]:
    d = result.distroless
    if d is None:
        return []
    lines = ["## Hardened base vs a distroless-style image", "",
             f"`{d.dockerfile}` (built in {sec(d.build_seconds)}): the base's own interpreter, standard library, the "
             "shared libraries `ldd` names, CA bundle, time zones, a non-root user — nothing else.", ""]
    lines += table(("image", "shells", "package managers", "user"),
                   [(t.label, ", ".join(t.shells) or "none", ", ".join(t.package_managers) or "none",
                     t.user or "root (none set)") for t in d.traits])
    lines += [f"Files in both: {d.common_files:,}; only in the hardened base: {d.only_hardened_files:,} "
              f"({mb(d.only_hardened_bytes)}); only in the distroless-style image: {d.only_distroless_files:,} "
              f"({mb(d.only_distroless_bytes)}).", ""]
    for title, groups in (("Only in the hardened base, by package", d.only_hardened_by_package),
                          ("Only in the distroless-style image, by package", d.only_distroless_by_package)):
        if groups:
            lines += [f"{title}:", ""]
            lines += table(("package", "files", "bytes", "largest"),
                           [(g.name, f"{g.files:,}", mb(g.bytes), ", ".join(g.examples)) for g in groups])
    return lines


def render_summary(results: Sequence[tuple[str, ImageResult]]) -> str:
    """summary.md: one row per target and per figure beside the headline, each linking to its part's file."""
    if not results:
        return "# Benchmark summary\n\nNo part ran.\n"
    m = results[0][1].machine
    lines = ["# Benchmark summary", "",
             f"`make bench`, {m.date}: {m.cores} cores, {m.memory_bytes / 2**30:.1f} GiB, {m.engine}, harden commit "
             f"{m.commit}. Every figure is from this run; details in each part's file.", ""]
    rows = []
    for stem, result in results:
        for v in verdicts(result):
            rows.append((f"[{stem}]({stem}.md)", v.target, v.measured, v.mark))
    lines += table(("part", "target", "measured", "verdict"), rows)
    beside = []
    for stem, result in results:
        for run in result.runs:
            share = size_share(result, run)
            beside.append((f"[{stem}]({stem}.md)", run.label, pct(share, 1.0) if share is not None else "not measured",
                           sec(run.run.wall_seconds), sec(run.run.seconds_excluding_verify),
                           "PASSED" if run.verification and run.verification.ok else
                           ("FAILED" if run.verification else "not verified")))
    lines += ["Figures beside the headline (uncompressed size vs the original; wall time of one run):", ""]
    lines += table(("part", "run", "size", "wall", "without verify", "verification"), beside)
    return "\n".join(lines)


def _first_byte(figures: IoFigures) -> list[str]:
    if figures.first_byte_median is None or figures.save_median is None:
        return []
    return [f"The engine's save sent its first byte after {sec(figures.first_byte_median)} of its "
            f"{sec(figures.save_median)} (medians): until then it prepares the archive and sends nothing. harden "
            "reads the image through the same save, so its read waits as long before it has a byte to work on."]


def _repeats_fresh(fresh: tuple[bool | None, ...]) -> str:
    """Whether the verification repeats wrote fresh, as the policy table's *fresh write* column says it."""
    if not fresh:
        return "Their fresh write was not recorded."
    words = ", ".join(FRESH_WORD[f] for f in fresh)
    return f"Fresh write (output layer new to the engine): {words}."
