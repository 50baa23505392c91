"""Checkpoints and the final model appear whole or not at all.

Every process of a run writes a save into a hidden directory beside its final place, named like
the temporary files of ``preprocess`` (``.<final name>.<run id>.zip2zip-tmp``, see
``data/output_dir.py``); once everything is written, the saving process renames it into place. A
run killed while saving leaves only that hidden directory, which the next run on the output
removes (the output's lock guarantees that no other run is writing there). A failed write
removes it at once; a full disk becomes a ``CheckpointWriteError`` that says so.
"""

from __future__ import annotations

import errno
import os
import re
import shutil

from zip2zip_tokenizers.data.output_dir import temporary_path, temporary_run
from zip2zip_tokenizers.torch.training.errors import CheckpointWriteError

# What a staged directory moves out of the way when a final one of the same name exists.
_REPLACED = ".replaced"
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
# torch's stream writer reports a failed write without its errno ("basic_ios::clear: iostream
# error" for a small file, "unexpected pos 704 vs 598" for a large one, on a full device).
_TORCH_WRITE_FAILED = re.compile(r"iostream error|unexpected pos|PytorchStreamWriter|write failed")
# With less than this free on the device after such a failure, the device is taken as full:
# the failed write itself used up what was left.
_FULL_BELOW_BYTES = 1 << 20


def staging_dir(final: str, run: str) -> str:
    """The hidden directory that a save of ``final`` by the run ``run`` writes into."""
    return temporary_path(final, run)


def remove_leftovers(output: str) -> list[str]:
    """Removes the hidden directories (and files) that saves killed midway left in ``output``;
    their names. Call it only while holding ``output``'s lock."""
    if not os.path.isdir(output):
        return []
    removed = []
    for name in sorted(os.listdir(output)):
        if temporary_run(name) is None:
            continue
        path = os.path.join(output, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
        removed.append(name)
    return removed


def _move_into_place(source: str, target: str, staging: str) -> None:
    if os.path.isdir(target) and not os.path.islink(target):
        # A directory can not be replaced by a rename: the old one moves into the staging
        # directory first, and goes with it.
        replaced = os.path.join(staging, _REPLACED)
        os.makedirs(replaced, exist_ok=True)
        os.rename(target, os.path.join(replaced, os.path.basename(target)))
    os.replace(source, target)


def publish_directory(staged: str, final: str, staging: str) -> None:
    """Renames the whole directory ``staged`` (inside ``staging``) to ``final``, replacing one
    there, and removes ``staging``."""
    _move_into_place(staged, final, staging)
    shutil.rmtree(staging)


def discard_directory(path: str, staging: str) -> None:
    """Removes the directory ``path``, renamed to the hidden ``staging`` first: a kill while it is
    removed leaves no half of it under its own name."""
    os.rename(path, staging)
    shutil.rmtree(staging)


def publish_entries(staging: str, directory: str, last: str) -> None:
    """Moves every entry of ``staging`` into ``directory`` (replacing those of the same name),
    ``last`` last and after removing the one already there, and removes ``staging``: while
    ``directory`` holds ``last``, the entries beside it are the ones staged with it."""
    names = sorted(os.listdir(staging))
    old = os.path.join(directory, last)
    if os.path.lexists(old):
        os.remove(old)
    for name in [name for name in names if name != last] + [name for name in names if name == last]:
        _move_into_place(os.path.join(staging, name), os.path.join(directory, name), staging)
    shutil.rmtree(staging)


def write_error(error: BaseException, what: str, directory: str) -> CheckpointWriteError | None:
    """``error``, raised while writing ``what`` into ``directory``, as the ``CheckpointWriteError``
    to raise instead (``None``: not a failed write)."""
    text = str(error)
    no_space = "No space left on device" in text or "os error 28" in text
    if isinstance(error, OSError):
        reason = "no space left on device" if error.errno in _NO_SPACE or no_space else text
    elif no_space:
        reason = "no space left on device"
    elif isinstance(error, RuntimeError) and _TORCH_WRITE_FAILED.search(text):
        free = shutil.disk_usage(directory).free
        full = free < _FULL_BELOW_BYTES
        reason = f"no space left on device ({free} bytes free)" if full else f"{text!r}"
    else:
        return None
    return CheckpointWriteError(
        f"could not write {what} in {directory}: {reason}; what was written of it is removed and "
        "the checkpoints already there are unchanged (run again once the cause is mended: it "
        "resumes from the last one)"
    )
