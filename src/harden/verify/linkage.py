"""The static linkage check of verification: every ``DT_NEEDED`` and every symbol version of every ELF file of
the hardened image resolves inside it, as its dynamic loader would resolve them. Only what the hardening broke
fails (a link already broken in the original is reported, not blamed). Nothing runs, so it also stands in
where an image cannot be run (another architecture)."""

from __future__ import annotations

from collections.abc import Mapping

from harden.elf.dynamic import DynamicCache
from harden.elf.linkage import Closure, Linker
from harden.elf.read_ahead import read_ahead
from harden.image.blobs import BlobStore
from harden.image.model import Rootfs
from harden.verify.result import LinkageCheck


def _problems(closure: Closure) -> list[str]:
    return closure.problems()


def read_for_linkage(original: Rootfs, hardened: Rootfs, blobs: BlobStore) -> DynamicCache:
    """What ``check_linkage`` reads, read now in a worker process: callers do it before the probes start, so no
    worker process stands beside them."""
    cache: DynamicCache = {}
    read_ahead(cache, [hardened, original], blobs)
    return cache


def check_linkage(original: Rootfs, hardened: Rootfs, blobs: BlobStore,
                  environment: Mapping[str, str] | None = None, *, cache: DynamicCache | None = None) -> LinkageCheck:
    """``cache``: from ``read_for_linkage``; what it lacks is read in a worker process."""
    cache = cache if cache is not None else {}
    read_ahead(cache, [hardened, original], blobs)
    after = Linker(hardened, blobs, environment, cache)
    objects = [e.path for e in hardened if e.has_content and after.is_elf(e.path)]
    found = after.check(objects)
    before = after.with_rootfs(original).check([p for p in objects if original.get(p) is not None])
    old = set(_problems(before))
    new = _problems(found)
    return LinkageCheck(len(objects), tuple(line for line in new if line not in old),
                        tuple(line for line in new if line in old))
