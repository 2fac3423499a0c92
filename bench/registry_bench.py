"""The registry benchmark: registry → harden → registry, against `skopeo copy` of the same image (this path's
floor: the bytes moved, nothing changed), with gzip and zstd outputs.

    python bench/registry_bench.py [--image spark-k8s-python-deps:latest] [--policy NAME] [--repeat 2]
                                   [--no-verified-run]

Needs: the engine holding the image (`make engine`, `make images`: the image is saved from it once to seed the
source registry), skopeo and Debian's docker-registry (`scripts/test-prereqs.sh`), bubblewrap for the verified run.
Every registry is a real distribution 2.8 on 127.0.0.1 (started as the tests start theirs); each timed copy goes
to a fresh, empty destination registry, so nothing is skipped or mounted from an earlier run. harden runs with
no engine (DOCKER_HOST names a socket that does not exist). Writes bench/results/<image>.registry.md and .json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "tests" / "integration" / "registry"))  # the tests' registry starter

from imagebench.engine_cli import EngineCli, EngineError  # noqa: E402
from imagebench.figures import median, spread  # noqa: E402
from imagebench.machine import describe_machine  # noqa: E402
from registry_server import RegistryServer, start_registry  # noqa: E402

log = logging.getLogger("bench")
RESULTS = BENCH / "results"
MB = 1_000_000


@dataclass
class Trial:
    kind: str
    seconds: float
    bytes_pushed: int
    phases: list[dict[str, Any]] = field(default_factory=list)
    exit_code: int = 0


def skopeo(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run(["skopeo", "--insecure-policy", *args], check=True, capture_output=True, text=True, timeout=3600)
    return time.perf_counter() - started


def layer_bytes(ref: str) -> int:
    """The compressed layer bytes a registry holds for ``ref`` (every platform of an index)."""
    raw = json.loads(subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", ref], check=True,
                                    capture_output=True, text=True).stdout)
    if "manifests" in raw:
        name = ref.rsplit(":", 1)[0]
        return sum(layer_bytes(f"{name}@{entry['digest']}") for entry in raw["manifests"])
    return sum(int(layer["size"]) for layer in raw["layers"])


class Registries:
    """Fresh registries in a scratch folder: one per timed copy, removed right after it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def fresh(self, name: str) -> RegistryServer:
        self.count += 1
        return start_registry(self.folder, f"{name}-{self.count}")

    def drop(self, server: RegistryServer) -> None:
        server.stop()
        shutil.rmtree(server.root.parent, ignore_errors=True)


def harden_run(kind: str, source: str, dest: RegistryServer, options: argparse.Namespace, scratch: Path, *,
               compression: str, verify: bool) -> Trial:
    out = scratch / f"phases-{kind}.json"
    target = f"docker://{dest.host}/bench/hardened:1"
    args = [sys.executable, str(BENCH / "imagebench" / "harden_phases.py"), str(out), "image", source,
            "--policy", options.policy, "--output", target, "--compression", compression,
            "--report-dir", str(scratch / f"reports-{kind}"), "--runner", "sandbox"]
    if not verify:
        args.append("--no-verify")
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/no-engine.sock", "HARDEN_WORKDIR": str(scratch)}
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=7200, check=False)
    seconds = time.perf_counter() - started
    outcome = json.loads(out.read_text()) if out.exists() else {"phases": [], "exit_code": done.returncode}
    if done.returncode != 0:
        log.error("%s failed (%s): %s %s", kind, done.returncode, outcome.get("error"), done.stderr[-2000:])
        return Trial(kind, seconds, 0, outcome.get("phases", []), done.returncode)
    return Trial(kind, seconds, layer_bytes(target), outcome["phases"])


def run(options: argparse.Namespace) -> dict[str, Any]:
    engine = EngineCli.discover()
    scratch = Path(tempfile.mkdtemp(prefix="harden-registry-bench-", dir=options.workdir))
    registries = Registries(scratch / "registries")
    trials: list[Trial] = []
    try:
        archive = scratch / "image.tar"
        log.info("saving %s from the engine", options.image)
        engine.save(options.image, archive)
        source_server = start_registry(scratch, "source")
        source = f"docker://{source_server.host}/bench/source:1"
        log.info("seeding %s (skopeo compresses the layers with gzip)", source)
        seed_seconds = skopeo("copy", "--dest-tls-verify=false", f"docker-archive:{archive}", source)
        archive.unlink()
        source_bytes = layer_bytes(source)
        plan = [("skopeo copy", "gzip"), ("skopeo copy, recompressed to zstd", "zstd"), ("harden gzip", "gzip"),
                ("harden zstd", "zstd")]
        for round_ in range(options.repeat):
            for kind, compression in plan:
                dest = registries.fresh("dest")
                try:
                    log.info("round %d: %s", round_ + 1, kind)
                    if kind.startswith("skopeo copy"):
                        target = f"docker://{dest.host}/bench/copy:1"
                        recompress = ["--format", "oci", "--dest-compress-format", "zstd",
                                      "--dest-compress-level", "3"] if compression == "zstd" else []
                        seconds = skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false", *recompress,
                                         source, target)
                        trials.append(Trial(kind, seconds, layer_bytes(target)))
                    else:
                        trials.append(harden_run(f"{kind}-{round_}", source, dest, options, scratch,
                                                 compression=compression, verify=False))
                        trials[-1].kind = kind
                finally:
                    registries.drop(dest)
        if options.verified_run:
            dest = registries.fresh("dest")
            try:
                log.info("harden gzip with verification (sandbox)")
                trial = harden_run("verified", source, dest, options, scratch, compression="gzip", verify=True)
                trial.kind = "harden gzip, verified"
                trials.append(trial)
            finally:
                registries.drop(dest)
        source_server.stop()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {
        "image": options.image,
        "policy": options.policy,
        "machine": asdict(describe_machine(engine, sys.executable)),
        "seed_seconds": round(seed_seconds, 2),
        "source_layer_bytes": source_bytes,
        "trials": [asdict(t) for t in trials],
    }


