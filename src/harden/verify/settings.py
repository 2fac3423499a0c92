"""What verification needs from a policy's ``[verify]`` section, as Protocols: any object with these
attributes works (``harden.policy.VerifySettings`` is one); ``DEFAULT_SETTINGS`` serves the rest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Smoke:
    name: str
    code: str
    timeout_seconds: int = 120


@dataclass(frozen=True, slots=True)
class Settings:
    """A plain ``VerifySettingsLike`` (the shipped default policy's values)."""

    enabled: bool = True
    imports: tuple[str, ...] = ()
    plugins: tuple[str, ...] = ()
    timeout_seconds: int = 60
    discover: bool = True
    startup_modules: tuple[str, ...] = ()
    startup_runs: int = 5
    smoke: tuple[Smoke, ...] = ()


DEFAULT_SETTINGS = Settings()
