"""Properties of the installed-database reader on generated databases: any bytes round-trip; dropping
packages or files equals building the database without them (a reference writer in the test)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harden.apk.installed import parse_installed

_value = st.text(alphabet="abcXYZ019 .-_/:=+", max_size=12).filter(lambda v: "\n" not in v)
_header_letter = st.sampled_from("CPVASITULomtcDpirqsfkx")
_name = st.text(alphabet="abc.-_+", min_size=1, max_size=6)
_folder = st.lists(st.text(alphabet="abc", min_size=1, max_size=3), max_size=3).map("/".join)
_file = st.tuples(_name, st.booleans(), st.booleans())  # name, has a:, has Z:
_folders = st.lists(st.tuples(_folder, st.booleans(), st.lists(_file, max_size=3, unique_by=lambda f: f[0])),
                    max_size=3, unique_by=lambda f: f[0])
_package = st.tuples(_name, st.lists(st.tuples(_header_letter, _value), max_size=4), _folders)
_separator = st.sampled_from(["\n", "\n\n", "\nx\n"])


def _write(name: str, header: list[tuple[str, str]], folders: list, gone: set[str] = frozenset(),
           gone_folders: set[str] = frozenset()) -> str:
    """The reference writer: apk_db_fdb_write's order, leaving out ``gone`` files and emptied gone folders."""
    lines = [f"P:{name}", *(f"{letter}:{value}" for letter, value in header)]
    for folder, has_m, files in folders:
        kept = [f for f in files if _path(folder, f[0]) not in gone]
        if not kept and folder in gone_folders:
            continue
        lines.append(f"F:{folder}")
        if has_m:
            lines.append("M:0:0:755")
        for file_name, has_a, has_z in kept:
            lines.append(f"R:{file_name}")
            lines += ["a:0:0:644"] if has_a else []
            lines += ["Z:Q1AAAA"] if has_z else []
    return "\n".join(lines) + "\n"


def _path(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_any_bytes_round_trip(data: bytes) -> None:
    assert parse_installed(data).to_bytes() == data


@settings(max_examples=200)
@given(st.lists(_package, max_size=5), st.lists(_separator, min_size=5, max_size=5), st.data())
def test_dropping_packages_and_files_equals_writing_without_them(packages: list, separators: list[str],
                                                               data: st.DataObject) -> None:
    text = "".join(_write(*p) + separators[i] for i, p in enumerate(packages))
    db = parse_installed(text.encode())
    assert [p.name for p in db.packages] == [p[0] for p in packages]
    assert [len(p.paths) for p in db.packages] == [sum(len(f[2]) for f in p[2]) for p in packages]
    drop = data.draw(st.sets(st.integers(0, max(len(packages) - 1, 0))))
    kept = [i for i in range(len(packages)) if i not in drop]
    assert parse_installed(db.without(drop)).to_bytes() == db.without(drop)
    assert [p.name for p in parse_installed(db.without(drop)).packages] == [packages[i][0] for i in kept]
    if not kept:
        return
    target = data.draw(st.sampled_from(kept))
    paths = [_path(folder, f[0]) for folder, _, files in packages[target][2] for f in files]
    gone = set(data.draw(st.lists(st.sampled_from(paths), unique=True))) if paths else set()
    gone_folders = set(data.draw(st.lists(st.sampled_from([f[0] for f in packages[target][2]] or [""]))))
    out = db.packages[target].without_files(gone, gone_folders)
    expected = _write(*packages[target], gone=gone, gone_folders=gone_folders)
    assert out == expected.encode() + db.packages[target].tail
