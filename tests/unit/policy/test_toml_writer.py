"""The tiny TOML writer: whatever it writes, tomllib reads back identically."""

from __future__ import annotations

import math
import tomllib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harden.policy.toml_writer import dumps

keys = st.text(min_size=1, max_size=12)
scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.text(alphabet="ab'\n\t\"\\\r\x00\x7f", max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=3)),
    max_leaves=12,
)
documents = st.dictionaries(
    keys,
    st.one_of(
        values,
        st.dictionaries(keys, values, max_size=4),
        st.lists(st.dictionaries(keys, values, max_size=3), min_size=1, max_size=3),
    ),
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(documents)
def test_round_trip(doc: dict[str, Any]) -> None:
    assert tomllib.loads(dumps(doc)) == doc


def test_layout_is_readable() -> None:
    text = dumps(
        {
            "name": "x",
            "empty": {},
            "section": {"flag": True, "sub": {"n": 1}},
            "items": [{"code": "a = 1\nb = 2\n"}, {"code": "it's"}],
            "long": ["x" * 30] * 4,
        },
        header=["comment"],
    )
    assert text == (
        "# comment\n"
        'name = "x"\n'
        "long = [\n" + "".join(f'    "{"x" * 30}",\n' for _ in range(4)) + "]\n"
        "\n[empty]\n"
        "\n[section]\nflag = true\n"
        "\n[section.sub]\nn = 1\n"
        "\n[[items]]\ncode = '''\na = 1\nb = 2\n'''\n"
        '\n[[items]]\ncode = "it\'s"\n'
    )


@pytest.mark.parametrize(("value", "text"), [(math.inf, "inf"), (-math.inf, "-inf"), (math.nan, "nan")])
def test_special_floats(value: float, text: str) -> None:
    assert dumps({"f": value}) == f"f = {text}\n"


def test_refuses_what_toml_cannot_say() -> None:
    with pytest.raises(TypeError):
        dumps({"x": object()})
