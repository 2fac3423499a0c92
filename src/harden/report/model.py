"""Values the report is built from: findings, sizes, packages, layer efficiency, one analysed side of a run.

The report itself is the JSON-able dict ``build.build_report`` makes from these; every other format (Markdown,
HTML, SARIF) is rendered from that dict, so all of them say the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from harden.elf.hardening import ElfHardening


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 3, "warning": 2, "info": 1}[self.value]


@dataclass(frozen=True, slots=True)
class Rule:
    """A check with a stable code. ``dockle_level`` is dockle's default level where the code is dockle's."""

    code: str
    severity: Severity
    title: str
    remediation: str
    dockle_level: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "title": self.title,
            "remediation": self.remediation,
            "dockle_level": self.dockle_level,
        }


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule's hit; ``location`` is an image path ("/usr/bin/su") or a config key ("config:User")."""

    code: str
    severity: Severity
    message: str
    location: str

    @property
    def key(self) -> tuple[str, str]:
        return self.code, self.location

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity.value, "message": self.message,
                "location": self.location}


@dataclass(frozen=True, slots=True)
class SizeCount:
    files: int = 0
    bytes: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"files": self.files, "bytes": self.bytes}


@dataclass(frozen=True, slots=True)
class Component:
    """One installed package: a Python distribution (dist-info/egg-info) or an OS package (a dpkg or apk
    database record).

    ``location`` is the directory holding the dist-info (``usr/lib/python3/dist-packages``) or the database
    file holding the record (``var/lib/dpkg/status``, ``lib/apk/db/installed``); ``size_source`` says where
    ``bytes`` came from: RECORD, installed-files.txt, a dpkg .list or status.d .md5sums file, apk's file
    lines, the declared installed size, or nowhere ("unknown").
    """

    ecosystem: str  # pypi | deb | apk
    name: str
    version: str
    purl: str
    location: str
    bytes: int = 0
    files: int = 0
    size_source: str = "unknown"
    arch: str = ""
    license: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity across before/after: ecosystem, normalized name, where it is installed."""
        return self.ecosystem, self.name.lower().replace("_", "-"), self.location


@dataclass(frozen=True, slots=True)
class PackageDbInfo:
    kind: str
    """dpkg | apk | rpm."""
    sources: tuple[str, ...]
    """Image paths of the database files."""
    prunable: bool
    """Whether harden reads and prunes it (rpm: recognised only)."""
    packages: int

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "sources": list(self.sources), "prunable": self.prunable,
                "packages": self.packages}


@dataclass(frozen=True, slots=True)
class OsInfo:
    """The image's OS as its os-release names it, and its OS package databases (the OS's own first)."""

    label: str
    id: str = ""
    version_id: str = ""
    databases: tuple[PackageDbInfo, ...] = ()

    @property
    def package_db(self) -> str:
        """The kind of the OS's own database; "none" without one."""
        return self.databases[0].kind if self.databases else "none"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.label, "id": self.id, "version_id": self.version_id, "package_db": self.package_db,
                "databases": [db.to_dict() for db in self.databases]}


@dataclass(frozen=True, slots=True)
class LayerStat:
    index: int
    diff_id: str
    bytes: int
    files: int
    whiteouts: int

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "diff_id": self.diff_id, "bytes": self.bytes, "files": self.files,
                "whiteouts": self.whiteouts}


@dataclass(frozen=True, slots=True)
class WastedPath:
    path: str
    occurrences: int
    bytes: int
    wasted_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "occurrences": self.occurrences, "bytes": self.bytes,
                "wasted_bytes": self.wasted_bytes}


@dataclass(frozen=True, slots=True)
class Efficiency:
    """dive's figure over the source layers: Σ smallest size per path / Σ size of every copy across layers.

    A path overwritten in a later layer, or deleted by a whiteout (a copy of size 0), wastes its other copies.
    """

    score: float
    total_bytes: int
    wasted_bytes: int
    user_wasted_ratio: float
    layers: tuple[LayerStat, ...]
    wasted_paths: tuple[WastedPath, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 6),
            "total_bytes": self.total_bytes,
            "wasted_bytes": self.wasted_bytes,
            "user_wasted_ratio": round(self.user_wasted_ratio, 6),
            "layers": [layer.to_dict() for layer in self.layers],
            "wasted_paths": [p.to_dict() for p in self.wasted_paths],
        }


@dataclass(frozen=True, slots=True)
class SideAnalysis:
    """Everything the report says about one image state (the original, or the hardened result)."""

    total: SizeCount
    categories: Mapping[str, SizeCount]
    largest_files: tuple[tuple[str, int], ...]
    components: tuple[Component, ...]
    elf: tuple[ElfHardening, ...]
    findings: tuple[Finding, ...]
    os: OsInfo = OsInfo("unknown OS")


class PolicyLike(Protocol):
    """What the report needs from ``harden.policy.Policy``."""

    @property
    def name(self) -> str: ...

    @property
    def digest(self) -> str: ...


class VerificationLike(Protocol):
    """What the report needs from ``harden.verify.result.VerificationReport``."""

    @property
    def ok(self) -> bool: ...

    def to_dict(self) -> dict[str, Any]: ...

    def failures(self) -> list[str]: ...

    def summary(self) -> str: ...
