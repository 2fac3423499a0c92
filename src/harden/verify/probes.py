"""The host side of the in-image probe: build its argv, run it through a runner, parse its JSON."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from harden.errors import InputError
from harden.verify.diff import DistributionInfo
from harden.verify.result import ModuleOutcome, OutcomeKind, SmokeRun
from harden.verify.runners import ProbeRunner, RunResult

log = logging.getLogger(__name__)

BATCH = 800
"""Targets per probe run (one container or sandbox each); a run imports its batch in ``jobs`` workers."""
MAX_SOURCE = 100_000
"""The probe travels as one argv string; Linux refuses a single argument over 128 KiB."""


class ProbeFailed(InputError):
    """The probe could not run in an image (no interpreter, interpreter broken, output not JSON)."""


@cache
def probe_source() -> str:
    source = (Path(__file__).parent / "probe.py").read_text(encoding="utf-8")
    if len(source.encode()) > MAX_SOURCE:
        raise AssertionError("probe.py grew past the size one argv string can carry")
    return source


@dataclass(frozen=True, slots=True)
class Discovery:
    targets: tuple[str, ...]
    version: str
    sys_path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Startup:
    median: float | None
    error: str = ""


class Probe:
    """One interpreter in one image, reached through ``runner``."""

    def __init__(self, runner: ProbeRunner, interpreter: str, label: str, *, jobs: int = 2,
                 timeout_seconds: int = 60) -> None:
        self.runner = runner
        self.interpreter = interpreter
        self.label = label
        self.jobs = max(1, jobs)
        self.timeout_seconds = max(1, timeout_seconds)

    def _argv(self, *args: str) -> list[str]:
        return [self.interpreter, "-c", probe_source(), *args]

    def _failed(self, what: str, result: RunResult) -> ProbeFailed:
        how = "timed out" if result.timed_out else f"exit code {result.exit_code}"
        return ProbeFailed(
            f"probe {what} could not run in the {self.label} image with {self.interpreter} ({how})",
            details=[result.stderr_tail() or "no output"],
        )

    def _document(self, what: str, args: Sequence[str], timeout: float, *, writable: bool = False) -> Any:
        result = self.runner.run(self._argv(*args), timeout=timeout, writable=writable)
        if not result.ok:
            raise self._failed(what, result)
        try:
            return json.loads(result.stdout)
        except json.JSONDecodeError as exc:
            raise ProbeFailed(f"probe {what} in the {self.label} image printed no JSON",
                              details=[result.stdout[-300:], result.stderr_tail()]) from exc

    def discover(self) -> Discovery:
        document = self._document("discover", ["discover"], timeout=300)
        return Discovery(tuple(document["targets"]), str(document["version"]), tuple(document["sys_path"]))

    def metadata(self) -> dict[str, DistributionInfo]:
        document = self._document("metadata", ["metadata"], timeout=300)
        found: dict[str, DistributionInfo] = {}
        for item in document["distributions"]:
            info = DistributionInfo(
                name=str(item["name"]),
                version=str(item["version"]),
                entry_points=tuple(sorted((str(g), str(n), str(v)) for g, n, v in item["entry_points"])),
                top_level=tuple(item["top_level"]),
                roots=tuple(item.get("roots", ())),
            )
            found.setdefault(info.key, info)
        return found

    def imports(self, targets: Sequence[str],
                progress: Callable[[int], None] | None = None) -> dict[str, ModuleOutcome]:
        """Outcome of every target. Targets the probe never reported come back as NOT_RUN with the reason;
        if not a single target could run, ProbeFailed."""
        outcomes: dict[str, ModuleOutcome] = {}
        ordered = sorted(set(targets))
        for start in range(0, len(ordered), BATCH):
            batch = ordered[start:start + BATCH]
            outcomes.update(self._import_batch(batch))
            if progress is not None:
                progress(len(batch))
        if ordered and all(o.kind is OutcomeKind.NOT_RUN for o in outcomes.values()):
            first = next(iter(outcomes.values()))
            raise ProbeFailed(
                f"probe imports could not run in the {self.label} image with {self.interpreter}",
                details=[first.error],
            )
        return outcomes

    def _import_batch(self, batch: Sequence[str]) -> dict[str, ModuleOutcome]:
        shard = -(-len(batch) // self.jobs)
        # worst case every import in a shard hangs, and failures are retried once in a fresh worker
        timeout = self.timeout_seconds * 2 * shard + 120
        args = ["imports", "--jobs", str(self.jobs), "--timeout", str(self.timeout_seconds), *batch]
        result = self.runner.run(self._argv(*args), timeout=timeout)
        outcomes = parse_import_lines(result.stdout)
        if not result.ok:
            reason = self._failed("imports", result).one_line()
            log.warning("%s", reason)
        else:
            reason = "the probe did not report it"
        return {name: outcomes.get(name) or ModuleOutcome(name, OutcomeKind.NOT_RUN, reason)
                for name in batch}

    def smoke(self, name: str, code: str, timeout_seconds: int) -> SmokeRun:
        result = self.runner.run(self._argv("smoke", name, str(timeout_seconds), code),
                                 timeout=timeout_seconds + 120)
        if not result.ok:
            return SmokeRun(False, self._failed(f"smoke {name!r}", result).one_line())
        try:
            document = json.loads(result.stdout)
        except json.JSONDecodeError:
            return SmokeRun(False, f"smoke probe printed no JSON: {result.stderr_tail()}")
        if document["passed"]:
            return SmokeRun(True, "exit code 0")
        if document["timed_out"]:
            return SmokeRun(False, f"did not finish within {timeout_seconds}s")
        lines = [line for line in str(document["stderr"]).splitlines() if line.strip()]
        return SmokeRun(False, f"exit code {document['returncode']}: {lines[-1] if lines else 'no output'}")

    def facts(self) -> Mapping[str, Any]:
        """Facts for the hardening assertions; run with a writable root so HOME can be tested as the image
        would normally run."""
        document: Mapping[str, Any] = self._document("assert", ["assert"], timeout=120, writable=True)
        return document

    def bare_start(self) -> RunResult:
        """``python -c pass``, as the image runs it: site, ``.pth`` files and ``sitecustomize`` included."""
        return self.runner.run([self.interpreter, "-c", "pass"], timeout=120)

    def startup(self, modules: Sequence[str], runs: int) -> Startup:
        args = ["startup", str(runs), *modules]
        document = self._document("startup", args, timeout=600 * max(1, runs) + 60)
        if not document["ok"]:
            return Startup(None, str(document["error"]))
        return Startup(float(document["median"]))


def parse_import_lines(stdout: str) -> dict[str, ModuleOutcome]:
    outcomes: dict[str, ModuleOutcome] = {}
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        try:
            item = json.loads(line)
            kind = OutcomeKind(item["kind"])
            outcome = ModuleOutcome(str(item["module"]), kind, str(item.get("error", "")),
                                    bool(item.get("isolated", False)), str(item.get("origin", "")))
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed probe line: %.200s", line)
            continue
        outcomes[outcome.module] = outcome
    return outcomes
