"""Property tests over synthetic layouts: any class, byte order and machine; debug sections before or after
the loadable content; section numbering that would shift under the dynamic symbols; appended data."""

from __future__ import annotations

import tempfile
from fnmatch import fnmatchcase
from pathlib import Path

import elf_synth
from elf_checks import (
    assert_lief_agrees,
    assert_nothing_matches,
    assert_segments_preserved,
    defined_dynamic_symbols,
    section_bytes,
)
from hypothesis import event, given, settings
from hypothesis import strategies as st

from harden.elf import DEFAULT_SECTIONS, strip_file

DROPPABLE = (".debug_info", ".debug_line", ".zdebug_str", ".symtab", ".strtab")
KEPT = (".comment", ".gnu_debuglink", ".note.extra")
TARGETS = (  # (class, little endian, e_machine) as real toolchains emit them
    *((32, True, m) for m in (3, 8, 40, 243)),  # i386 mipsel arm riscv32
    *((32, False, m) for m in (8, 20, 40)),  # mips ppc armeb
    *((64, True, m) for m in (8, 21, 62, 183, 243)),  # mips64el ppc64le x86_64 aarch64 riscv64
    *((64, False, m) for m in (8, 21, 22, 183)),  # mips64 ppc64 s390x aarch64_be
)


def _droppable(name: str) -> bool:
    return any(fnmatchcase(name, p) for p in DEFAULT_SECTIONS)


@st.composite
def specs(draw: st.DrawFn) -> elf_synth.Spec:
    names = draw(st.lists(st.sampled_from(DROPPABLE + KEPT), unique=True, max_size=7))
    if ".symtab" in names and ".strtab" not in names:
        names.append(".strtab")
    before = [n for n in names if draw(st.booleans()) and n not in (".symtab", ".strtab")]
    after = [n for n in names if n not in before]
    after = draw(st.permutations(after))
    if draw(st.booleans()):
        after = [*after, ".shstrtab"]
    all_names = [*elf_synth.ALLOC, *before, *after]
    if ".shstrtab" not in all_names:
        all_names.append(".shstrtab")
    order = draw(st.permutations(all_names)) if draw(st.booleans()) else None
    trailing = draw(st.sampled_from([b"", bytes(24), b"APPENDED" * 8]))
    elf_class, little_endian, machine = draw(st.sampled_from(TARGETS))
    return elf_synth.Spec(
        elf_class=elf_class,
        little_endian=little_endian,
        machine=machine,
        before=tuple(before),
        after=tuple(after),
        index_order=tuple(order) if order else None,
        payload=draw(st.integers(32, 400)),
        dynamic_symbols=draw(st.integers(1, 6)),
        trailing=trailing,
    )


@settings(max_examples=200, deadline=None)
@given(spec=specs())
def test_stripping_any_layout_keeps_every_loaded_byte(spec: elf_synth.Spec) -> None:
    built = elf_synth.build(spec)
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.so", Path(tmp) / "out.so"
        src.write_bytes(built.data)
        result = strip_file(src, dst)
        droppable_after = [n for n in spec.after if _droppable(n)]
        droppable = droppable_after + [n for n in spec.before if _droppable(n)]
        event(f"changed={result.changed} numbering-kept={_numbering_kept(spec)}")

        if not droppable:
            assert not result.changed and (result.skipped_reason or "").startswith("already stripped")
            return
        if b"APPENDED" in spec.trailing:
            assert not result.changed and "appended data" in (result.skipped_reason or "")
            return
        if droppable_after:
            assert result.changed, result.skipped_reason
        if not result.changed:
            assert not dst.exists()
            return

        assert sorted(result.removed_sections) == sorted(droppable)
        assert dst.stat().st_size == result.bytes_after < result.bytes_before == len(built.data)
        assert_segments_preserved(src, dst)
        assert_nothing_matches(dst, DEFAULT_SECTIONS)
        assert_lief_agrees(src, dst)
        # the dynamic symbols (inside the segment, unchanged) still name .text, even if numbering had to stay
        assert set(defined_dynamic_symbols(dst).values()) == {".text"}
        kept = section_bytes(dst)
        original = section_bytes(src)
        assert set(kept) - {""} == {n for n in original if n and not _droppable(n)}
        for name in kept:
            if name and name != ".shstrtab":
                assert kept[name] == original[name]
        out = dst.read_bytes()
        for name in spec.before:  # dropped sections before the loadable content are zeroed in place
            start, end = built.ranges[name]
            assert (out[start:end] == bytes(end - start)) == _droppable(name)


def _numbering_kept(spec: elf_synth.Spec) -> bool:
    order = spec.index_order or (*elf_synth.ALLOC, *spec.before, *spec.after)
    text = order.index(".text")
    return any(_droppable(n) for n in order[:text])
