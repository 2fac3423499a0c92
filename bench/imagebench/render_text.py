"""The table the benchmark prints on stdout."""

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
from imagebench.model import BenchResult


def _rows(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    return [line.format(*header), line.format(*("-" * w for w in widths)), *(line.format(*r) for r in rows)]


def render_text(result: BenchResult) -> str:
    m = result.machine
    out = [f"harden benchmark: {result.image} (policy {result.policy}) — {m.date}, {m.cores} cores, "
           f"{m.memory_bytes / 2**30:.1f} GiB, {m.engine}", ""]
    original = result.original
    out += _rows(("image", "layers", "uncompressed", "gzip -6", "files", "vs original"), [
        (s.label, str(s.layers), mb(s.uncompressed_bytes), mb(s.gzip_bytes), f"{s.files:,}",
         pct(s.uncompressed_bytes, original.uncompressed_bytes))
        for s in (result.original, result.naive, result.hardened)
    ])
    f, h, hs = result.floor, result.harden, harden_seconds(result)
    honest = [s.honest_seconds for s in result.floor_samples if s.honest_seconds is not None]
    out += ["", *_rows(("time (median run)", "seconds", "spread"), [
        ("docker save", sec(f.save_seconds), ""),
        ("docker load (same engine, layers exist)", sec(f.load_dedup_seconds), ""),
        ("podman load (empty storage)", sec(f.load_fresh_seconds), ""),
        ("I/O floor, honest (save + empty load)", sec(f.honest_seconds), spread(honest)),
        ("harden image, verification excluded", sec(hs), spread(result.harden_samples)),
        ("  ratio to the honest floor", f"{ratio(hs, f.honest_seconds) or 0:.2f}x", ""),
        ("  ratio to the deduplicated floor", f"{ratio(hs, f.dedup_seconds) or 0:.2f}x", ""),
        ("verification (inside harden image)", sec(h.verify_seconds), "1 run"),
        ("harden image, total, with verification", sec(h.wall_seconds), "1 run"),
    ])]
    if result.startup is not None:
        s = result.startup
        out.append(f"import startup ({', '.join(s.modules)}), median of {s.runs} by harden's verifier: "
                   f"{sec(s.before_seconds)} original → {sec(s.after_seconds)} hardened")
        if s.bench_before and s.bench_after:
            out.append(f"  the bench's own, {len(s.bench_before)} per image, interleaved: "
                       f"{sec(median(s.bench_before))} → {sec(median(s.bench_after))}")
    out.append(f"peak RSS of harden image: {mb(h.peak_rss_process_bytes)} largest process, "
               f"{mb(h.peak_pss_tree_bytes)} process tree (PSS)")
    b = result.breakage
    out += ["", f"naive recipe, verified by harden (exit {result.naive_verify.exit_code}, {b.failures} failures)",
            f"  imports that worked in the original: {describe_imports(b)}",
            f"  importlib.metadata distributions, original → naive: {describe_distributions(b)}"]
    out += [f"  {count:>3} x {error}  (e.g. {example})" for error, count, example in root_causes(b, 4)]
    out += ["", *_rows(("check", *(label for label, _ in result.checks[0].results)),
                        [(c.name, *(outcome[:48] for _, outcome in c.results)) for c in result.checks])]
    if result.scaling:
        out += ["", *_rows(("scaling", "uncompressed", "files", "harden (no verify)", "honest floor", "ratio"), [
            (p.label, mb(p.size.uncompressed_bytes), f"{p.size.files:,}", sec(scale_seconds(p)),
             sec(p.floor.honest_seconds), f"{ratio(scale_seconds(p), p.floor.honest_seconds) or 0:.2f}x")
            for p in result.scaling
        ])]
        if g := growth(result):
            out.append(f"size x{g[0]:.2f} → harden time x{g[1]:.2f}")
    out += ["", *(f"{v.mark:>12}: {v.target}: {v.measured}" for v in verdicts(result))]
    return "\n".join(out) + "\n"
