"""Run ``harden image`` or ``harden verify`` through harden.api (the calls the CLI makes) and record when each
phase began, so the benchmark can split one run into read, merge, stages, write, verify and reports.

    python harden_phases.py OUT.json image SOURCE [--tag T] [--policy P] [--report-dir D] [--no-verify] [--jobs N]
                                              [--output REF ...] [--compression C] [--runner R]
    python harden_phases.py OUT.json verify ORIGINAL HARDENED [--policy P] [--report-dir D] [--jobs N]

The phases are the ones harden announces to its progress reporter; "startup" is the time before the first
(interpreter start, imports, policy loading) and "finish" the time after the progress closed (reports). A run
that raises writes its exit code and message to OUT.json and exits with that code (a failed verification: 1).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()

from harden import api  # noqa: E402
from harden.errors import HardenError  # noqa: E402
from harden.progress import ProgressReporter  # noqa: E402


class PhaseClock(ProgressReporter):
    def __init__(self) -> None:
        super().__init__(enabled=False)
        self.marks: list[tuple[str, float]] = [("startup", STARTED)]
        self.closed = False

    def phase(self, name: str) -> None:
        self.marks.append((name, time.perf_counter()))

    def close(self) -> None:
        if not self.closed and len(self.marks) > 1:
            self.marks.append(("finish", time.perf_counter()))
            self.closed = True

    def phases(self, end: float) -> list[dict[str, Any]]:
        bounds = [*self.marks[1:], ("", end)]
        return [{"name": name, "seconds": round(bounds[i][1] - began, 4)}
                for i, (name, began) in enumerate(self.marks)]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    sub = parser.add_subparsers(dest="command", required=True)
    image = sub.add_parser("image")
    image.add_argument("source")
    image.add_argument("--tag")
    image.add_argument("--no-verify", action="store_true")
    image.add_argument("--output", action="append", default=[])
    image.add_argument("--compression")
    image.add_argument("--runner", default="auto")
    verify = sub.add_parser("verify")
    verify.add_argument("original")
    verify.add_argument("hardened")
    for command in (image, verify):
        command.add_argument("--policy")
        command.add_argument("--report-dir", type=Path)
        command.add_argument("--jobs", type=int, default=0)
    return parser


def _run(options: argparse.Namespace, clock: PhaseClock, outcome: dict[str, Any]) -> dict[str, Any]:
    if options.command == "image":
        result = api.harden_image(options.source, policy=options.policy, tag=options.tag,
                                  report_dir=options.report_dir, verify=not options.no_verify,
                                  jobs=options.jobs, fail_on="never", progress=clock, outputs=options.output,
                                  compression=options.compression, runner=options.runner)
        return {"bytes_before": result.bytes_before, "bytes_after": result.bytes_after,
                "files_before": result.files_before, "files_after": result.files_after,
                "image_id": result.image_id, "written": list(result.written),
                "verification_ok": None if result.verification is None else result.verification.ok}
    report = api.verify_images(options.original, options.hardened, policy=options.policy,
                               report_dir=options.report_dir, jobs=options.jobs, progress=clock)
    verified: dict[str, Any] = {"verification_ok": report.ok, "summary": report.summary()}
    outcome["result"] = verified
    api.raise_if_failed(report)  # as `harden verify` does: exit 1 when anything regressed
    return verified


def main() -> int:
    options = _parser().parse_args()
    clock = PhaseClock()
    outcome: dict[str, Any] = {"argv": sys.argv[1:], "exit_code": 0, "error": ""}
    try:
        outcome["result"] = _run(options, clock, outcome)
    except HardenError as exc:
        outcome.update(exit_code=exc.exit_code, error=str(exc))
    clock.close()
    end = time.perf_counter()
    outcome["phases"] = clock.phases(end)
    outcome["seconds"] = round(end - STARTED, 4)
    options.out.write_text(json.dumps(outcome, indent=2) + "\n")
    return int(outcome["exit_code"])


if __name__ == "__main__":
    sys.exit(main())
