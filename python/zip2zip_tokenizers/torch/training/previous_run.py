"""A fresh run (``resume=False``, ``train --no-resume``) in a directory that holds another run:
that run's files move into ``<output>/previous-runs/<UTC time>/``, nothing is deleted.

Left in place, the old run's checkpoints would outrank the new run's on a later resume (the
newest ``checkpoint-N`` wins, and the old run may have gone further), and its final trainer
state could report the new run finished before it trained."""

from __future__ import annotations

import os
import time

from zip2zip_tokenizers.output_lock import LOCK_NAME
from zip2zip_tokenizers.torch.training.resume import CHECKPOINT_NAME
from zip2zip_tokenizers.torch.training.run_record import RUN_RECORD_NAME

PREVIOUS_RUNS = "previous-runs"
_KEPT = {LOCK_NAME, PREVIOUS_RUNS}


def holds_a_run(output: str) -> bool:
    """Whether ``output`` holds a run's record or checkpoints (not merely other files)."""
    if not os.path.isdir(output):
        return False
    names = os.listdir(output)
    return RUN_RECORD_NAME in names or any(CHECKPOINT_NAME.fullmatch(name) for name in names)


def set_aside_previous_run(output: str) -> str | None:
    """Moves everything in ``output`` but its lock and earlier set-aside runs into a new
    ``previous-runs/<UTC time>`` directory, when ``output`` holds a run; that directory, or
    ``None``. Call it only while holding ``output``'s lock."""
    if not holds_a_run(output):
        return None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = os.path.join(output, PREVIOUS_RUNS, stamp)
    suffix = 1
    while os.path.exists(target):
        suffix += 1
        target = os.path.join(output, PREVIOUS_RUNS, f"{stamp}-{suffix}")
    os.makedirs(target)
    for name in sorted(os.listdir(output)):
        if name not in _KEPT:
            os.rename(os.path.join(output, name), os.path.join(target, name))
    return target
