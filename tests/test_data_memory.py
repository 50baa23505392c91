"""What the driver frees before forking workers goes back to the system (glibc only), and
what the workers free goes back at once."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from zip2zip_tokenizers.data.memory import WORKER_PURGE_DELAY_MS, return_free_memory


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


# Frees 40 MB in 2 MB blocks under a live one (so no trim can reach them), after one 4 MB block
# has gone (glibc then raises its mmap threshold to 4 MB) and prints how much stayed resident.
FREED_UNDER_A_LIVE_BLOCK = """
import os, sys
from zip2zip_tokenizers.data.memory import return_freed_memory_promptly
def resident_mb():
    with open("/proc/self/statm") as file:
        return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
if sys.argv[1] == "prompt":
    print(",".join(return_freed_memory_promptly()))
first = bytearray(4 << 20)
del first
before = resident_mb()
blocks = [bytearray(2 << 20) for _ in range(20)]
live = bytearray(1 << 20)  # at the top of the heap, larger than any free fragment
del blocks
print(resident_mb() - before)
"""


def run_python(code: str, *args: str, env: dict[str, str] | None = None) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    return result.stdout.splitlines()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_worker_processes_hand_freed_blocks_back_at_once() -> None:
    settings = ("MALLOC_MMAP_THRESHOLD_", "MIMALLOC_PURGE_DELAY")
    clean = {key: value for key, value in os.environ.items() if key not in settings}
    kept = float(run_python(FREED_UNDER_A_LIVE_BLOCK, "default", env=clean)[-1])
    changed, returned = run_python(FREED_UNDER_A_LIVE_BLOCK, "prompt", env=clean)
    assert changed == "mimalloc purge delay,glibc mmap threshold"
    assert kept > 30 and float(returned) < 5


def test_native_purge_delay_is_mimallocs_and_settable() -> None:
    code = (
        "from zip2zip_tokenizers import _core\n"
        "from zip2zip_tokenizers.data.memory import return_freed_memory_promptly\n"
        "print(_core.memory_purge_delay())\n"
        "print(return_freed_memory_promptly())\n"
        "print(_core.memory_purge_delay())\n"
    )
    clean = {k: v for k, v in os.environ.items() if k != "MIMALLOC_PURGE_DELAY"}
    # mimalloc's own default (1000 ms), then the workers' setting.
    assert run_python(code, env=clean)[0::2] == ["1000", str(WORKER_PURGE_DELAY_MS)]
    # mimalloc reads its environment variable itself; then the setting is left to it.
    lines = run_python(code, env={**clean, "MIMALLOC_PURGE_DELAY": "37"})
    assert lines[0] == lines[2] == "37" and "mimalloc" not in lines[1]
