"""What verification needs from a policy's ``[verify]`` section, as Protocols: any object with these
attributes works; ``harden.policy.VerifySettings`` is the one the policies make (``VerifySettings.of()`` gives the
format's defaults)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class SmokeTestLike(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def code(self) -> str: ...

    @property
    def timeout_seconds(self) -> int: ...


class VerifySettingsLike(Protocol):
    @property
    def enabled(self) -> bool: ...

    @property
    def imports(self) -> Sequence[str]: ...

    @property
    def plugins(self) -> Sequence[str]: ...

    @property
    def timeout_seconds(self) -> int: ...

    @property
    def discover(self) -> bool: ...

    @property
    def startup_modules(self) -> Sequence[str]: ...

    @property
    def startup_runs(self) -> int: ...

    @property
    def smoke(self) -> Sequence[SmokeTestLike]: ...
