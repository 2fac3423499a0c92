"""The image benchmark, one command: original vs hardened vs the naive recipe on one engine in one run.

    python bench/image_bench.py [--image spark-k8s-python-deps:latest] [--policy NAME] [--no-scaling]

Needs: a Docker-API engine (`make engine`), the image (`make images`), harden and matplotlib in this interpreter
(`pip install -e '.[bench]'`). Prints a table; writes bench/results/<image>.md, .json, .png and .naive-verify.json.
Takes ~15 min on 2 cores. Measures sizes (uncompressed, gzip -6, files), what the naive recipe
(bench/naive/Dockerfile) breaks according to harden's verifier, harden's time vs the I/O floor (docker save + load),
peak RSS, verification and import-startup time, and harden's time on the image with its venv doubled
(bench/scaling/Dockerfile).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path

from imagebench.engine_cli import EngineError
from imagebench.model import BenchResult
from imagebench.render_chart import render_chart
from imagebench.render_markdown import render_markdown
from imagebench.render_text import render_text
from imagebench.run import Options, run_bench

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="spark-k8s-python-deps:latest")
    parser.add_argument("--policy", default="spark-k8s-python-deps")
    parser.add_argument("--jobs", type=int, default=0, help="harden --jobs (0 = all cores)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="samples of the I/O floor and of harden's time per image (medians are reported)")
    parser.add_argument("--no-scaling", action="store_true", help="skip the doubled-venv image")
    parser.add_argument("--keep-images", action="store_true", help="keep the harden-bench-* images")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--render-only", action="store_true",
                        help="measure nothing: re-render the .md and .png from the results' .json files")
    options = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="bench: %(message)s", stream=sys.stderr)

    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("bench: matplotlib is missing: pip install -e '.[bench]'", file=sys.stderr)
        return 3
    stem = options.image.split("/")[-1].split(":")[0]
    out = options.results_dir
    if options.render_only:
        from imagebench.result_io import load_result

        result = load_result(out / f"{stem}.json", out / f"{stem}.naive-verify.json")
        _render(result, out, stem)
        return 0
    try:
        result = run_bench(Options(
            image=options.image,
            policy=options.policy,
            python=sys.executable,
            jobs=options.jobs or os.cpu_count() or 1,
            scaling=not options.no_scaling,
            keep_images=options.keep_images,
            repeat=max(1, options.repeat),
        ))
    except (EngineError, RuntimeError) as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 3

    out.mkdir(parents=True, exist_ok=True)
    data = dataclasses.asdict(result)
    (out / f"{stem}.naive-verify.json").write_text(json.dumps(data.pop("naive_verify_report"), indent=2) + "\n")
    (out / f"{stem}.json").write_text(json.dumps(data, indent=2) + "\n")
    _render(result, out, stem)
    return 0


def _render(result: BenchResult, out: Path, stem: str) -> None:
    render_chart(result, out / f"{stem}.png")
    (out / f"{stem}.md").write_text(render_markdown(result, f"{stem}.png"))
    print(render_text(result))
    print(f"results: {out / stem}.md, .json, .png")


if __name__ == "__main__":
    sys.exit(main())
