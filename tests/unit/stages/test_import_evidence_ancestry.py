"""The string form of a path's ancestry that import evidence matches candidates with."""

from __future__ import annotations

from pathlib import PurePosixPath

from hypothesis import given
from hypothesis import strategies as st

from harden.stages._import_evidence import _ancestry

_PART = st.text(alphabet="abc._-", min_size=1, max_size=4).filter(lambda p: p not in (".", ".."))


@given(st.lists(_PART, min_size=1, max_size=6))
def test_the_ancestry_is_the_path_and_its_parents_as_text(parts: list[str]) -> None:
    path = PurePosixPath(*parts)
    assert _ancestry(str(path)) == tuple(str(p) for p in (path, *path.parents))
