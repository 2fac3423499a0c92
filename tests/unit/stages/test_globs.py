from __future__ import annotations

import fnmatch
from pathlib import PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stage_helpers import FakeImage

from harden.errors import PolicyError
from harden.image.model import EntryType, FileEntry, Rootfs
from harden.stages._globs import AncestryMatch, GlobSet
from harden.stages._path_index import PathIndex, prune_subtree, select_by_globs

P = PurePosixPath


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("usr/share/doc/**", "usr/share/doc", True),
        ("usr/share/doc/**", "usr/share/doc/pkg/changelog.gz", True),
        ("usr/share/doc/**", "usr/share/docs", False),
        ("usr/share/doc/*/copyright", "usr/share/doc/bash/copyright", True),
        ("usr/share/doc/*/copyright", "usr/share/doc/a/b/copyright", False),
        ("**/tests", "tests", True),
        ("**/tests", "usr/lib/python3.11/site-packages/pkg/tests", True),
        ("**/tests", "pkg/tests/x.py", False),
        ("**/*.pyc", "a.pyc", True),
        ("**/*.pyc", "a/__pycache__/b.cpython-311.pyc", True),
        ("**/*.pyc", "a/b.py", False),
        ("a/**/b", "a/b", True),
        ("a/**/b", "a/x/y/b", True),
        ("a/**/b", "a/x/y/bc", False),
        ("usr/*/x", "usr/a/b/x", False),
        ("lib?.so", "libc.so", True),
        ("lib?.so", "lib/.so", False),
        ("python3.[0-9]", "python3.7", True),
        ("python3.[!0-9]", "python3.7", False),
        ("python3.[!0-9]", "python3.x", True),
        ("var/cache/debconf/*-old", "var/cache/debconf/templates.dat-old", True),
        ("file[", "file[", True),
        ("**", "anything/at/all", True),
    ],
)
def test_glob_semantics(pattern: str, path: str, expected: bool) -> None:
    assert GlobSet.of([pattern]).matches(P(path)) is expected


def test_leading_slash_is_a_policy_error() -> None:
    with pytest.raises(PolicyError) as info:
        GlobSet.of(["/usr/share/doc/**"])
    assert "/usr/share/doc/**" in info.value.one_line()


def test_first_match_names_the_first_pattern_in_order() -> None:
    globs = GlobSet.of(["**/*.txt", "doc/**"])
    assert globs.first_match("doc/a.txt") == "**/*.txt"
    assert globs.first_match("doc/a.md") == "doc/**"
    assert globs.first_match("src/a.md") is None
    assert not GlobSet.of([]).matches("x")


_component = st.text(alphabet="ab.-_", min_size=1, max_size=4).filter(lambda c: c not in (".", ".."))
_pattern_component = st.text(alphabet="ab.*?", min_size=1, max_size=4).filter(lambda c: c not in (".", "..", "**"))


@given(st.lists(_pattern_component, min_size=1, max_size=3), st.lists(_component, min_size=1, max_size=3))
def test_without_double_star_globs_match_like_fnmatch_per_component(pattern: list[str], path: list[str]) -> None:
    expected = len(pattern) == len(path) and all(fnmatch.fnmatchcase(c, p) for c, p in zip(path, pattern, strict=True))
    assert GlobSet.of(["/".join(pattern)]).matches("/".join(path)) is expected


@given(st.lists(_component, min_size=0, max_size=3), st.lists(_component, min_size=1, max_size=3))
def test_double_star_spans_any_number_of_directories(middle: list[str], tail: list[str]) -> None:
    path = "/".join(["top", *middle, *tail])
    assert GlobSet.of(["top/**"]).matches(path)
    assert GlobSet.of(["top/**/" + "/".join(tail)]).matches(path)


def test_select_by_globs_keeps_licences_inside_removed_directories(image: FakeImage) -> None:
    image.file("usr/share/doc/bash/copyright", "GPL")
    image.file("usr/share/doc/bash/changelog.gz", b"\x1f\x8b")
    image.file("usr/share/doc/zlib/README", "readme")
    index = PathIndex(image.rootfs())
    selection = select_by_globs(index, GlobSet.of(["usr/share/doc/**"]), GlobSet.of(["usr/share/doc/*/copyright"]))
    assert {str(p) for p, _ in selection.removed} == {"usr/share/doc/bash/changelog.gz", "usr/share/doc/zlib"}
    assert [(str(p), why) for p, why in selection.kept] == [
        ("usr/share/doc/bash/copyright", "keep glob 'usr/share/doc/*/copyright'")
    ]


def test_implied_directories_are_never_remove_targets() -> None:
    """Layers may omit parent directories; the pipeline only removes paths that are entries."""
    entries = {
        P("opt/docs/a.txt"): FileEntry(P("opt/docs/a.txt"), EntryType.FILE),
        P("opt/docs/sub/b.txt"): FileEntry(P("opt/docs/sub/b.txt"), EntryType.FILE),
    }
    index = PathIndex(Rootfs(entries))
    selection = select_by_globs(index, GlobSet.of(["opt/docs/**"]), GlobSet.of([]))
    assert {str(p) for p, _ in selection.removed} == {"opt/docs/a.txt", "opt/docs/sub/b.txt"}
    assert index.removal_targets(P("opt/docs")) == [P("opt/docs/a.txt"), P("opt/docs/sub/b.txt")]


def test_collapse_removes_a_directory_only_when_everything_below_goes(image: FakeImage) -> None:
    image.file("d/a")
    image.file("d/b")
    image.file("e/a")
    image.file("e/b")
    index = PathIndex(image.rootfs())
    targets = index.collapse({P("d/a"), P("d/b"), P("e/a")}, lambda d: True)
    assert targets == [P("d"), P("e/a")]
    assert index.collapse({P("d/a"), P("d/b")}, lambda d: False) == [P("d/a"), P("d/b")]


def test_prune_subtree_spares_kept_files(image: FakeImage) -> None:
    image.file("pkg/docs/LICENSE.txt")
    image.file("pkg/docs/guide/index.html")
    image.file("pkg/docs/conf.py")
    index = PathIndex(image.rootfs())
    removed, kept = prune_subtree(index, P("pkg/docs"), GlobSet.of(["**/LICENSE*"]))
    assert removed == [P("pkg/docs/conf.py"), P("pkg/docs/guide")]
    assert kept == [(P("pkg/docs/LICENSE.txt"), "**/LICENSE*")]


_NAMES = st.sampled_from(["usr", "lib", "tests", "doc", "a.py", "x"])


@given(
    paths=st.lists(st.lists(_NAMES, min_size=1, max_size=5).map(lambda parts: P(*parts)), min_size=1, max_size=20),
    patterns=st.lists(st.sampled_from(["**/tests", "usr/lib", "usr/**/doc/**", "*", "x/**", "**/a.py"]),
                      max_size=3),
)
def test_ancestry_match_answers_as_matching_the_path_and_each_parent(paths: list[PurePosixPath],
                                                                     patterns: list[str]) -> None:
    globs = GlobSet.of(patterns)
    match = AncestryMatch(globs)
    for path in paths:  # asked in any order: an answer remembered for a folder serves the paths below it
        assert match(path) == (globs.matches(path) or any(globs.matches(p) for p in path.parents)), path
