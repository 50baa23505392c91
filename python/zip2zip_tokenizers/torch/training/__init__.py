"""Uptraining: teach a ``Zip2ZipForCausalLM`` to read and write hypertokens with transformers'
``Trainer`` (DDP/FSDP via ``torchrun`` or ``accelerate launch``, accumulation, bf16, gradient
checkpointing, checkpoints and resume, loggers and callbacks all come from it).

- :class:`Zip2ZipTrainingArguments`: ``TrainingArguments`` with the zip2zip++ v0.6.4 defaults;
- :class:`Zip2ZipRecipe`: codec, encoders, positions and adapter of a run, and the model built;
- datasets: :class:`WindowDataset` (``from_shards``), :func:`text_dataset`,
  :func:`file_dataset`, :func:`chat_dataset`; :class:`Zip2ZipCollator`;
- :class:`Zip2ZipTrainer`; :func:`train`: the whole run, as ``zip2zip-tokenizers train`` does it.
"""

from __future__ import annotations

from zip2zip_tokenizers.torch.training.arguments import Zip2ZipTrainingArguments
from zip2zip_tokenizers.torch.training.chat import chat_dataset
from zip2zip_tokenizers.torch.training.codec import check_codec
from zip2zip_tokenizers.torch.training.collator import Zip2ZipCollator
from zip2zip_tokenizers.torch.training.errors import (
    CodecMismatchError,
    EmptyDataError,
    InvalidTrainingArgumentError,
    NonFiniteLossError,
    ResumeMismatchError,
    TrainingError,
)
from zip2zip_tokenizers.torch.training.recipe import Zip2ZipRecipe
from zip2zip_tokenizers.torch.training.text_data import file_dataset, text_dataset
from zip2zip_tokenizers.torch.training.trainer import Zip2ZipTrainer
from zip2zip_tokenizers.torch.training.windows import WindowDataset

__all__ = [
    "CodecMismatchError",
    "EmptyDataError",
    "InvalidTrainingArgumentError",
    "NonFiniteLossError",
    "ResumeMismatchError",
    "TrainingError",
    "WindowDataset",
    "Zip2ZipCollator",
    "Zip2ZipRecipe",
    "Zip2ZipTrainer",
    "Zip2ZipTrainingArguments",
    "chat_dataset",
    "check_codec",
    "file_dataset",
    "text_dataset",
]
