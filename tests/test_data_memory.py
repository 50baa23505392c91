"""What the driver frees before forking workers goes back to the system (glibc only)."""

from __future__ import annotations

import os
import sys

import pytest
from zip2zip_tokenizers.data.memory import return_free_memory


def resident_mb() -> float:
    with open("/proc/self/statm") as file:
        pages = int(file.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_memory_freed_before_the_fork_is_returned_to_the_system() -> None:
    import gc

    gc.disable()  # keep the parse's garbage until return_free_memory collects it
    try:
        before = resident_mb()
        # Like a tokenizer file's parse: many small objects in a cycle (only gc frees them),
        # interleaved with survivors that keep the pages from being released on their own.
        garbage: list[object] = [{"key": str(i), "self": None} for i in range(400_000)]
        garbage.append(garbage)
        keep = [bytes(64) for _ in range(2_000)]
        grown = resident_mb()
        del garbage
        assert grown - before > 40
        assert return_free_memory()
        assert resident_mb() < grown - 30
        assert len(keep) == 2_000
    finally:
        gc.enable()
