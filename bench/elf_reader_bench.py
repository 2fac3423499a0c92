"""LIEF against pyelftools on the dynamic information harden's linkage check reads, over every ELF file of an
image: interpreter, DT_NEEDED, run paths, version needs and definitions. Both read the same streams (harden's blob
store), in alternating rounds; the medians and the agreement of their answers are printed and written.

    python bench/elf_reader_bench.py IMAGE [--rounds 7] [--out bench/results/elf-readers.md]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from harden.elf.dynamic import MAGIC, read_dynamic
from harden.image.blobs import BlobStore
from harden.image.merge import merge_layers
from harden.image.transports import open_image

Facts = tuple[Any, ...]


def with_pyelftools(stream: IO[bytes]) -> Facts:
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile
    from elftools.elf.gnuversions import GNUVerDefSection, GNUVerNeedSection

    elf = ELFFile(stream)
    needed: list[str] = []
    needs: dict[str, tuple[str, ...]] = {}
    defs: list[str] = []
    interpreter = None
    for segment in elf.iter_segments():
        if segment.header.p_type == "PT_INTERP":
            interpreter = segment.get_interp_name()  # type: ignore[attr-defined]  # an InterpSegment
    for section in elf.iter_sections():
        if isinstance(section, DynamicSection):
            needed += [tag.needed for tag in section.iter_tags()  # type: ignore[attr-defined]  # DT_NEEDED tags have .needed
                       if tag.entry.d_tag == "DT_NEEDED"]
        elif isinstance(section, GNUVerNeedSection):
            needs.update({str(v.name): tuple(a.name for a in auxes) for v, auxes in section.iter_versions()})
        elif isinstance(section, GNUVerDefSection):
            defs += [a.name for _, auxes in section.iter_versions() for a in auxes]
    return interpreter, tuple(needed), tuple(sorted(needs.items())), tuple(sorted(defs))


def with_lief(stream: IO[bytes]) -> Facts:
    info = read_dynamic(stream)
    return info.interpreter, info.needed, tuple(sorted(info.version_needs)), tuple(sorted(info.version_defs))


def run(blobs: BlobStore, digests: list[str], reader: Callable[[IO[bytes]], Facts]) -> tuple[float, list[Facts]]:
    started = time.perf_counter()
    answers = []
    for digest in digests:
        with blobs.open(digest) as stream:
            answers.append(reader(stream))
    return time.perf_counter() - started, answers


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("bench/results/elf-readers.md"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="elf-bench-") as tmp:
        image = open_image(args.image, Path(tmp) / "image")
        blobs = BlobStore(Path(tmp) / "blobs")
        rootfs = merge_layers(image.layers, blobs).rootfs
        digests = []
        for entry in rootfs:
            if entry.is_file and entry.digest is not None:
                with blobs.open(entry.digest) as stream:
                    if stream.read(4) == MAGIC:
                        digests.append(entry.digest)
        digests = sorted(set(digests))
        times: dict[str, list[float]] = {"pyelftools": [], "lief": []}
        answers: dict[str, list[Facts]] = {}
        for _ in range(args.rounds):
            for name, reader in (("pyelftools", with_pyelftools), ("lief", with_lief)):
                seconds, answers[name] = run(blobs, digests, reader)
                times[name].append(seconds)
    agree = sum(1 for a, b in zip(answers["pyelftools"], answers["lief"], strict=True) if a == b)
    medians = {name: statistics.median(values) for name, values in times.items()}
    lines = [
        f"# ELF readers on {args.image}",
        "",
        f"{len(digests):,} distinct ELF files; {args.rounds} alternating rounds each, one process, this machine.",
        "",
        "| reader | median s | min s | max s |",
        "| --- | ---: | ---: | ---: |",
        *(f"| {name} | {medians[name]:.2f} | {min(times[name]):.2f} | {max(times[name]):.2f} |" for name in times),
        "",
        f"LIEF / pyelftools median: {medians['lief'] / medians['pyelftools']:.2f}; the two agree on "
        f"{agree:,} of {len(digests):,} files (interpreter, DT_NEEDED, version needs and definitions).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
