"""Imports go one way: cli → api → job → (report, attest) → verify → pipeline → policy → stages → the readers →
the image model → the engine, every import counted, deferred ones inside functions included (go-containerregistry's
depcheck, for harden). A module may import its own layer or one below, never one above, and no import cycle exists."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("harden.__main__", "harden.cli"),
    ("harden.api",),
    ("harden.job",),
    ("harden.report", "harden.attest"),
    ("harden.verify",),
    ("harden.pipeline",),
    ("harden.policy",),
    ("harden.stages",),
    ("harden.plan", "harden.pyenv", "harden.dpkg", "harden.apk", "harden.ospkg", "harden.busybox", "harden.elf",
     "harden.accounts", "harden.progress", "harden.shipped_names"),
    ("harden.image",),
    ("harden.engine",),
    ("harden.atomic", "harden.units", "harden._resources", "harden.errors", "harden"),
)
"""Top layer first. ``harden`` itself (the package's face: ``__version__``) is the bottom."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> Iterator[str]:
    """Every harden module ``path`` imports, at any depth of the code (deferred and TYPE_CHECKING ones too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.startswith("harden"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            if not base.startswith("harden"):
                continue
            yield base
            for alias in node.names:  # ``from harden.image import sources`` imports harden.image.sources
                candidate = f"{base}.{alias.name}"
                where = SRC / Path(*candidate.split("."))
                if where.is_dir() or where.with_suffix(".py").is_file():
                    yield candidate


def graph() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        if "inimage" in path.parts:  # scripts run inside images: stdlib only, tested on their own
            continue
        found[module_name(path)] = {name for name in imports_of(path) if name != module_name(path)}
    return found


def layer_of(module: str) -> int:
    best = (-1, len(LAYERS))
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best[0]:
                best = (len(prefix), index)
    return best[1]


def upward(edges: Mapping[str, set[str]]) -> list[str]:
    return sorted(f"{src} imports {dst}" for src, targets in edges.items() for dst in targets
                  if layer_of(dst) < layer_of(src))


def cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in edges:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_every_module_has_a_layer() -> None:
    assert [m for m in graph() if layer_of(m) == len(LAYERS)] == []


def test_no_module_imports_a_layer_above_its_own() -> None:
    assert upward(graph()) == []


def test_no_import_cycle() -> None:
    assert cycles(graph()) == []


def test_the_checks_catch_a_planted_back_import() -> None:
    planted = {name: set(targets) for name, targets in graph().items()}
    planted["harden.image.model"].add("harden.job.harden")
    assert "harden.image.model imports harden.job.harden" in upward(planted)
    assert any("harden.image.model" in c and "harden.job.harden" in c for c in cycles(planted))


@pytest.mark.parametrize("module", ["harden.cli.main", "harden.cli.image", "harden.cli.attest"])
def test_the_cli_only_calls_the_library(module: str) -> None:
    """The CLI parses and formats; everything else goes through harden.api (and errors, progress, units)."""
    allowed = ("harden.api", "harden.cli", "harden.errors", "harden.progress", "harden.units", "harden")
    edges = graph()
    assert module in edges, f"{module} does not exist"
    assert sorted(t for t in edges[module] if not any(t == a or t.startswith(a + ".") for a in allowed)) == []
