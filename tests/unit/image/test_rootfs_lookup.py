"""Rootfs lookups take shortcuts (text index, cached order); they must answer exactly like the plain walk."""

from __future__ import annotations

from pathlib import PurePosixPath

from hypothesis import given, settings
from hypothesis import strategies as st

from harden.image.model import EntryType, FileEntry, Rootfs, path_order


def reference_resolve(rootfs: Rootfs, path: PurePosixPath | str, max_links: int = 40) -> PurePosixPath | None:
    """The component-by-component walk ``Rootfs.resolve`` was written as."""
    parts = list(PurePosixPath(path).parts)
    resolved = PurePosixPath(".")
    hops = 0
    while parts:
        part = parts.pop(0)
        if part in ("", ".", "/"):
            continue
        if part == "..":
            resolved = resolved.parent
            continue
        candidate = resolved / part
        entry = rootfs.entries.get(candidate)
        if entry is None:
            return None
        if entry.type is EntryType.SYMLINK and entry.linkname is not None:
            hops += 1
            if hops > max_links:
                return None
            target = PurePosixPath(entry.linkname)
            if target.is_absolute():
                resolved = PurePosixPath(".")
                parts = list(target.parts[1:]) + parts
            else:
                parts = list(target.parts) + parts
            continue
        resolved = candidate
    return resolved


_component = st.sampled_from(["a", "b", "c", "..", "."])
_relative = st.lists(_component, min_size=1, max_size=4).map("/".join)
_targets = st.one_of(_relative, _relative.map(lambda p: "/" + p))
_entries = st.dictionaries(
    st.lists(st.sampled_from(["a", "b", "c", "a..b", ".."]), min_size=1, max_size=3).map("/".join),
    st.one_of(st.just(("dir", None)), st.just(("file", None)), st.tuples(st.just("symlink"), _targets)),
    max_size=12,
)
_queries = st.one_of(
    _relative,
    _relative.map(lambda p: "/" + p),
    _relative.map(lambda p: p + "/"),
    _relative.map(lambda p: p.replace("/", "//")),
    st.sampled_from(["", ".", "/", "a..b", "a/../a..b"]),
)


def build(spec: dict[str, tuple[str, str | None]]) -> Rootfs:
    entries = {}
    for text, (kind, target) in spec.items():
        path = PurePosixPath(text)
        entries[path] = FileEntry(path=path, type=EntryType(kind), linkname=target)
    return Rootfs(entries)


@settings(max_examples=400, deadline=None)
@given(spec=_entries, queries=st.lists(_queries, min_size=1, max_size=8))
def test_resolve_and_get_answer_like_the_walk(spec: dict[str, tuple[str, str | None]], queries: list[str]) -> None:
    rootfs = build(spec)
    for query in queries:
        for form in (query, PurePosixPath(query)):
            assert rootfs.resolve(form) == reference_resolve(rootfs, form), form
            assert rootfs.resolve(form, max_links=1) == reference_resolve(rootfs, form, max_links=1), form
            assert rootfs.get(form) is rootfs.entries.get(PurePosixPath(form))


@settings(max_examples=100, deadline=None)
@given(spec=_entries)
def test_iteration_is_sorted_and_repeatable(spec: dict[str, tuple[str, str | None]]) -> None:
    rootfs = build(spec)
    expected = [rootfs.entries[path] for path in sorted(rootfs.entries)]
    assert list(rootfs) == expected
    assert list(rootfs) == expected  # the cached order
    assert [e.path for e in rootfs.with_changes(remove=frozenset(rootfs.entries))] == []


def test_a_symlink_in_the_middle_is_followed() -> None:
    rootfs = build({"usr": ("dir", None), "usr/lib": ("dir", None), "usr/lib/x": ("file", None),
                    "lib": ("symlink", "usr/lib")})
    assert rootfs.resolve("lib/x") == PurePosixPath("usr/lib/x")
    assert rootfs.resolve(PurePosixPath("usr/lib/x")) == PurePosixPath("usr/lib/x")
    assert rootfs.resolve("usr/missing") is None


NAMES = st.text(alphabet="ab-+./ \x01é", min_size=1, max_size=4).filter(lambda n: "/" not in n and n not in (".", ".."))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(NAMES, min_size=0, max_size=4), max_size=30))
def test_path_order_sorts_as_paths_do(parts_lists: list[list[str]]) -> None:
    """The string key orders paths exactly as PurePosixPath compares them (the root "." first), and leaves no
    ``parts`` tuple cached on the paths it sorted."""
    paths = [PurePosixPath(*parts) if parts else PurePosixPath(".") for parts in parts_lists]
    assert sorted(paths, key=path_order) == sorted(paths)
    rootfs = Rootfs({path: FileEntry(path, EntryType.DIR) for path in paths})
    fresh = [PurePosixPath(str(path)) for path in paths]
    assert [entry.path for entry in Rootfs({p: FileEntry(p, EntryType.DIR) for p in fresh})] == sorted(set(fresh))
    assert all(getattr(path, "_pparts", None) is None for path in fresh)
    assert len(list(rootfs)) == len(set(paths))
