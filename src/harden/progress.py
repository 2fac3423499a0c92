"""Progress for long work: a one-line status on a terminal's stderr, silence in CI or when piped."""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO


class ProgressReporter:
    def __init__(self, stream: TextIO | None = None, *, enabled: bool | None = None) -> None:
        self._stream = stream or sys.stderr
        if enabled is None:
            enabled = self._stream.isatty() and not os.environ.get("CI")
        self.enabled = enabled
        self._phase = ""
        self.last_phase = ""
        """The step begun last, kept after ``close`` (an error says what it stopped)."""
        self._started = time.monotonic()
        self._last_draw = 0.0

    def phase(self, name: str) -> None:
        """A new step begins (``merge layers``, ``strip-debug`` …)."""
        self._finish_line()
        self._phase = self.last_phase = name
        self._started = time.monotonic()
        self._draw(f"{name} …")

    def tick(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        percent = 100 * done // total if total else 100
        self._draw(f"{self._phase}: {done}/{total} ({percent}%) {now - self._started:.0f}s")

    def close(self) -> None:
        self._finish_line()

    def _draw(self, text: str) -> None:
        if self.enabled:
            self._stream.write("\r\x1b[2K" + text[:120])
            self._stream.flush()

    def _finish_line(self) -> None:
        if self.enabled and self._phase:
            self._stream.write(f"\r\x1b[2K{self._phase}: done in {time.monotonic() - self._started:.1f}s\n")
            self._stream.flush()
        self._phase = ""


class SilentProgress(ProgressReporter):
    def __init__(self) -> None:
        super().__init__(enabled=False)
