"""Worker processes that exit when their parent dies, however it dies (``kill -9`` included),
instead of living on with their memory.

On Linux the kernel does it: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``. Everywhere (and in case the
parent died before that call), a daemon thread also checks once a second that the parent is
still the one that started the worker."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1
#: Seconds between two checks of the parent.
POLL_SECONDS = 1.0


def _kernel_watch() -> bool:
    """Asks Linux to kill this process when its parent dies; whether it applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return bool(libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_SECONDS)
    os._exit(1)


def exit_with_parent(parent: int) -> None:
    """Makes this process exit when process ``parent`` (its parent) is gone."""
    _kernel_watch()
    if os.getppid() != parent:  # died before the kernel was told
        os._exit(1)
    threading.Thread(
        target=_watch, args=(parent,), name="zip2zip-parent-watch", daemon=True
    ).start()
