"""harden.heap: free pages inside the C heap go back to the system (glibc keeps them mapped unless asked)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
from harden.heap import release_free_heap

def anonymous_kb():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1])

blocks = [bytearray(b"x" * 60_000) for _ in range(3_000)]  # ~180 MB below the mmap threshold: on the heap
keep = bytearray(b"y" * 60_000)  # allocated last: the heap's top stays in use, so free() alone cannot shrink it
del blocks
before = anonymous_kb()
release_free_heap()
print(before, anonymous_kb())
"""


def test_released_pages_leave_the_processs_resident_memory() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120,
                          check=True)
    before, after = map(int, done.stdout.split())
    assert before > 150_000, f"{before} KiB before: the freed blocks were already given back"
    assert after < before - 120_000, f"{before} KiB before the release, {after} KiB after"
