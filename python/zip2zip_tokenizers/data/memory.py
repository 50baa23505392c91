"""Keeping a long run's memory flat on glibc, and worker processes small.

The base tokenizer allocates each batch's encodings on its own worker threads; glibc gives every
such thread its own heap ("arena") and keeps what it frees there, so resident memory creeps up
by a heap per thread. Capping the arenas (as ``MALLOC_ARENA_MAX=2`` would, but settable after
start-up) keeps it flat: about 100 MB less on a 1 GB run, at no measurable speed cost. Worker
processes also hand what they free back at once (``return_freed_memory_promptly``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_ARENA_MAX = -8
_M_MMAP_THRESHOLD = -3
#: Blocks from this size up get their own mapping from glibc, unmapped when freed.
WORKER_MMAP_THRESHOLD = 1 << 20
#: How long the native code's allocator (mimalloc) keeps freed pages in a worker process.
WORKER_PURGE_DELAY_MS = 5
_done = False


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Caps glibc's malloc arenas for threads created from now on; whether it applied (no-op
    off glibc, or when ``MALLOC_ARENA_MAX`` is already set)."""
    global _done
    import os

    if _done or not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        _done = bool(libc.mallopt(_M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False
    return _done


def set_up_worker_memory() -> None:
    """The memory settings of a worker process, local or a Ray actor: few malloc arenas, freed
    memory handed back promptly, Arrow on the system allocator."""
    limit_malloc_arenas()
    return_freed_memory_promptly()
    use_system_arrow_allocator()


def return_freed_memory_promptly() -> list[str]:
    """Makes both allocators of this process hand freed memory back to the system at once (or
    nearly), for worker processes, which share the machine with each other. Left alone, each
    worker kept 60-100 MB it had freed (two workers on 0.2 GB: peak PSS of the process tree
    535-543 MB before, 466-494 MB with this on a quiet machine, same CPU time; a purge delay
    of 0 gave ~340 MB at 6-7 % more CPU time):

    - glibc serves blocks of ``WORKER_MMAP_THRESHOLD`` and more (a batch's windows, a shard's
      arrays and Arrow buffers) with their own mappings, unmapped when freed. By default it
      raises that threshold to the largest block freed so far, and such blocks then stay in a
      heap that only grows.
    - mimalloc (the native code's allocator) purges freed pages after
      ``WORKER_PURGE_DELAY_MS`` instead of a second.

    Returns what it changed (nothing is changed that an environment variable already sets:
    ``MALLOC_MMAP_THRESHOLD_``, ``MIMALLOC_PURGE_DELAY``)."""
    import os

    from zip2zip_tokenizers import _core

    changed = []
    if "MIMALLOC_PURGE_DELAY" not in os.environ:
        _core.set_memory_purge_delay(WORKER_PURGE_DELAY_MS)
        changed.append("mimalloc purge delay")
    if sys.platform.startswith("linux") and "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            if libc.mallopt(_M_MMAP_THRESHOLD, WORKER_MMAP_THRESHOLD):
                changed.append("glibc mmap threshold")
        except (OSError, AttributeError):
            pass
    return changed


def use_system_arrow_allocator() -> bool:
    """Makes Arrow allocate with the system allocator (arenas capped above) instead of its
    default, mimalloc, which keeps the memory that a shard's table and Parquet writer freed:
    a worker's peak RSS on one 16 MB shard is 335 MB instead of 371 MB (2-core VM; the peak PSS
    of a two-worker run moved within the noise, 611 -> 603 MB). Whether it applied (not when
    ``ARROW_DEFAULT_MEMORY_POOL`` chooses a pool)."""
    import os

    if "ARROW_DEFAULT_MEMORY_POOL" in os.environ:
        return False
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())
    return True


def return_free_memory() -> bool:
    """Collects garbage and hands glibc's free heap pages back to the system (``malloc_trim``);
    whether it could. Called before forking workers: what the driver freed (the tokenizer
    file's parse, about 60 MB for DeepSeek-V4) is then neither resident in the driver nor
    inherited by every worker."""
    import gc

    gc.collect()
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.malloc_trim(0))
    except (OSError, AttributeError):
        return False
