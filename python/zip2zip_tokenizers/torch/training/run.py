"""A whole uptraining run, as ``zip2zip-tokenizers train`` does it: tokenizer and model from a
base model directory (or a model ``train`` saved), training data from shards, raw text or chat
files, the run's record, the Trainer, a resume from the output directory's newest intact
checkpoint when the record says it is the same run, and the final model saved there; all of it
under the output directory's lock, and nothing done for a run that is already finished."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zip2zip_tokenizers.output_lock import output_lock
from zip2zip_tokenizers.settings import config_path
from zip2zip_tokenizers.tokenizer import Zip2ZipTokenizer
from zip2zip_tokenizers.torch.checkpoint import require_base_model
from zip2zip_tokenizers.torch.training.arguments import Zip2ZipTrainingArguments
from zip2zip_tokenizers.torch.training.chat import chat_file_dataset, is_chat_file
from zip2zip_tokenizers.torch.training.continuing import TrainedModel, is_trained_model
from zip2zip_tokenizers.torch.training.previous_run import set_aside_previous_run
from zip2zip_tokenizers.torch.training.recipe import Zip2ZipRecipe
from zip2zip_tokenizers.torch.training.resume import finished_state, newest_intact_checkpoint
from zip2zip_tokenizers.torch.training.run_record import (
    RunRecord,
    WriteRunRecord,
    check_same_run,
    run_record,
)
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


def data_format(paths: Sequence[str]) -> str:
    """``"shards"`` (a ``preprocess`` output directory), ``"chat"`` or ``"text"``."""
    if len(paths) == 1 and os.path.isfile(os.path.join(paths[0], MANIFEST)):
        return "shards"
    return "chat" if is_chat_file(paths[0]) else "text"


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
    kind = data_format(paths)
    if kind == "shards":
        return WindowDataset.from_shards(paths[0])
    if kind == "chat":
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
    explicit_model: Sequence[str] = (),
) -> TrainOutcome:
    """Trains and saves to ``args.output_dir``; run again with the same arguments after an
    interruption, it continues from the newest intact checkpoint there (``resume``), refuses
    (``ResumeMismatchError``) settings that would change what that run is (see
    ``zip2zip_tokenizers.torch.training.run_record``), and after a finished run it does
    nothing. ``model_dir`` is a base model directory, or a model ``train`` saved, which then
    trains further from its own weights and settings
    (``zip2zip_tokenizers.torch.training.continuing``). A ``zip2zip_config.json`` in
    ``model_dir`` fixes the codec settings, except those named in ``explicit_codec``. A trained
    ``model_dir`` refuses a recipe setting that differs from its own where the setting is not
    the recipe's default or is named in ``explicit_model`` (given on purpose). With
    ``resume=False`` a run already in the output moves into ``previous-runs/`` first
    (``zip2zip_tokenizers.torch.training.previous_run``). The saving process holds the output
    directory's lock throughout (another run there raises ``OutputInUseError``)."""
    output = str(args.output_dir)
    lock: AbstractContextManager[None] = output_lock(output) if args.should_save else nullcontext()
    with lock:
        if args.should_save:
            removed = remove_leftovers(output)
            if removed:
                logger.warning("%s: removed what an interrupted save left: %s", output, removed)
        start = _start(
            model_dir, data, args, recipe, window, text_field, explicit_codec, explicit_model
        )
        last = None
        if resume:
            last = newest_intact_checkpoint(output)
            # Before a finished run is reported as done: a rerun asking for another run is not.
            check_same_run(start.record, output, last)
            state = finished_state(output, args)
            if state is not None:
                return TrainOutcome(state, None)
        elif args.should_save:
            previous = set_aside_previous_run(output)
            if previous is not None:
                logger.warning(
                    "%s: a fresh run; the previous run's files moved to %s", output, previous
                )
        trainer = _train(
            start,
            data,
            args,
            window=window,
            text_field=text_field,
            strict=strict,
            last=last,
            model_kwargs=model_kwargs,
        )
        return TrainOutcome(trainer.state, trainer)


@dataclass(frozen=True)
class _Start:
    """What a run starts from: the model directory, the trained model there (``None``: a base
    model), the recipe, the tokenizer, and the run's record."""

    model_dir: str
    trained: TrainedModel | None
    recipe: Zip2ZipRecipe
    tokenizer: Zip2ZipTokenizer
    record: RunRecord
    codec_source: str


def _start(
    model_dir: str,
    data: Sequence[str],
    args: Zip2ZipTrainingArguments,
    recipe: Zip2ZipRecipe | None,
    window: int,
    text_field: str,
    explicit_codec: Sequence[str],
    explicit_model: Sequence[str],
) -> _Start:
    recipe = recipe or Zip2ZipRecipe()
    trained = TrainedModel.read(model_dir) if is_trained_model(model_dir) else None
    if trained is None:
        require_base_model(model_dir, "the model to train")  # before the data is read
        tokenizer = recipe.tokenizer(model_dir, explicit=explicit_codec)
        settings, base = recipe.model_settings(), model_dir
    else:
        trained.check_given(recipe, explicit_codec, explicit_model)
        tokenizer = recipe.tokenizer(model_dir)
        settings, base = trained.run_settings(recipe), trained.base_model
    record = run_record(
        tokenizer.config,
        settings,
        base_model=base,
        start_model=None if trained is None else model_dir,
        data=list(data),
        data_format=data_format(data),
        text_field=text_field,
        window=window,
        args=args,
    )
    source = _codec_source(model_dir, explicit_codec)
    return _Start(model_dir, trained, recipe, tokenizer, record, source)


def _train(
    start: _Start,
    data: Sequence[str],
    args: Zip2ZipTrainingArguments,
    *,
    window: int,
    text_field: str,
    strict: bool,
    last: str | None,
    model_kwargs: dict[str, Any] | None,
) -> Zip2ZipTrainer:
    from transformers import set_seed

    tokenizer = start.tokenizer
    # The first process of each machine builds the shards' window cache; the others then map it.
    with args.main_process_first(local=True, desc="loading the training data"):
        dataset = load_training_data(
            data, tokenizer, window=window, text_field=text_field, strict=strict
        )
    dataset.check_codec(tokenizer.config, model_source=start.codec_source)
    # The Trainer seeds only once the model exists: without this, the fresh encoders and adapter
    # would differ between runs with the same seed, and between processes (which FSDP shards).
    set_seed(args.seed)
    if start.trained is None:
        model = start.recipe.build(start.model_dir, tokenizer, **(model_kwargs or {}))
    else:
        model = start.trained.load(**(model_kwargs or {}))
    if not start.record.settings["token_type_head"]:
        args.token_type_loss_weight = 0.0
    trainer = Zip2ZipTrainer(
        model=model, args=args, train_dataset=dataset, processing_class=tokenizer
    )
    output = str(args.output_dir)
    trainer.run_record = start.record  # a copy in every checkpoint
    trainer.add_callback(WriteRunRecord(start.record, output))
    trainer.train(resume_from_checkpoint=last)
    trainer.save_final_model(output)
    return trainer


def _codec_source(model_dir: str, explicit_codec: Sequence[str]) -> str:
    """Where the model's codec settings come from, for a mismatch message (only files that
    exist are named)."""
    saved = config_path(model_dir)
    if not saved.is_file():
        return "the codec settings of train (its flags and defaults)"
    return f"{saved}" + (f" with {', '.join(explicit_codec)} given" if explicit_codec else "")
