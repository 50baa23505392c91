"""Where a rerun starts: the newest intact ``checkpoint-N`` of the output directory, and whether
the run there is already finished.

Checkpoints appear whole or not at all (``staging.py``), but an output directory may hold one
written by an older version that was killed while saving, or one broken by hand: such a
checkpoint is skipped with a warning naming it and what is wrong, and the run resumes from the
newest intact one. A run is finished when its output holds the final model with the trainer
state beside it (``trainer_state.json``, moved there last) at ``max_steps`` (or, counting
epochs, at the end of ``num_train_epochs``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import zipfile
from pathlib import Path

from transformers import TrainerState, TrainingArguments
from transformers.trainer import TRAINER_STATE_NAME, TRAINING_ARGS_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from zip2zip_tokenizers.torch.checkpoint import (
    ADAPTER_CONFIG_NAME,
    ADAPTER_WEIGHTS_NAME,
    ENCODERS_NAME,
)

logger = logging.getLogger(__name__)

# The name of a checkpoint directory, ``checkpoint-N``; group 1 is its step.
CHECKPOINT_NAME = re.compile(re.escape(PREFIX_CHECKPOINT_DIR) + r"-(\d+)")
# Files torch.save writes: zip archives, whose directory is at the end of the file.
_TORCH_FILES = (".pt", ".pth", ".bin")
# A state counting epochs ends at a float sum of 1 / steps per epoch.
_EPOCH_SLACK = 1e-6


def _unreadable(file: Path) -> str | None:
    """What is wrong with ``file`` (cut short, not what its name says), or ``None``."""
    try:
        if file.suffix == ".safetensors":
            from safetensors import safe_open

            # Reads the header only, and checks that the data it describes fill the file.
            with safe_open(str(file), framework="pt"):
                pass
        elif file.suffix in _TORCH_FILES:
            zipfile.ZipFile(file).close()
        elif file.suffix == ".json":
            json.loads(file.read_bytes())
    except Exception as error:  # each reader raises its own type for a damaged file
        return f"{file.name} is unreadable ({type(error).__name__}: {error})"
    return None


def checkpoint_damage(path: Path) -> str | None:
    """What makes the checkpoint directory ``path`` (named ``checkpoint-N``) unusable for a
    resume, or ``None`` when it is whole."""
    state = path / TRAINER_STATE_NAME
    required = [TRAINER_STATE_NAME, ENCODERS_NAME, TRAINING_ARGS_NAME]
    if (path / ADAPTER_CONFIG_NAME).is_file():
        required.append(ADAPTER_WEIGHTS_NAME)
    missing = [name for name in required if not (path / name).is_file()]
    if missing:
        return f"no {', '.join(missing)}"
    for file in sorted(path.rglob("*")):
        problem = _unreadable(file) if file.is_file() else None
        if problem is not None:
            return problem
    step = json.loads(state.read_bytes()).get("global_step")
    match = CHECKPOINT_NAME.fullmatch(path.name)
    if match is not None and step != int(match[1]):
        return f"its {TRAINER_STATE_NAME} is at step {step}"
    return None


def newest_intact_checkpoint(output: str | os.PathLike[str]) -> str | None:
    """The path of the newest whole ``checkpoint-N`` in ``output`` (``None``: there is none);
    every newer one that is damaged is named in a warning."""
    directory = Path(output)
    if not directory.is_dir():
        return None
    steps: dict[Path, int] = {}
    for entry in directory.iterdir():
        match = CHECKPOINT_NAME.fullmatch(entry.name)
        if match is not None and entry.is_dir():
            steps[entry] = int(match[1])
    skipped: list[str] = []
    for path in sorted(steps, key=steps.__getitem__, reverse=True):
        problem = checkpoint_damage(path)
        if problem is None:
            if skipped:
                logger.warning(
                    "%s: skipped %s; resuming from %s", directory, "; ".join(skipped), path.name
                )
            return str(path)
        skipped.append(f"{path.name} is damaged or incomplete ({problem})")
    if skipped:
        logger.warning("%s: skipped %s; no intact checkpoint", directory, "; ".join(skipped))
    return None


def reached_the_end(state: TrainerState, args: TrainingArguments) -> bool:
    """Whether the trainer state ``state`` has trained all that ``args`` ask for."""
    if args.max_steps > 0:
        return bool(state.global_step >= args.max_steps)
    epoch = state.epoch or 0.0
    return bool(
        state.global_step >= state.max_steps and epoch + _EPOCH_SLACK >= args.num_train_epochs
    )


def finished_state(output: str | os.PathLike[str], args: TrainingArguments) -> TrainerState | None:
    """The trainer state of the finished run in ``output`` (a ``TrainerState``), or ``None`` when
    the output holds no final model, or one that has not reached the end ``args`` ask for."""
    path = Path(output) / TRAINER_STATE_NAME
    if not path.is_file() or _unreadable(path) is not None:
        return None
    state = TrainerState.load_from_json(str(path))
    return state if reached_the_end(state, args) else None
