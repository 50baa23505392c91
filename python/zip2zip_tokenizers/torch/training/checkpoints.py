"""What a training checkpoint holds of the model, in the model's own checkpoint format
(``Zip2ZipForCausalLM.save_pretrained``), and loading it back into a live model for a resume."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from zip2zip_tokenizers.settings import CodecMismatchError, check_same_codec, read_config
from zip2zip_tokenizers.torch.checkpoint import (
    ADAPTER_CONFIG_NAME,
    ADAPTER_WEIGHTS_NAME,
    BASE_SUBFOLDER,
    ENCODERS_NAME,
    _load_encoders,
    is_peft,
    read_weights,
)
from zip2zip_tokenizers.torch.model import Zip2ZipForCausalLM
from zip2zip_tokenizers.torch.training.errors import ResumeMismatchError, TrainingError

# What a refusal to resume suggests (a checkpoint is the weights of one run).
START_AFRESH = (
    "rerun with the settings that run was started with, or start afresh with --no-resume "
    "(resume=False) or another --output"
)


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
    """Loads the trained weights a checkpoint holds into ``model`` in place, after checking
    that they can be its: the checkpoint's codec settings are the model's
    (``ResumeMismatchError``), every weight is finite (``NonFiniteWeightError``)."""
    path = Path(directory)
    if not (path / ENCODERS_NAME).is_file():
        raise TrainingError(f"{path} is not a zip2zip training checkpoint (no {ENCODERS_NAME})")
    saved = read_config(path)
    if saved is not None and saved.codec is not None:
        trained = saved.codec.compression_config()
        try:
            check_same_codec(
                trained, model.compression, expected_from=str(path), got_from="this run's model"
            )
        except CodecMismatchError as error:
            raise ResumeMismatchError(f"{error}; {START_AFRESH}") from None
    adapter: dict[str, Any] | None = None
    if is_peft(model.base_model):
        if not (path / ADAPTER_CONFIG_NAME).is_file():
            raise TrainingError(f"{path} holds no adapter but the model has one")
        adapter = read_weights(path / ADAPTER_WEIGHTS_NAME)
        _require_fitting_adapter(model, adapter, path / ADAPTER_WEIGHTS_NAME)
    base: dict[str, Any] = {}
    if adapter is None and base_is_trained(model):
        folder = path / BASE_SUBFOLDER if (path / BASE_SUBFOLDER).is_dir() else path
        for file in sorted(folder.glob("model*.safetensors")):
            base |= read_weights(file)
        if not base:
            raise TrainingError(f"{path} holds no base model weights but they were training")
    # Every file is read and checked before the first weight of the live model changes.
    _load_encoders(model, path / ENCODERS_NAME)
    if adapter is not None:
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model.base_model, adapter)
    elif base:
        result = model.base_model.load_state_dict(base, strict=False)
        if result.unexpected_keys:
            raise TrainingError(f"{path}: unexpected base weights {result.unexpected_keys[:5]}")


def _require_fitting_adapter(model: Any, adapter: dict[str, Any], path: Path) -> None:
    """``ResumeMismatchError`` naming the first adapter tensor of ``path`` whose shape is not
    the live adapter's (another rank or other target modules)."""
    from peft import get_peft_model_state_dict

    expected = get_peft_model_state_dict(model.base_model)
    for name, tensor in expected.items():
        got = adapter.get(name)
        if got is None or tuple(got.shape) != tuple(tensor.shape):
            found = "missing" if got is None else f"of shape {tuple(got.shape)}"
            raise ResumeMismatchError(
                f"{path} holds another adapter than this run's model: {name} is {found}, this "
                f"run's is of shape {tuple(tensor.shape)} (another --lora-r or --lora-targets); "
                f"{START_AFRESH}"
            )
