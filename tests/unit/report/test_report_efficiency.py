"""dive's efficiency over layers: overwritten and deleted copies are wasted bytes; exact numbers."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pytest

from harden.image.model import Layer
from harden.report.efficiency import layer_efficiency
from imagefactory import (
    TarEntry,
    big_file,
    diff_id,
    directory,
    file,
    make_layer_tar,
    opaque,
    symlink,
    whiteout,
)


def layers(*contents: Sequence[TarEntry]) -> list[Layer]:
    tars = [make_layer_tar(entries) for entries in contents]
    return [Layer(diff_id(t), (lambda t=t: io.BytesIO(t))) for t in tars]  # type: ignore[misc]


def test_a_single_layer_is_fully_efficient() -> None:
    result = layer_efficiency(layers([directory("a"), file("a/x", b"1" * 100), symlink("a/y", "x")]))
    assert result.score == 1.0 and result.wasted_bytes == 0 and result.total_bytes == 100
    assert result.layers[0].files == 2 and result.layers[0].bytes == 100


def test_overwritten_file_wastes_its_larger_copy_sum_minus_min() -> None:
    result = layer_efficiency(layers([file("app/big", b"a" * 1000), file("app/keep", b"k" * 500)],
                                     [file("app/big", b"b" * 200)]))
    assert result.total_bytes == 1700
    assert result.wasted_bytes == 1000  # (1000 + 200) - 200
    assert result.score == pytest.approx(700 / 1700)
    assert [(w.path, w.occurrences, w.wasted_bytes) for w in result.wasted_paths] == [("app/big", 2, 1000)]
    assert result.user_wasted_ratio == pytest.approx(1000 / 200)


def test_whiteout_wastes_the_deleted_file() -> None:
    result = layer_efficiency(layers([file("tmp/cache.tar", b"c" * 4096), file("keep", b"k" * 4)],
                                     [whiteout("tmp/cache.tar")]))
    assert result.wasted_bytes == 4096
    assert result.layers[1].whiteouts == 1
    assert result.score == pytest.approx(4 / 4100)


def test_whiteout_of_a_directory_wastes_everything_below_it() -> None:
    result = layer_efficiency(layers(
        [directory("var/lib/apt/lists"), file("var/lib/apt/lists/a", b"a" * 300),
         file("var/lib/apt/lists/b", b"b" * 700), file("var/lib/aptitude", b"z" * 5)],
        [whiteout("var/lib/apt")],
    ))
    assert result.wasted_bytes == 1000  # not var/lib/aptitude: a prefix of the name is not a child
    assert {w.path for w in result.wasted_paths} == {"var/lib/apt/lists/a", "var/lib/apt/lists/b"}


def test_opaque_directory_wastes_lower_children_but_not_its_own_new_files() -> None:
    result = layer_efficiency(layers(
        [file("etc/conf.d/old", b"o" * 50), file("etc/other", b"x" * 10)],
        [file("etc/conf.d/new", b"n" * 20), opaque("etc/conf.d")],
    ))
    assert result.wasted_bytes == 50
    assert result.total_bytes == 80


def test_large_layers_are_streamed() -> None:
    result = layer_efficiency(layers([big_file("blob", 8 << 20)], [big_file("blob", 8 << 20, fill=b"y")]))
    assert result.wasted_bytes == 8 << 20 and result.score == pytest.approx(0.5)
