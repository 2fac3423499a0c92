"""Property: merging random layer stacks top-down equals applying them bottom-up on a dict (the reference)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harden.image.blobs import BlobStore
from harden.image.merge import merge_layers
from imagefactory import TarEntry, directory, file, make_layer_tar, memory_layers, opaque, symlink, whiteout

Op = tuple[str, str, bytes]
Spec = dict[str, tuple[str, bytes]]

_paths = st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3).map("/".join)
_ops = st.one_of(
    st.tuples(st.just("file"), _paths, st.binary(max_size=3)),
    st.tuples(st.just("dir"), _paths, st.just(b"")),
    st.tuples(st.just("symlink"), _paths, st.sampled_from([b"a", b"/abs/target"])),
    st.tuples(st.just("whiteout"), _paths, st.just(b"")),
    st.tuples(st.just("opaque"), _paths, st.just(b"")),
)
_stacks = st.lists(st.lists(_ops, max_size=6), min_size=1, max_size=4)


def _ancestors(path: str) -> list[str]:
    return [str(p) for p in PurePosixPath(path).parents if str(p) != "."]


def _layer(ops: list[Op]) -> tuple[Spec, set[str], set[str]]:
    """A consistent layer: entries (every ancestor an explicit directory), whiteouts, opaque directories."""
    entries: Spec = {}
    whiteouts: set[str] = set()
    opaques: set[str] = set()
    for kind, path, data in ops:
        if kind == "whiteout":
            whiteouts.add(path)
        elif kind == "opaque":
            opaques.add(path)
        else:
            entries[path] = (kind, data)
    required = {a for p in [*entries, *whiteouts] for a in _ancestors(p)}
    required |= {a for d in opaques for a in [d, *_ancestors(d)]}
    for d in required:
        entries[d] = ("dir", b"")
    return entries, whiteouts, opaques


def _tar(index: int, entries: Spec, whiteouts: set[str], opaques: set[str]) -> bytes:
    members: list[TarEntry] = []
    for path in sorted(entries, key=lambda p: PurePosixPath(p).parts):
        kind, data = entries[path]
        if kind == "dir":
            members.append(directory(path, mode=0o700 + index))
        elif kind == "file":
            members.append(file(path, data, mode=0o600 + index))
        else:
            members.append(symlink(path, data.decode()))
    members += [whiteout(p) for p in sorted(whiteouts)] + [opaque(d) for d in sorted(opaques)]
    return make_layer_tar(members)


def _drop(state: dict[str, tuple[str, bytes, int]], path: str, *, keep_self: bool = False) -> None:
    for existing in list(state):
        if (existing == path and not keep_self) or existing.startswith(path + "/"):
            del state[existing]


def _reference(layers: list[tuple[Spec, set[str], set[str]]]) -> dict[str, tuple[str, bytes, int]]:
    state: dict[str, tuple[str, bytes, int]] = {}
    for index, (entries, whiteouts, opaques) in enumerate(layers):
        for path in whiteouts:
            _drop(state, path)
        for d in opaques:
            _drop(state, d, keep_self=True)
        for path in sorted(entries, key=lambda p: PurePosixPath(p).parts):
            kind, data = entries[path]
            if kind == "dir":
                if path in state and state[path][0] != "dir":
                    _drop(state, path)
                state[path] = ("dir", b"", 0o700 + index)
            else:
                _drop(state, path)
                state[path] = (kind, data, 0o600 + index if kind == "file" else 0o777)
    return state


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stack=_stacks)
def test_merge_equals_bottom_up_reference(stack: list[list[Op]], tmp_path: Path) -> None:
    layers = [_layer(ops) for ops in stack]
    tars = [_tar(i, *layer) for i, layer in enumerate(layers)]
    blobs = BlobStore(tmp_path / "blobs")
    rootfs = merge_layers(memory_layers(tars), blobs).rootfs
    merged = {}
    for entry in rootfs:
        if entry.type.value == "file":
            data = blobs.read(entry.digest or "")
        elif entry.type.value == "symlink":
            data = (entry.linkname or "").encode()
        else:
            data = b""
        merged[str(entry.path)] = (entry.type.value, data, entry.mode)
    assert merged == _reference(layers)