def _phase(trial: dict[str, Any], prefix: str) -> float:
    return sum(p["seconds"] for p in trial["phases"] if p["name"].startswith(prefix))


def render(result: dict[str, Any]) -> str:
    trials = result["trials"]
    kinds = list(dict.fromkeys(t["kind"] for t in trials))
    floor = median([t["seconds"] for t in trials if t["kind"] == "skopeo copy"])
    machine = result["machine"]
    lines = [
        f"# Registry benchmark: `{result['image']}` — registry → harden → registry vs `skopeo copy`",
        "",
        f"Measured **{machine['date']}** with `python bench/registry_bench.py` (policy `{result['policy']}`).",
        "",
        f"- machine: **{machine['cores']} cores** ({machine['cpu_model']}), "
        f"{machine['memory_bytes'] / 2**30:.1f} GiB, Linux {machine['kernel']}; harden {machine['harden_version']} "
        f"(commit {machine['commit']}), Python {machine['python']}",
        "- registries: Debian's docker-registry (distribution 2.8) on 127.0.0.1, filesystem storage on the same "
        "disk; every timed copy goes to a fresh, empty registry. harden runs with no engine.",
        f"- source: the image saved from the engine once and pushed with skopeo (gzip): "
        f"{result['source_layer_bytes'] / MB:,.1f} MB of compressed layers ({result['seed_seconds']:.1f} s to seed).",
        "- MB = 10^6 bytes. Wall-clock times on a 2-core machine shared with other work: medians with their "
        "spread; read them to ±20 %.",
        "",
        "| run | wall time (median) | spread | vs skopeo copy | layers pushed | harden phases (median) |",
        "|---|---|---|---|---|---|",
    ]
    for kind in kinds:
        own = [t for t in trials if t["kind"] == kind and t["exit_code"] == 0]
        if not own:
            lines.append(f"| {kind} | failed | | | | |")
            continue
        seconds = [t["seconds"] for t in own]
        pushed = median([t["bytes_pushed"] for t in own])
        phases = ""
        if own[0]["phases"]:
            parts = {"read+merge": ("read", "merge"), "stages": ("remove-", "drop-", "strip-", "add-", "prune-",
                                                                 "dedupe"),
                     "write layer": ("write layer",), "verify": ("verify",), "outputs (compress, push)":
                     ("write outputs",)}
            shown = []
            for label, prefixes in parts.items():
                value = median([sum(_phase(t, p) for p in prefixes) for t in own])
                if value:
                    shown.append(f"{label} {value:.1f} s")
            phases = "; ".join(shown)
        ratio = median(seconds) / floor if floor else 0.0
        lines.append(f"| {kind} | {median(seconds):.1f} s | {spread(seconds)} | {ratio:.2f}x | "
                     f"{pushed / MB:,.1f} MB | {phases} |")
    gzip_size = median([t["bytes_pushed"] for t in trials if t["kind"] == "harden gzip" and t["exit_code"] == 0])
    zstd_size = median([t["bytes_pushed"] for t in trials if t["kind"] == "harden zstd" and t["exit_code"] == 0])
    if gzip_size and zstd_size:
        lines += ["", f"zstd (level 3) layers are {zstd_size / gzip_size:.1%} of gzip's (level 6) "
                      f"({zstd_size / MB:,.1f} MB vs {gzip_size / MB:,.1f} MB)."]
    lines += ["", "How: `skopeo copy` moves the source's compressed blobs as they are (no decompression): the "
                  "floor of a registry-to-registry path; recompressed to zstd (`--dest-compress-format zstd "
                  "--dest-compress-level 3 --format oci`), it also decompresses and compresses every layer, as "
                  "harden must. harden reads the manifest, streams each layer blob into "
                  "its workspace, merges, runs the stages, writes one layer, compresses it once, pushes it and "
                  "the config, and tags last (`bench/imagebench/harden_phases.py` records its phases). The "
                  "verified run adds the whole verification in the bwrap sandbox."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="spark-k8s-python-deps:latest")
    parser.add_argument("--policy", default="spark-k8s-python-deps")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-verified-run", dest="verified_run", action="store_false")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch space (default: the system temp)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--render-only", action="store_true", help="re-render the .md from the .json")
    options = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="bench: %(message)s", stream=sys.stderr)
    stem = options.image.split("/")[-1].split(":")[0] + ".registry"
    out = options.results_dir
    if options.render_only:
        result = json.loads((out / f"{stem}.json").read_text())
    else:
        for tool in ("skopeo", "docker-registry"):
            if shutil.which(tool) is None:
                print(f"bench: {tool} is missing: run scripts/test-prereqs.sh", file=sys.stderr)
                return 3
        try:
            result = run(options)
        except EngineError as exc:
            print(f"bench: {exc}", file=sys.stderr)
            return 3
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    text = render(result)
    (out / f"{stem}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
