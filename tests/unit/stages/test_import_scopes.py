"""One ``ast`` parse serves every scope: filtering remembered import contexts gives exactly the imports the
scoped walk gives, on hand-written tricky code and on the whole standard library of the running Python."""

from __future__ import annotations

import ast
import sysconfig
from collections.abc import Iterator
from pathlib import Path

from harden.stages._import_evidence import (
    EVERYTHING,
    Scope,
    _dynamic_imports,
    _Import,
    _is_main_check,
    parse_imports,
)

SCOPES = [
    EVERYTHING,
    Scope(skip_main_blocks=True),
    Scope.with_test_functions(["*test*"], skip_main_blocks=True),
    Scope.with_test_functions(["run*", "Helper"], skip_main_blocks=False),
]

TRICKY = b'''
import a
if __name__ == "__main__":
    import main_only
    def test_inside_main():
        import main_and_test
    if __name__ == "__main__":
        import nested_main
    else:
        import nested_else
else:
    import main_else
def run_tests():
    import runner_only
    if "__main__" == __name__:
        import runner_main
    class Inner:
        from .x import (y, z)
class Helper:
    def method(self):
        from . import helper_import
    try:
        import in_try
    except ImportError:
        import in_handler
    else:
        import in_try_else
    finally:
        import in_finally
def test_case():
    match value:
        case 1:
            import in_case
    with ctx:
        import in_with
    for x in y:
        import in_for
    else:
        import in_for_else
    while w:
        import in_while
async def test_async():
    import in_async
import importlib; importlib.import_module("dyn.amic")
'''


def reference(source: bytes, scope: Scope) -> list[_Import]:
    """The scoped walk import evidence was written as: it never enters what the scope leaves out."""
    tree = ast.parse(source)
    found: list[_Import] = []
    for node in _walk(tree.body, scope):
        if isinstance(node, ast.Import):
            found.extend(_Import(0, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names = tuple(alias.name for alias in node.names if alias.name != "*")
            found.append(_Import(node.level, node.module or "", names))
    found.extend(_dynamic_imports(source))
    return found


def _walk(body: list[ast.stmt], scope: Scope) -> Iterator[ast.AST]:
    stack: list[ast.AST] = list(reversed(body))
    while stack:
        node = stack.pop()
        yield node
        if (
            scope.test_functions is not None
            and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and scope.test_functions.match(node.name)
        ):
            continue
        if scope.skip_main_blocks and isinstance(node, ast.If) and _is_main_check(node.test):
            stack.extend(reversed(node.orelse))
            continue
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(node, name, None)
            if children:
                stack.extend(reversed(children))


def modules(found: list[_Import]) -> list[str]:
    return [item.module for item in found]


def test_tricky_code_in_every_scope() -> None:
    for scope in SCOPES:
        assert parse_imports(TRICKY, scope) == reference(TRICKY, scope), scope
    everything = modules(parse_imports(TRICKY))
    assert "main_only" in everything and "in_case" in everything and "dyn.amic" in everything
    skipped = modules(parse_imports(TRICKY, SCOPES[2]))
    assert "main_only" not in skipped and "runner_only" not in skipped and "main_else" in skipped
    assert "in_case" not in skipped and "nested_main" not in skipped and "in_async" not in skipped
    by_name = modules(parse_imports(TRICKY, SCOPES[3]))
    assert "main_only" in by_name and "runner_only" not in by_name and "in_try" not in by_name
    assert "in_case" in by_name


def test_unparsable_code_falls_back_to_the_regex() -> None:
    source = b"print 'python 2'\nfrom .tests import helper\nimport os, sys\n"
    assert modules(parse_imports(source, SCOPES[2])) == ["tests", "os", "sys"]


def _stdlib_sources() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    return sorted(root.glob("*.py"))[::3] + sorted(root.glob("*/*.py"))[::12]


def test_the_standard_library_in_every_scope() -> None:
    sources = _stdlib_sources()
    assert len(sources) > 100
    for path in sources:
        source = path.read_bytes()
        try:
            ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        for scope in SCOPES:
            assert parse_imports(source, scope) == reference(source, scope), (path, scope)
