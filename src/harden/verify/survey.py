"""The host side of ``inimage/walk.py``: run a survey or a recheck in one image through a runner and read its
JSON lines into frozen values. No comparison happens here (see ``diff`` and ``accounting``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from harden.verify.diff import DistributionInfo
from harden.verify.result import ModuleOutcome, OutcomeKind, SmokeRun
from harden.verify.runners import Confinement, ProbeRunner, RunResult
from harden.verify.scripts import script_source

log = logging.getLogger(__name__)

SURVEY_TIMEOUT = 7200.0
"""The most one image's survey may take (each import has its own, much shorter, timeout inside)."""

def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class SmokeSpec:
    name: str
    code: str
    timeout_seconds: int


@dataclass(frozen=True, slots=True)
class SurveyRequest:
    """What to survey in one image: the interpreters (the first that exists runs the walker), the import
    timeout, the worker count, targets every interpreter must also import, and the smoke snippets."""

    interpreters: tuple[str, ...]
    timeout_seconds: int = 60
    jobs: int = 2
    targets: tuple[str, ...] = ()
    smoke: tuple[SmokeSpec, ...] = ()
    smoke_interpreter: str = ""
    walk: bool = True
    """False: import only ``targets`` (the policy's ``discover = false``), not the whole surface."""

    def config(self) -> str:
        return json.dumps({
            "interpreters": list(self.interpreters), "timeout": self.timeout_seconds, "jobs": self.jobs,
            "walk": self.walk,
            "targets": list(self.targets), "smoke_interpreter": self.smoke_interpreter,
            "smoke": [{"name": s.name, "code": s.code, "timeout": s.timeout_seconds} for s in self.smoke],
        })


@dataclass(frozen=True, slots=True)
class BareStart:
    """``python -c pass`` in the image: exit code (None: timed out) and stderr."""

    exit_code: int | None
    stderr: str


@dataclass(frozen=True, slots=True)
class InterpreterSurvey:
    interpreter: str
    error: str = ""
    """Why nothing could be surveyed with this interpreter ("" when it was)."""
    version: str = ""
    modules: Mapping[str, ModuleOutcome] = field(default_factory=_empty)
    distributions: Mapping[str, DistributionInfo] = field(default_factory=_empty)
    skipped: Mapping[str, int] = field(default_factory=_empty)
    """Modules not imported, by reason (``__main__`` modules, stdlib test suites …)."""
    stdlib_deep: bool = True
    """False when another interpreter of the same survey walked this one's standard library."""
    start: BareStart | None = None
    opened: Mapping[str, tuple[str, ...]] = field(default_factory=_empty)
    """File → the modules whose import opened it (bytecode and Python sources left out)."""
    writes: Mapping[str, tuple[str, ...]] = field(default_factory=_empty)
    """Module → the paths its import tried to write."""


@dataclass(frozen=True, slots=True)
class SmokeOutcome:
    name: str
    interpreter: str
    run: SmokeRun
    opened: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ImageSurvey:
    label: str
    confinement: Confinement
    interpreters: Mapping[str, InterpreterSurvey] = field(default_factory=_empty)
    smoke: Mapping[str, SmokeOutcome] = field(default_factory=_empty)
    failure: str = ""
    """Why the survey did not run or did not finish ("" when it did)."""
    writable: tuple[str, ...] = ()
    """Scratch places (/tmp, /var/tmp, /run, HOME) the survey could write: none, as a restricted pod."""


def survey_image(runner: ProbeRunner, label: str, request: SurveyRequest, runs_with: str | None,
                 confinement: Confinement) -> ImageSurvey:
    """Survey one image. ``runs_with``: the interpreter that runs the walker (None: the image has none)."""
    if runs_with is None:
        return ImageSurvey(label, confinement, failure=f"no Python interpreter to run the probe in the {label} "
                                                         "image")
    result = runner.run([runs_with, "-c", script_source("walk"), "survey", request.config()],
                        timeout=SURVEY_TIMEOUT, confinement=confinement)
    survey = parse_survey(label, confinement, result.stdout)
    if result.ok:
        return survey
    how = "timed out" if result.timed_out else f"exit code {result.exit_code}"
    reason = f"the probe stopped in the {label} image ({how}): {result.stderr_tail() or 'no output'}"
    return replace(survey, failure=reason)


def recheck(runner: ProbeRunner, label: str, interpreter: str, targets: Sequence[str], timeout_seconds: int,
            confinement: Confinement, jobs: int = 2, *, alone: bool = True) -> dict[str, ModuleOutcome]:
    """Each target imported alone in a fresh interpreter (``alone``), or in shared workers, one per top-level
    tree; targets the probe did not report are NOT_RUN."""
    if not targets:
        return {}
    config = json.dumps({"interpreter": interpreter, "targets": list(targets), "timeout": timeout_seconds,
                         "jobs": jobs})
    bound = (timeout_seconds + 30) * len(targets) + 120
    command = "recheck" if alone else "imports"
    result = runner.run([interpreter, "-c", script_source("walk"), command, config], timeout=bound,
                        confinement=confinement)
    found = {outcome.module: outcome for outcome in _module_lines(result)}
    why = "the recheck did not report it" if result.ok else f"the recheck stopped: {_how(result)}"
    return {name: found.get(name) or ModuleOutcome(name, OutcomeKind.NOT_RUN, why, isolated=alone)
            for name in targets}


