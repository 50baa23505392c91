"""What a training checkpoint holds of the model, in the model's own checkpoint format
(``Zip2ZipForCausalLM.save_pretrained``), and loading it back into a live model for a resume."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from zip2zip_tokenizers.torch.checkpoint import (
    ADAPTER_CONFIG_NAME,
    BASE_SUBFOLDER,
    ENCODERS_NAME,
    _load_encoders,
    is_peft,
)
from zip2zip_tokenizers.torch.model import Zip2ZipForCausalLM
from zip2zip_tokenizers.torch.training.errors import TrainingError

ADAPTER_WEIGHTS_NAME = "adapter_model.safetensors"


def base_is_trained(model: Zip2ZipForCausalLM) -> bool:
    """Full fine-tuning: base weights train without an adapter, so checkpoints carry them."""
    return not is_peft(model.base_model) and any(
        p.requires_grad for p in model.base_model.parameters()
    )


def save_training_model(
    model: Zip2ZipForCausalLM,
    directory: str,
    tokenizer: Any,
    state_dict: dict[str, Any] | None = None,
) -> None:
    """The tokenizer (first: the model's save keeps its keys of ``zip2zip_config.json``), then
    the model: encoders, adapter, token-type head, and the base weights when they train; from
    ``state_dict`` (the whole model's, gathered from shards) when given."""
    if tokenizer is not None:
        tokenizer.save_pretrained(directory)
    model.save_pretrained(
        directory, save_base=True if base_is_trained(model) else None, state_dict=state_dict
    )


def load_training_model(model: Zip2ZipForCausalLM, directory: str | os.PathLike[str]) -> None:
    """Loads the trained weights a checkpoint holds into ``model`` in place."""
    from safetensors.torch import load_file

    path = Path(directory)
    if not (path / ENCODERS_NAME).is_file():
        raise TrainingError(f"{path} is not a zip2zip training checkpoint (no {ENCODERS_NAME})")
    _load_encoders(model, path / ENCODERS_NAME)
    if is_peft(model.base_model):
        from peft import set_peft_model_state_dict

        if not (path / ADAPTER_CONFIG_NAME).is_file():
            raise TrainingError(f"{path} holds no adapter but the model has one")
        set_peft_model_state_dict(model.base_model, load_file(str(path / ADAPTER_WEIGHTS_NAME)))
    elif base_is_trained(model):
        folder = path / BASE_SUBFOLDER if (path / BASE_SUBFOLDER).is_dir() else path
        state: dict[str, Any] = {}
        for file in sorted(folder.glob("model*.safetensors")):
            state |= load_file(str(file))
        if not state:
            raise TrainingError(f"{path} holds no base model weights but they were training")
        result = model.base_model.load_state_dict(state, strict=False)
        if result.unexpected_keys:
            raise TrainingError(f"{path}: unexpected base weights {result.unexpected_keys[:5]}")
