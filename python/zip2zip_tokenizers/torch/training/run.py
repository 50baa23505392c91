"""A whole uptraining run, as ``zip2zip-tokenizers train`` does it: tokenizer and model from a
base model directory, training data from shards, raw text or chat files, the Trainer, a resume
from the output directory's newest intact checkpoint, and the final model saved there; all of it
under the output directory's lock, and nothing done for a run that is already finished."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zip2zip_tokenizers.output_lock import output_lock
from zip2zip_tokenizers.tokenizer import Zip2ZipTokenizer
from zip2zip_tokenizers.torch.checkpoint import require_base_model
from zip2zip_tokenizers.torch.training.arguments import Zip2ZipTrainingArguments
from zip2zip_tokenizers.torch.training.chat import chat_file_dataset, is_chat_file
from zip2zip_tokenizers.torch.training.recipe import Zip2ZipRecipe
from zip2zip_tokenizers.torch.training.resume import finished_state, newest_intact_checkpoint
from zip2zip_tokenizers.torch.training.staging import remove_leftovers
from zip2zip_tokenizers.torch.training.text_data import file_dataset
from zip2zip_tokenizers.torch.training.trainer import Zip2ZipTrainer
from zip2zip_tokenizers.torch.training.windows import WindowDataset

if TYPE_CHECKING:
    from transformers import TrainerState

MANIFEST = "manifest.json"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainOutcome:
    """What ``train`` did. ``state``: the run's ``TrainerState`` at its end (steps, log
    history); ``trainer``: the trainer, or ``None`` when the output already held the finished run
    (then nothing was trained or written)."""

    state: TrainerState
    trainer: Zip2ZipTrainer | None

    @property
    def already_finished(self) -> bool:
        return self.trainer is None


def load_training_data(
    paths: Sequence[str],
    tokenizer: Zip2ZipTokenizer,
    *,
    window: int,
    text_field: str = "text",
    strict: bool = False,
) -> WindowDataset:
    """A ``preprocess`` output directory (shards), chat files (JSONL records with
    ``messages``), or raw text files (``.txt``, ``.jsonl[.gz|.zst]``, ``.parquet``). Bad
    records of raw text and chat files are skipped and logged with their ``file:line``, or with
    ``strict`` the first one raises ``BadRecordError``."""
    if len(paths) == 1 and os.path.isfile(os.path.join(paths[0], MANIFEST)):
        return WindowDataset.from_shards(paths[0])
    if is_chat_file(paths[0]):
        return chat_file_dataset(paths, tokenizer, window=window, strict=strict)
    return file_dataset(paths, tokenizer, window=window, text_field=text_field, strict=strict)


def train(
    model_dir: str,
    data: Sequence[str],
    args: Zip2ZipTrainingArguments,
    recipe: Zip2ZipRecipe | None = None,
    *,
    window: int = 1024,
    text_field: str = "text",
    strict: bool = False,
    resume: bool = True,
    model_kwargs: dict[str, Any] | None = None,
    explicit_codec: Sequence[str] = (),
) -> TrainOutcome:
    """Trains and saves to ``args.output_dir``; run again with the same arguments after an
    interruption, it continues from the newest intact checkpoint there (``resume``), and after a
    finished run it does nothing. A ``zip2zip_config.json`` in ``model_dir`` fixes the codec
    settings, except those named in ``explicit_codec``. The saving process holds the output
    directory's lock throughout (another run there raises ``OutputInUseError``)."""
    output = str(args.output_dir)
    lock: AbstractContextManager[None] = output_lock(output) if args.should_save else nullcontext()
    with lock:
        if args.should_save:
            removed = remove_leftovers(output)
            if removed:
                logger.warning("%s: removed what an interrupted save left: %s", output, removed)
        if resume:
            state = finished_state(output, args)
            if state is not None:
                return TrainOutcome(state, None)
        trainer = _train(
            model_dir,
            data,
            args,
            recipe,
            window=window,
            text_field=text_field,
            strict=strict,
            resume=resume,
            model_kwargs=model_kwargs,
            explicit_codec=explicit_codec,
        )
        return TrainOutcome(trainer.state, trainer)


def _train(
    model_dir: str,
    data: Sequence[str],
    args: Zip2ZipTrainingArguments,
    recipe: Zip2ZipRecipe | None,
    *,
    window: int,
    text_field: str,
    strict: bool,
    resume: bool,
    model_kwargs: dict[str, Any] | None,
    explicit_codec: Sequence[str],
) -> Zip2ZipTrainer:
    from transformers import set_seed

    recipe = recipe or Zip2ZipRecipe()
    require_base_model(model_dir, "the model to train")  # before the data is read
    tokenizer = recipe.tokenizer(model_dir, explicit=explicit_codec)
    # The first process of each machine builds the shards' window cache; the others then map it.
    with args.main_process_first(local=True, desc="loading the training data"):
        dataset = load_training_data(
            data, tokenizer, window=window, text_field=text_field, strict=strict
        )
    dataset.check_codec(tokenizer.config)
    # The Trainer seeds only once the model exists: without this, the fresh encoders and adapter
    # would differ between runs with the same seed, and between processes (which FSDP shards).
    set_seed(args.seed)
    model = recipe.build(model_dir, tokenizer, **(model_kwargs or {}))
    if not recipe.token_type_head:
        args.token_type_loss_weight = 0.0
    trainer = Zip2ZipTrainer(
        model=model, args=args, train_dataset=dataset, processing_class=tokenizer
    )
    output = str(args.output_dir)
    last = newest_intact_checkpoint(output) if resume else None
    trainer.train(resume_from_checkpoint=last)
    trainer.save_final_model(output)
    return trainer
