"""``zip2zip-tokenizers train``: its flags (defined without importing torch, so the other commands
stay fast) and the run (``zip2zip_tokenizers.torch.training.run.train``).

Every recipe default is a flag; ``torchrun --nproc-per-node N -m zip2zip_tokenizers train ...``
or ``accelerate launch -m zip2zip_tokenizers train ...`` runs the same on N processes.
"""

from __future__ import annotations

import argparse
from collections.abc import Collection
from typing import Any

from zip2zip_tokenizers.codec_flags import CODEC_FLAGS, add_codec_arguments
from zip2zip_tokenizers.settings import (
    DEFAULT_DISABLE_DIGITS,
    DEFAULT_EVICTION,
    DEFAULT_MAX_CODEBOOK_SIZE,
    DEFAULT_MAX_SUBTOKENS,
)

#: The hyper-encoders ``train --encoder`` and ``eval --encoder`` (a base model) can build.
TRAINABLE_ENCODER_KINDS = ("transformer", "mlp", "mean")


# The model settings a trained model fixes; given on purpose, even at its default, a flag must
# agree with the trained model's own setting (``TrainedModel.check_given``). Not --lora-targets:
# its default, all-linear, is saved expanded into module names, so it would never agree.
MODEL_FLAGS = (
    "encoder",
    "encoder_layers",
    "encoder_hidden_size",
    "input_residual",
    "tie_encoders",
    "position_mode",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
)


def add_train(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "train",
        help="uptrain a Hugging Face causal LM to read and write hypertokens (LoRA + encoders)",
        description="Trains a base model directory on preprocessed shards, raw text files "
        "(.txt, .jsonl[.gz|.zst], .parquet) or chat files (JSONL records with 'messages'; loss "
        "on assistant turns) with transformers' Trainer, by default the zip2zip++ v0.6.4 recipe "
        "with an MLP encoder whose input side starts from the last base token "
        "(docs/training.md). "
        "Running the same command again resumes from the last checkpoint in --output.",
    )
    parser.add_argument("--model", required=True, help="a local HF causal LM directory")
    parser.add_argument("--data", required=True, nargs="+", help="shards dir, files or globs")
    parser.add_argument("--output", required=True, help="checkpoints and the final model")
    data = parser.add_argument_group("data (raw text and chat)")
    data.add_argument("--window", type=int, default=1024, help="ids per training window")
    data.add_argument("--text-field", default="text", help="JSON field / Parquet column")
    data.add_argument(
        "--strict", action="store_true", help="stop at the first bad record (default: skip it)"
    )
    codec = parser.add_argument_group(
        "codec (a zip2zip_config.json in --model wins unless a flag is given)"
    )
    add_codec_arguments(codec)
    model = parser.add_argument_group("model")
    model.add_argument("--encoder", choices=TRAINABLE_ENCODER_KINDS, default="mlp")
    model.add_argument(
        "--encoder-layers", type=int, default=2, help="transformer layers, or MLP hidden layers"
    )
    model.add_argument("--encoder-hidden-size", type=int, help="default: the model's width")
    model.add_argument(
        "--input-residual",
        choices=("first", "last"),
        help="the base token a fresh input encoder maps each hypertoken to (default: last; "
        "first with --tie-encoders or --encoder mean)",
    )
    model.add_argument("--tie-encoders", action="store_true", help="one encoder for both sides")
    model.add_argument(
        "--position-mode", choices=("base_token_end", "sequential"), default="base_token_end"
    )
    model.add_argument("--lora-r", type=int, default=32, help="0: full fine-tuning")
    model.add_argument("--lora-alpha", type=int, default=32)
    model.add_argument("--lora-dropout", type=float, default=0.0)
    model.add_argument(
        "--lora-targets", nargs="+", default=["all-linear"], help="module names or all-linear"
    )
    model.add_argument("--token-type-loss-weight", type=float, default=0.05, help="0: no head")
    model.add_argument("--bf16", action="store_true", help="bf16 mixed precision")
    model.add_argument("--gradient-checkpointing", action="store_true")
    optim = parser.add_argument_group("optimisation (transformers TrainingArguments)")
    optim.add_argument("--max-steps", type=int, default=-1, help="default: --epochs")
    optim.add_argument("--epochs", type=float, default=1.0)
    optim.add_argument("--batch-size", type=int, default=8, help="windows per device and step")
    optim.add_argument("--gradient-accumulation", type=int, default=1)
    optim.add_argument("--lr", type=float, default=3e-4)
    optim.add_argument("--min-lr", type=float, default=1e-5, help="end of the cosine decay")
    optim.add_argument("--encoder-lr", type=float, help="default: 3 x --lr")
    optim.add_argument("--warmup", type=float, default=0.1, help="steps, or a ratio < 1")
    optim.add_argument(
        "--encoder-warmup", type=int, help="warm-up steps of --encoder-lr (default: --warmup)"
    )
    optim.add_argument("--weight-decay", type=float, default=0.01)
    optim.add_argument("--max-grad-norm", type=float, default=1.0)
    optim.add_argument("--seed", type=int, default=0)
    views = parser.add_argument_group("window views (recipe variants; 0: off)")
    views.add_argument(
        "--segmentation-sampling",
        type=float,
        default=0.0,
        help="share of windows re-segmented off their greedy path",
    )
    views.add_argument(
        "--segmentation-dropout",
        type=float,
        default=0.1,
        help="per-position probability that a re-segmented window leaves its greedy path",
    )
    views.add_argument(
        "--segmentation-targets",
        choices=["own", "greedy"],
        default="own",
        help="what a re-segmented window is trained to write: its own ids, or at each position "
        "the longest piece there (what greedy encoding writes)",
    )
    views.add_argument(
        "--uncompressed-share",
        type=float,
        default=0.0,
        help="share of windows trained as base ids only (C = 0)",
    )
    runs = parser.add_argument_group("logging and checkpoints")
    runs.add_argument("--logging-steps", type=int, default=10)
    runs.add_argument("--save-steps", type=int, default=500)
    runs.add_argument(
        "--save-total-limit", type=int, default=2, help="checkpoints kept (0: every one)"
    )
    runs.add_argument("--report-to", default="none", help="tensorboard, wandb, ... or none")
    runs.add_argument("--no-resume", action="store_true", help="start afresh in --output")


