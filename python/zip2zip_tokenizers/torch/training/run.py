"""A whole uptraining run, as ``zip2zip-tokenizers train`` does it: tokenizer and model from a
base model directory (or a model ``train`` saved), training data from shards, raw text or chat
files, the run's record, the Trainer, a resume from the output directory's last checkpoint when
the record says it is the same run, and the final model saved there."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from zip2zip_tokenizers.settings import config_path
from zip2zip_tokenizers.tokenizer import Zip2ZipTokenizer
from zip2zip_tokenizers.torch.training.arguments import Zip2ZipTrainingArguments
from zip2zip_tokenizers.torch.training.chat import chat_dataset, is_chat_file, read_conversations
from zip2zip_tokenizers.torch.training.continuing import TrainedModel, is_trained_model
from zip2zip_tokenizers.torch.training.recipe import Zip2ZipRecipe
from zip2zip_tokenizers.torch.training.run_record import (
    WriteRunRecord,
    check_same_run,
    run_record,
)
from zip2zip_tokenizers.torch.training.text_data import file_dataset
from zip2zip_tokenizers.torch.training.trainer import Zip2ZipTrainer
from zip2zip_tokenizers.torch.training.windows import WindowDataset

MANIFEST = "manifest.json"


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
) -> WindowDataset:
    """A ``preprocess`` output directory (shards), chat files (JSONL records with
    ``messages``), or raw text files (``.txt``, ``.jsonl[.gz|.zst]``, ``.parquet``)."""
    kind = data_format(paths)
    if kind == "shards":
        return WindowDataset.from_shards(paths[0])
    if kind == "chat":
        return chat_dataset(
            read_conversations(paths),
            tokenizer,
            window=window,
            source=f"the conversations of {', '.join(paths)}",
        )
    return file_dataset(paths, tokenizer, window=window, text_field=text_field)


def train(
    model_dir: str,
    data: Sequence[str],
    args: Zip2ZipTrainingArguments,
    recipe: Zip2ZipRecipe | None = None,
    *,
    window: int = 1024,
    text_field: str = "text",
    resume: bool = True,
    model_kwargs: dict[str, Any] | None = None,
    explicit_codec: Sequence[str] = (),
) -> Zip2ZipTrainer:
    """Trains and saves to ``args.output_dir``; run again with the same arguments after an
    interruption, it continues from the last checkpoint there (``resume``), and refuses
    (``ResumeMismatchError``) settings that would change what that run is (see
    :mod:`~zip2zip_tokenizers.torch.training.run_record`). ``model_dir`` is a base model
    directory, or a model ``train`` saved, which then trains further from its own weights and
    settings (:mod:`~zip2zip_tokenizers.torch.training.continuing`). A ``zip2zip_config.json``
    in ``model_dir`` fixes the codec settings, except those named in ``explicit_codec``."""
    from transformers import set_seed
    from transformers.trainer_utils import get_last_checkpoint

    recipe = recipe or Zip2ZipRecipe()
    trained = TrainedModel.read(model_dir) if is_trained_model(model_dir) else None
    if trained is None:
        tokenizer = recipe.tokenizer(model_dir, explicit=explicit_codec)
        settings, base = recipe.model_settings(), model_dir
    else:
        trained.check_given(recipe, explicit_codec)
        tokenizer = recipe.tokenizer(model_dir)
        settings, base = trained.run_settings(recipe), trained.base_model
    kind = data_format(data)
    record = run_record(
        tokenizer.config,
        settings,
        base_model=base,
        start_model=None if trained is None else model_dir,
        data=list(data),
        data_format=kind,
        text_field=text_field,
        window=window,
        args=args,
    )
    output = str(args.output_dir)
    last = None
    if resume and os.path.isdir(output):
        last = get_last_checkpoint(output)  # type: ignore[no-untyped-call]
        check_same_run(record, output, last)
    # The first process of each machine builds the shards' window cache; the others then map it.
    with args.main_process_first(local=True, desc="loading the training data"):
        dataset = load_training_data(data, tokenizer, window=window, text_field=text_field)
    dataset.check_codec(tokenizer.config, model_source=_codec_source(model_dir, explicit_codec))
    # The Trainer seeds only once the model exists: without this, the fresh encoders and adapter
    # would differ between runs with the same seed, and between processes (which FSDP shards).
    set_seed(args.seed)
    if trained is None:
        model = recipe.build(model_dir, tokenizer, **(model_kwargs or {}))
    else:
        model = trained.load(**(model_kwargs or {}))
    if not settings["token_type_head"]:
        args.token_type_loss_weight = 0.0
    trainer = Zip2ZipTrainer(
        model=model, args=args, train_dataset=dataset, processing_class=tokenizer
    )
    trainer.run_record = record  # a copy in every checkpoint
    trainer.add_callback(WriteRunRecord(record, output))
    trainer.train(resume_from_checkpoint=last)
    trainer.save_model(output)
    return trainer


def _codec_source(model_dir: str, explicit_codec: Sequence[str]) -> str:
    """Where the model's codec settings come from, for a mismatch message (only files that
    exist are named)."""
    saved = config_path(model_dir)
    if not saved.is_file():
        return "the codec settings of train (its flags and defaults)"
    return f"{saved}" + (f" with {', '.join(explicit_codec)} given" if explicit_codec else "")
