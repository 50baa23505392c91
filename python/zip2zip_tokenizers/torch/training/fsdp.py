"""What training under FSDP needs beyond the Trainer's own handling (docs/training.md, "Several
processes: DDP and FSDP"): full state dicts to save from, recognising the Trainer's FSDP
checkpoint files, and saying so when FSDP was asked for but accelerate runs without it."""

from __future__ import annotations

import os
import warnings
from typing import Any

# transformers' name for the model state its Trainer saves under FSDP (a file or a folder).
FSDP_MODEL_NAME = "pytorch_model_fsdp"


def require_full_state_dict(plugin: Any) -> None:
    """``TrainingError`` unless FSDP gathers full state dicts to save: with sharded ones the
    Trainer never hands the model's weights to ``_save``, so no loadable model is written."""
    from zip2zip_tokenizers.torch.training.errors import TrainingError

    kind = str(getattr(plugin, "state_dict_type", ""))
    if "FULL_STATE_DICT" not in kind:
        raise TrainingError(
            f"FSDP state_dict_type is {kind or 'unset'}; Zip2ZipTrainer saves the model's own "
            "checkpoint from the full state dict: set fsdp_state_dict_type: FULL_STATE_DICT "
            "(accelerate config) or fsdp_config['state_dict_type'] = 'FULL_STATE_DICT'"
        )


def fsdp_checkpoint(directory: str) -> bool:
    """Whether ``directory`` holds the Trainer's FSDP model state (full or sharded)."""
    return os.path.isdir(directory) and any(
        name.startswith(FSDP_MODEL_NAME) for name in os.listdir(directory)
    )


def warn_fsdp_not_applied(accelerator: Any) -> None:
    """FSDP was asked for (``fsdp`` training argument) but accelerate chose another way to run
    the processes: on CPU, accelerate keeps ``MULTI_CPU`` (DDP) and drops the FSDP plugin."""
    from importlib.metadata import version

    kind = getattr(accelerator.state, "distributed_type", "unknown")
    warnings.warn(
        f"fsdp was requested but accelerate {version('accelerate')} runs these processes as "
        f"{kind}, without FSDP (it shards only on GPU-like devices, never on CPU); every process "
        "holds the whole model",
        UserWarning,
        stacklevel=3,
    )
