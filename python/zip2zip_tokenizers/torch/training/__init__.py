"""Uptraining: teach a ``Zip2ZipForCausalLM`` to read and write hypertokens with transformers'
``Trainer`` (DDP/FSDP via ``torchrun`` or ``accelerate launch``, accumulation, bf16, gradient
checkpointing, checkpoints and resume, loggers and callbacks all come from it).

- ``Zip2ZipTrainingArguments``: ``TrainingArguments`` with the zip2zip++ v0.6.4 defaults;
- ``Zip2ZipRecipe``: codec, encoders, positions and adapter of a run, and the model built;
- datasets: ``WindowDataset`` (``from_shards``), ``text_dataset``,
  ``file_dataset``, ``chat_dataset``; ``Zip2ZipCollator``;
- ``Zip2ZipTrainer``; ``run.train``: the whole run, as ``zip2zip-tokenizers train`` does it
  (killed at any moment, the same command resumes; see ``resumable.py``).
"""

from __future__ import annotations

from zip2zip_tokenizers.output_lock import OutputInUseError
from zip2zip_tokenizers.torch.training.arguments import Zip2ZipTrainingArguments
from zip2zip_tokenizers.torch.training.chat import chat_dataset
from zip2zip_tokenizers.torch.training.codec import check_codec
from zip2zip_tokenizers.torch.training.collator import Zip2ZipCollator
from zip2zip_tokenizers.torch.training.errors import (
    CheckpointWriteError,
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
    "CheckpointWriteError",
    "CodecMismatchError",
    "EmptyDataError",
    "InvalidTrainingArgumentError",
    "NonFiniteLossError",
    "OutputInUseError",
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
