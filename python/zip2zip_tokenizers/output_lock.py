"""One run at a time in an output directory: an exclusive ``flock`` on ``<output>/.zip2zip-lock``,
held while the run writes there. A second run on the same directory fails at once with
``OutputInUseError`` naming the holder (its process id, machine, start time and command line,
which the holder writes into the lock file). The kernel releases the lock when its holder exits,
killed or not, so a lock file left by a killed run does not block the next one."""

from __future__ import annotations

import fcntl
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from zip2zip_tokenizers._core import Zip2ZipError

LOCK_NAME = ".zip2zip-lock"
# The holder's description is read back into an error message: a long command line is cut.
_HOLDER_CHARS = 400


class OutputInUseError(Zip2ZipError):
    """Another process holds the output directory's lock; the message names it."""


def _holder() -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
    command = " ".join(sys.argv)[:_HOLDER_CHARS]
    return f"pid {os.getpid()} on {socket.gethostname()}, since {started}: {command}"


def _acquire(path: str, directory: str) -> int:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, _HOLDER_CHARS * 2, 0).decode("utf-8", "replace").strip()
            os.close(fd)
            raise OutputInUseError(
                f"{directory} is in use by another run ({holder or 'holder unknown'}); wait for "
                "it to end or give another output directory"
            ) from None
        # The previous holder removes the file as it lets go: a lock taken on the file it
        # removed guards nothing, so take it again on the one now at that path.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


@contextmanager
def output_lock(directory: str | os.PathLike[str]) -> Iterator[None]:
    """Holds ``directory``'s lock (creating the directory) for the ``with`` block; raises
    ``OutputInUseError`` when another process holds it."""
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, LOCK_NAME)
    fd = _acquire(path, directory)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, _holder().encode(), 0)
        yield
    finally:
        # Removed while still held, so that nobody locks the removed file (see _acquire).
        with suppress(FileNotFoundError):
            os.remove(path)
        os.close(fd)
