"""A model and its tokenizer for evaluation: a zip2zip checkpoint, or a plain base model
directory wrapped with codec settings given by the caller; their codec settings must agree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from zip2zip_tokenizers._core import CompressionConfig
from zip2zip_tokenizers.settings import CONFIG_NAME, check_same_codec
from zip2zip_tokenizers.tokenizer import Zip2ZipTokenizer
from zip2zip_tokenizers.torch.checkpoint import require_base_model
from zip2zip_tokenizers.torch.encoders import HyperEncoderConfig
from zip2zip_tokenizers.torch.errors import ModelMismatchError
from zip2zip_tokenizers.torch.evaluation.errors import EvaluationError
from zip2zip_tokenizers.torch.model import PositionMode, Zip2ZipForCausalLM

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model")


def check_codec(model: CompressionConfig, tokenizer: CompressionConfig) -> None:
    """Raises ``CodecMismatchError`` naming every codec
    setting in which the model (checkpoint) and the tokenizer differ."""
    check_same_codec(model, tokenizer, expected_from="the checkpoint", got_from="the tokenizer")


def _has_tokenizer(directory: Path) -> bool:
    return any((directory / name).is_file() for name in TOKENIZER_FILES)


def usable_device(name: str | torch.device) -> torch.device:
    """The device ``name`` when a model can be evaluated there; ``EvaluationError`` naming it
    when it is no device name, ``meta`` (tensors without data), or a device this machine does
    not have (no CUDA, an index past the last GPU)."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as error:
        raise EvaluationError(f"device {str(name)!r} is not a torch device ({error})") from None
    if device.type == "meta":
        raise EvaluationError("device 'meta' holds no data: a model can not be evaluated there")
    count = torch.cuda.device_count() if device.type == "cuda" else 0
    if count and device.index is not None and device.index >= count:
        raise EvaluationError(f"device {str(name)!r}: this machine has {count} CUDA devices")
    try:
        torch.empty(1, device=device)
    except (RuntimeError, AssertionError) as error:  # no driver; torch built without CUDA
        raise EvaluationError(f"device {str(name)!r} is not usable here ({error})") from None
    return device


def load_for_eval(
    model_dir: str | Path,
    *,
    tokenizer_dir: str | Path | None = None,
    max_codebook_size: int | None = None,
    max_subtokens: int | None = None,
    disable_digits: bool | None = None,
    eviction: str | None = None,
    encoder: HyperEncoderConfig | None = None,
    position_mode: PositionMode = "sequential",
    dtype: torch.dtype = torch.float32,
    device: str | torch.device | None = None,
) -> tuple[Zip2ZipForCausalLM, Zip2ZipTokenizer]:
    """Loads ``model_dir``: a checkpoint (it has ``zip2zip_config.json``; the codec and encoder
    settings are the checkpoint's) or a base HF model directory (wrapped with fresh encoders,
    ``encoder`` default mean, and the codec settings given here). The tokenizer comes from
    ``tokenizer_dir``, else the model directory, else the checkpoint's base model; a tokenizer
    with codec settings of its own must agree with the checkpoint's."""
    directory = Path(model_dir)
    if not directory.is_dir():
        raise FileNotFoundError(f"no model directory at {str(directory)!r}")
    if device is not None:
        device = usable_device(device)
    kwargs: dict[str, Any] = {"dtype": dtype}
    if (directory / CONFIG_NAME).is_file():
        model = Zip2ZipForCausalLM.from_pretrained(directory, **kwargs)
        source = Path(tokenizer_dir) if tokenizer_dir else directory
        if not _has_tokenizer(source) and model.base_model_name_or_path:
            source = directory / model.base_model_name_or_path
            if not source.is_dir():
                source = Path(model.base_model_name_or_path)
        codec = model.compression
        if (source / CONFIG_NAME).is_file() and _has_tokenizer(source):
            tokenizer = Zip2ZipTokenizer.from_pretrained(source)
        else:
            tokenizer = Zip2ZipTokenizer.from_pretrained(
                source,
                max_codebook_size=codec.max_codebook_size,
                max_subtokens=codec.max_subtokens,
                initial_vocab_size=codec.initial_vocab_size,
                disable_digits=disable_digits,
                eviction=codec.eviction,
            )
        check_codec(codec, tokenizer.config)
    else:
        from transformers import AutoModelForCausalLM

        if not (directory / "config.json").is_file():
            raise ModelMismatchError(
                f"{str(directory)!r} is neither a zip2zip checkpoint (no {CONFIG_NAME}) nor a "
                "Hugging Face model directory (no config.json)"
            )
        require_base_model(str(directory), "the model to evaluate")
        base: Any = AutoModelForCausalLM.from_pretrained(str(directory), **kwargs)
        rows = int(base.get_input_embeddings().weight.shape[0])
        tokenizer = Zip2ZipTokenizer.from_pretrained(
            Path(tokenizer_dir) if tokenizer_dir else directory,
            max_codebook_size=max_codebook_size,
            max_subtokens=max_subtokens,
            disable_digits=disable_digits,
            initial_vocab_size=rows,
            eviction=eviction,
        )
        model = Zip2ZipForCausalLM.from_base(
            base,
            tokenizer.config,
            encoder or HyperEncoderConfig(kind="mean"),
            position_mode=position_mode,
        )
        model.base_model_name_or_path = str(directory)
    if device is not None:
        model.to(device)
    return model.eval(), tokenizer
