"""Where the committed ELF fixtures live, and which of them carry debug info (see make_fixtures.py)."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "elf"

DEBUG_LIBRARIES = (
    "x86_64_debug.so",
    "x86_64_gz.so",
    "i386_debug.so",
    "aarch64_debug.so",
    "s390x_debug.so",
    "ppc_debug.so",
)
"""Libraries with debug info and a symbol table that the stripper must make smaller."""
