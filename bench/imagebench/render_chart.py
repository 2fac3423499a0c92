"""bench/results/<image>.png: sizes (original / naive / hardened) and times (I/O floor vs harden) side by side."""

from __future__ import annotations

from pathlib import Path

from imagebench.figures import SIZE_TARGET, scale_seconds
from imagebench.model import BenchResult

COLORS = {"uncompressed": "#4c72b0", "gzip": "#8fb0dd", "floor_dedup": "#c7c7c7", "floor": "#7f7f7f",
          "harden": "#dd8452", "verify": "#55a868"}


def render_chart(result: BenchResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (sizes, times) = plt.subplots(1, 2, figsize=(13, 5.2), gridspec_kw={"width_ratios": [1, 1.25]})
    images = (result.original, result.naive, result.hardened)
    xs = range(len(images))
    width = 0.38
    for offset, key, values in (
        (-width / 2, "uncompressed", [s.uncompressed_bytes / 1e6 for s in images]),
        (width / 2, "gzip", [(s.gzip_bytes or 0) / 1e6 for s in images]),
    ):
        bars = sizes.bar([x + offset for x in xs], values, width, color=COLORS[key],
                         label="uncompressed" if key == "uncompressed" else "gzip -6")
        sizes.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=8, padding=2)
    target = SIZE_TARGET * result.original.uncompressed_bytes / 1e6
    sizes.axhline(target, color="#c44e52", linestyle="--", linewidth=1)
    sizes.text(len(images) - 0.55, target * 0.985, "target: ≤ 50 % of original", color="#c44e52", fontsize=8,
               ha="right", va="top")
    names = {"naive": "naive recipe"}
    sizes.set_xticks(list(xs), [f"{names.get(s.label, s.label)}\n{s.files:,} files" for s in images])
    sizes.set_ylabel("MB (10^6 bytes)")
    sizes.set_title(f"Image size — {result.image}")
    sizes.legend(loc="upper right", fontsize=8)
    sizes.margins(y=0.12)

    groups = result.scaling
    series = [
        ("floor_dedup", "I/O floor: save + reload (layers exist)", [p.floor.dedup_seconds for p in groups]),
        ("floor", "I/O floor: save + load into empty storage", [p.floor.honest_seconds or 0 for p in groups]),
        ("harden", "harden image, verification excluded", [scale_seconds(p) for p in groups]),
        ("verify", "verification", [p.harden.verify_seconds for p in groups]),
    ]
    bar = 0.8 / len(series)
    present = [[i for i, (_, _, values) in enumerate(series) if values[g] > 0] for g in range(len(groups))]
    for i, (key, label, values) in enumerate(series):
        shown = [(g + (present[g].index(i) - (len(present[g]) - 1) / 2) * bar, values[g])
                 for g in range(len(groups)) if i in present[g]]
        if not shown:
            continue
        bars = times.bar([x for x, _ in shown], [v for _, v in shown], bar, color=COLORS[key], label=label)
        times.bar_label(bars, labels=[f"{v:.0f}s" for _, v in shown], fontsize=8, padding=2)
    times.set_xticks(range(len(groups)),
                     [f"{p.label}\n{p.size.uncompressed_bytes / 1e6:,.0f} MB"
                      + ("" if p.harden.verify_seconds else " (--no-verify)") for p in groups])
    times.set_ylabel("seconds (wall)")
    m = result.machine
    times.set_title(f"Time — {m.cores} cores, {m.date[:10]}")
    tallest = max((v for _, _, values in series for v in values), default=1.0)
    times.set_ylim(0, tallest * 1.35)  # room for the legend above the bars
    times.legend(loc="upper center", ncol=2, fontsize=8)

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
