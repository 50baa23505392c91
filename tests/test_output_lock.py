"""The output directory's lock: one holder at a time, named to the next one; gone with its holder,
even one killed with SIGKILL."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from zip2zip_tokenizers import Zip2ZipError
from zip2zip_tokenizers.output_lock import LOCK_NAME, OutputInUseError, output_lock


def test_a_second_holder_is_refused_with_the_first_named(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with output_lock(out):
        holder = (out / LOCK_NAME).read_text()
        assert holder.startswith(f"pid {os.getpid()} on ")
        with pytest.raises(OutputInUseError) as raised, output_lock(out):
            pass
        assert str(raised.value).startswith(f"{out} is in use by another run ({holder});")
        assert (out / LOCK_NAME).read_text() == holder
    assert list(out.iterdir()) == []  # released: the lock file goes with it
    with output_lock(out):
        pass
    assert issubclass(OutputInUseError, Zip2ZipError)


def test_the_lock_of_a_killed_holder_does_not_block(tmp_path: Path) -> None:
    pid = os.fork()
    if pid == 0:  # the child takes the lock and dies holding it
        try:
            with output_lock(tmp_path):
                os.kill(os.getpid(), signal.SIGKILL)
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == -signal.SIGKILL
    assert (tmp_path / LOCK_NAME).read_text().startswith(f"pid {pid} on ")
    with output_lock(tmp_path):
        assert (tmp_path / LOCK_NAME).read_text().startswith(f"pid {os.getpid()} on ")
    assert not (tmp_path / LOCK_NAME).exists()