def _how(result: RunResult) -> str:
    how = "timed out" if result.timed_out else f"exit code {result.exit_code}"
    return f"{how}: {result.stderr_tail() or 'no output'}"


def _module_lines(result: RunResult) -> list[ModuleOutcome]:
    return [_outcome(item) for item in _lines(result.stdout) if item.get("type") == "module"]


def _lines(stdout: str) -> list[dict[str, Any]]:
    items = []
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        try:
            item = json.loads(line)
        except ValueError:
            log.warning("ignoring a malformed probe line: %.200s", line)
            continue
        if isinstance(item, dict):
            items.append(item)
    return items


def _outcome(item: Mapping[str, Any]) -> ModuleOutcome:
    try:
        kind = OutcomeKind(item.get("kind", "not-run"))
    except ValueError:
        kind = OutcomeKind.NOT_RUN
    return ModuleOutcome(str(item.get("module", "")), kind, str(item.get("error", "")),
                         bool(item.get("isolated", False)), str(item.get("origin", "")),
                         bool(item.get("stdlib", False)))


def _distributions(items: Sequence[Mapping[str, Any]]) -> dict[str, DistributionInfo]:
    found: dict[str, DistributionInfo] = {}
    for item in items:
        info = DistributionInfo(
            name=str(item["name"]),
            version=str(item["version"]),
            entry_points=tuple(sorted((str(g), str(n), str(v)) for g, n, v in item["entry_points"])),
            top_level=tuple(item["top_level"]),
            roots=tuple(item.get("roots", ())),
        )
        found.setdefault(info.key, info)
    return found


@dataclass
class _Interpreter:
    modules: dict[str, ModuleOutcome] = field(default_factory=dict)
    opened: dict[str, set[str]] = field(default_factory=dict)
    writes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    env: Mapping[str, Any] = field(default_factory=dict)
    start: BareStart | None = None


def parse_survey(label: str, confinement: Confinement, stdout: str) -> ImageSurvey:
    state: dict[str, _Interpreter] = {}
    smoke: dict[str, SmokeOutcome] = {}
    done = False
    writable: tuple[str, ...] = ()
    for item in _lines(stdout):
        kind = item.get("type")
        interpreter = str(item.get("interpreter", ""))
        if kind == "module":
            outcome = _outcome(item)
            seen = state.setdefault(interpreter, _Interpreter())
            seen.modules[outcome.module] = outcome
            for path in item.get("opened") or ():
                seen.opened.setdefault(str(path), set()).add(outcome.module)
            if item.get("writes"):
                seen.writes[outcome.module] = tuple(str(p) for p in item["writes"])
        elif kind == "env":
            state.setdefault(interpreter, _Interpreter()).env = item
        elif kind == "start":
            state.setdefault(interpreter, _Interpreter()).start = BareStart(
                item.get("exit_code"), str(item.get("stderr", "")))
        elif kind == "smoke":
            smoke[str(item["name"])] = _smoke(item)
        elif kind == "done":
            done = True
            writable = tuple(str(place) for place in item.get("writable") or ())
    interpreters = {name: _interpreter(name, seen) for name, seen in state.items()}
    failure = "" if done else f"the probe did not finish in the {label} image"
    return ImageSurvey(label, confinement, MappingProxyType(interpreters), MappingProxyType(smoke), failure,
                       writable)


def _interpreter(name: str, seen: _Interpreter) -> InterpreterSurvey:
    env = seen.env
    return InterpreterSurvey(
        interpreter=name,
        error=str(env.get("error", "")) if env else "the probe reported nothing about it",
        version=str(env.get("version", "")),
        modules=MappingProxyType(seen.modules),
        distributions=MappingProxyType(_distributions(env.get("distributions") or ())),
        skipped=MappingProxyType({str(k): int(v) for k, v in (env.get("skipped") or {}).items()}),
        stdlib_deep=bool(env.get("stdlib_deep", True)),
        start=seen.start,
        opened=MappingProxyType({path: tuple(sorted(who)) for path, who in seen.opened.items()}),
        writes=MappingProxyType(seen.writes),
    )


def _smoke(item: Mapping[str, Any]) -> SmokeOutcome:
    timeout = bool(item.get("timed_out"))
    if item.get("passed"):
        run = SmokeRun(True, "exit code 0")
    elif timeout:
        run = SmokeRun(False, "did not finish in time")
    else:
        lines = [line for line in str(item.get("stderr", "")).splitlines() if line.strip()]
        run = SmokeRun(False, f"exit code {item.get('returncode')}: {lines[-1] if lines else 'no output'}")
    return SmokeOutcome(str(item["name"]), str(item.get("interpreter", "")), run,
                        tuple(str(p) for p in item.get("opened") or ()),
                        tuple(str(p) for p in item.get("writes") or ()))
