"""The fast scan behind import evidence answers exactly like the plain regexes it replaces."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from harden.stages._import_evidence import _STATEMENT, _Mention, import_statements

_TOKENS = [b"from", b"import", b"importlib", b" ", b"\t", b"\n", b";", b":", b"(", b")", b",", b".", b"a",
           b"tests", b"test_x", b"my_test", b"doc", b"#", b"_", b"-", b"x-y"]
_sources = st.lists(st.sampled_from(_TOKENS), max_size=40).map(b"".join)
_WORDS = [(["tests", "test", "idle_test", "conftest"], ["test_", "_test"]), (["docs", "doc", "examples"], []),
          (["x-y", "-", "a"], ["(a"]), ([], ["\n"])]


def reference_mention(words: list[str], fragments: list[str]) -> re.Pattern[bytes]:
    alternatives = [rb"\b" + re.escape(w.encode()) + rb"\b" for w in sorted(set(words)) if w]
    alternatives += [re.escape(f.encode()) for f in sorted(set(fragments)) if f]
    return re.compile(b"|".join(alternatives))


@settings(max_examples=2000, deadline=None)
@given(source=_sources)
def test_statements_are_the_regex_matches(source: bytes) -> None:
    assert list(import_statements(source)) == [m.group(0) for m in _STATEMENT.finditer(source)]


@settings(max_examples=1000, deadline=None)
@given(source=_sources)
def test_mentions_are_the_alternation_matches(source: bytes) -> None:
    statements = [m.group(0) for m in _STATEMENT.finditer(source)]
    for words, fragments in _WORDS:
        mention = _Mention.of(words, fragments)
        assert mention is not None
        expected = reference_mention(words, fragments)
        assert mention.search(source) == (expected.search(source) is not None)
        assert mention.search_any(statements) == any(expected.search(s) for s in statements)


def test_known_statements() -> None:
    source = b"x = 1; import a.b as c\nfrom .tests import (\n  helper,\n)\n# import nothing\nif x: from b import y\n"
    assert list(import_statements(source)) == [
        b"; import a.b as c", b"from .tests import (\n  helper,\n)", b": from b import y"]
    mention = _Mention.of(["tests"], [])
    assert mention is not None and mention.search_any(import_statements(source))
    assert not mention.search(b"pytests attests tests_x") and mention.search(b"(tests)")
    assert _Mention.of([], []) is None
