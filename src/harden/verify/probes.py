"""The host side of ``inimage/facts.py``: the hardening assertions' facts and start-up timing of one interpreter
in one image, run through a runner and parsed from JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harden.errors import InputError
from harden.verify.runners import Confinement, ProbeRunner, RunResult
from harden.verify.scripts import script_source


class ProbeFailed(InputError):
    """A probe could not run in an image (no interpreter, interpreter broken, output not JSON)."""


@dataclass(frozen=True, slots=True)
class Startup:
    median: float | None
    error: str = ""


def failed(what: str, label: str, interpreter: str, result: RunResult) -> ProbeFailed:
    how = "timed out" if result.timed_out else f"exit code {result.exit_code}"
    return ProbeFailed(f"probe {what} could not run in the {label} image with {interpreter} ({how})",
                       details=[result.stderr_tail() or "no output"])


class FactsProbe:
    """``inimage/facts.py`` for one interpreter in one image, reached through ``runner``."""

    def __init__(self, runner: ProbeRunner, interpreter: str, label: str) -> None:
        self.runner = runner
        self.interpreter = interpreter
        self.label = label

    def _document(self, what: str, args: Sequence[str], timeout: float,
                  confinement: Confinement = Confinement.STANDARD) -> Any:
        result = self.runner.run([self.interpreter, "-c", script_source("facts"), *args], timeout=timeout,
                                 confinement=confinement)
        if not result.ok:
            raise failed(what, self.label, self.interpreter, result)
        try:
            return json.loads(result.stdout)
        except json.JSONDecodeError as exc:
            raise ProbeFailed(f"probe {what} in the {self.label} image printed no JSON",
                              details=[result.stdout[-300:], result.stderr_tail()]) from exc

    def facts(self, shells: Sequence[str]) -> Mapping[str, Any]:
        """Facts for the hardening assertions, with a writable root so HOME is tested as the image runs."""
        document: Mapping[str, Any] = self._document("assert", ["assert", *shells], timeout=120,
                                                     confinement=Confinement.WRITABLE)
        return document

    def startup(self, modules: Sequence[str], runs: int) -> Startup:
        document = self._document("startup", ["startup", str(runs), *modules], timeout=600 * max(1, runs) + 60)
        if not document["ok"]:
            return Startup(None, str(document["error"]))
        return Startup(float(document["median"]))