def checkpointing_argument(enabled: bool) -> dict[str, Any]:
    """``TrainingArguments``' activation checkpointing switch under its name in the installed
    transformers (``activation_checkpointing`` since 5.x; ``gradient_checkpointing`` before, now
    a deprecated alias)."""
    from transformers import TrainingArguments

    fields = TrainingArguments.__dataclass_fields__
    return {
        "activation_checkpointing"
        if "activation_checkpointing" in fields
        else "gradient_checkpointing": enabled
    }


def run_train(args: argparse.Namespace, given: Collection[str] = frozenset()) -> int:
    """``train``; ``given`` names the options written on its command line
    (``cli.given_options``)."""
    import torch

    from zip2zip_tokenizers.torch.training import Zip2ZipRecipe, Zip2ZipTrainingArguments
    from zip2zip_tokenizers.torch.training.run import train

    explicit = [name for name in CODEC_FLAGS if getattr(args, name) is not None]
    explicit_model = [name for name in MODEL_FLAGS if name in given]
    recipe = Zip2ZipRecipe(
        max_codebook_size=(
            DEFAULT_MAX_CODEBOOK_SIZE if args.max_codebook_size is None else args.max_codebook_size
        ),
        max_subtokens=(DEFAULT_MAX_SUBTOKENS if args.max_subtokens is None else args.max_subtokens),
        disable_digits=(
            DEFAULT_DISABLE_DIGITS if args.disable_digits is None else args.disable_digits
        ),
        eviction=DEFAULT_EVICTION if args.eviction is None else args.eviction,
        encoder=args.encoder,
        encoder_layers=args.encoder_layers,
        encoder_hidden_size=args.encoder_hidden_size,
        input_residual=args.input_residual,
        tie_encoders=args.tie_encoders,
        position_mode=args.position_mode,
        token_type_head=args.token_type_loss_weight > 0,
        lora_r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        lora_targets=(
            args.lora_targets[0] if args.lora_targets == ["all-linear"] else args.lora_targets
        ),
    )
    training = Zip2ZipTrainingArguments(
        output_dir=args.output,
        max_steps=args.max_steps,
        num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=args.gradient_accumulation,
        learning_rate=args.lr,
        lr_scheduler_kwargs={"min_lr_rate": args.min_lr / args.lr if args.lr else 0.0},
        encoder_learning_rate=args.encoder_lr,
        warmup_steps=args.warmup,
        encoder_warmup_steps=args.encoder_warmup,
        weight_decay=args.weight_decay,
        max_grad_norm=args.max_grad_norm,
        token_type_loss_weight=args.token_type_loss_weight,
        segmentation_sampling=args.segmentation_sampling,
        segmentation_dropout=args.segmentation_dropout,
        segmentation_targets=args.segmentation_targets,
        uncompressed_share=args.uncompressed_share,
        bf16=args.bf16,
        logging_steps=args.logging_steps,
        save_steps=args.save_steps,
        save_total_limit=args.save_total_limit,
        report_to=args.report_to,
        seed=args.seed,
        use_cpu=not torch.cuda.is_available(),
        **checkpointing_argument(args.gradient_checkpointing),
    )
    model_kwargs: dict[str, Any] = {"dtype": torch.float32}
    outcome = train(
        args.model,
        args.data,
        training,
        recipe,
        window=args.window,
        text_field=args.text_field,
        strict=args.strict,
        resume=not args.no_resume,
        model_kwargs=model_kwargs,
        explicit_codec=explicit,
        explicit_model=explicit_model,
    )
    if training.process_index == 0:
        steps = outcome.state.global_step
        if outcome.already_finished:
            print(
                f"already finished: {args.output} holds the model of this run, trained {steps} "
                "steps; nothing was trained or written (--no-resume trains it again)"
            )
        else:
            print(f"trained {steps} steps; model saved in {args.output}")
    return 0
