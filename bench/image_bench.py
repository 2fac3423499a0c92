"""The image benchmark, one command, one engine, one run: harden against the I/O floor, its memory and
verification, the naive recipe, policy variants, scaling, an independent data image and the base beside a
distroless-style image.

    python bench/image_bench.py [--parts deps,scaling,...] [--repeat N] [--quick] [--results-dir DIR]

Needs a Docker-API engine (`make engine`), the images each part names (`make images`, `make build-data-stack-plain`,
`make build-data-stack`), podman (the floor's empty storage) and harden in this interpreter. Writes, per part,
bench/results/<stem>.md and .json (the deps part also <stem>.naive-verify.json), then summary.md; prints the
verdicts. `python bench/image_bench.py --help` lists the options.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from imagebench.engine_cli import EngineError
from imagebench.model import SCHEMA, ImageResult
from imagebench.render_markdown import render_markdown, render_summary
from imagebench.render_text import render_text
from imagebench.result_io import load_result
from imagebench.run import PARTS, Options, as_json, default_harden, run_bench

DEFAULTS = Options(parts=(), python="", harden=())
RESULTS = Path(__file__).resolve().parent / "results"
SUMMARY = "summary"
DEFAULT_PARTS = tuple(part for part in PARTS if part != "data-stack")
"""data-stack (the independent image built the careful way) only with --parts all or named: it keeps make bench
near an hour on 2 cores."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", default=",".join(DEFAULT_PARTS),
                   help=f"comma-separated, or 'all'; run in this order whatever the order given: {','.join(PARTS)} "
                        f"(default: {','.join(DEFAULT_PARTS)})")
    p.add_argument("--repeat", type=int, default=3,
                   help="floor/harden sample pairs per image, the order alternating, each sample after the machine "
                        "is settled (medians reported), and verified `harden image` runs of the deps image "
                        "(the verify phase's median reported); default 3")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: --repeat 1, no policy variants, parts deps and base unless --parts is given")
    p.add_argument("--deps-image", default=DEFAULTS.deps_image)
    p.add_argument("--deps-policy", default=DEFAULTS.deps_policy)
    p.add_argument("--data-plain-image", default=DEFAULTS.data_plain_image)
    p.add_argument("--data-image", default=DEFAULTS.data_image)
    p.add_argument("--base-image", default=DEFAULTS.base_image)
    p.add_argument("--scale-factor", type=float, default=DEFAULTS.scale_factor,
                   help="size of the scaling image against the deps image's (uncompressed)")
    p.add_argument("--jobs", type=int, default=None, help="harden --jobs (default: harden's own, every core)")
    p.add_argument("--no-naive", action="store_true", help="skip the naive recipe")
    p.add_argument("--no-naive-verify", action="store_true",
                   help="build and measure the naive recipe, but skip `harden verify` of it (on a loaded machine it "
                        "can take 20 min: every import it broke is rechecked alone in both images)")
    p.add_argument("--no-variants", action="store_true", help="skip the policy variants of the deps image")
    p.add_argument("--keep-images", action="store_true", help="keep the harden-bench-* images")
    p.add_argument("--results-dir", type=Path, default=RESULTS)
    p.add_argument("--workdir", type=Path, default=None, help="where the scratch directory goes (default: $TMPDIR)")
    p.add_argument("--render-only", action="store_true",
                   help="measure nothing: re-render the .md files from the .json files in --results-dir")
    return p


def options_from(args: argparse.Namespace) -> Options:
    given = "--parts" in sys.argv[1:] or any(a.startswith("--parts=") for a in sys.argv[1:])
    wanted = [part.strip() for part in args.parts.split(",") if part.strip()]
    if wanted == ["all"]:
        wanted = list(PARTS)
    if args.quick and not given:
        wanted = ["deps", "base"]
    unknown = sorted(set(wanted) - set(PARTS))
    if unknown:
        raise SystemExit(f"bench: unknown part(s) {', '.join(unknown)}; known: {', '.join(PARTS)}")
    return Options(
        parts=tuple(part for part in PARTS if part in wanted),
        python=sys.executable,
        harden=default_harden(sys.executable),
        deps_image=args.deps_image, deps_policy=args.deps_policy, data_plain_image=args.data_plain_image,
        data_image=args.data_image, base_image=args.base_image, jobs=args.jobs,
        repeat=1 if args.quick else max(1, args.repeat), scale_factor=args.scale_factor,
        keep_images=args.keep_images, naive=not args.no_naive, naive_verify=not args.no_naive_verify,
        variants=not (args.no_variants or args.quick),
        workdir=args.workdir,
    )


def write_summary(out: Path, stems: list[str]) -> None:
    results = [(stem, load_result(out / f"{stem}.json")) for stem in stems]
    (out / f"{SUMMARY}.md").write_text(render_summary(results))
    print(render_text(results))


def main() -> int:
    args = parser().parse_args()
    logging.basicConfig(level=logging.INFO, format="bench %(asctime)s: %(message)s", datefmt="%H:%M:%S",
                        stream=sys.stderr)
    out: Path = args.results_dir
    if args.render_only:
        stems = sorted(p.stem for p in out.glob("*.json") if _is_result(p))
        for stem in stems:
            (out / f"{stem}.md").write_text(render_markdown(load_result(out / f"{stem}.json")))
        write_summary(out, stems)
        return 0
    options = options_from(args)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def publish(stem: str, result: ImageResult, extra: dict[str, Any]) -> None:
        (out / f"{stem}.json").write_text(json.dumps(as_json(result), indent=2) + "\n")
        for suffix, data in extra.items():
            (out / f"{stem}.{suffix}.json").write_text(json.dumps(data, indent=2) + "\n")
        (out / f"{stem}.md").write_text(render_markdown(result))
        logging.info("wrote %s.md and .json", out / stem)

    try:
        stems = run_bench(options, publish)
    except (EngineError, RuntimeError) as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 3
    write_summary(out, stems)
    print(f"bench: {len(stems)} part(s) in {(time.perf_counter() - started) / 60:.1f} min; results in {out}")
    return 0


def _is_result(path: Path) -> bool:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and data.get("schema") == SCHEMA and "kind" in data


if __name__ == "__main__":
    sys.exit(main())
