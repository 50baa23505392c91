"""Training arguments: transformers' ``TrainingArguments`` with the zip2zip++ v0.6.4 defaults and
the knobs it adds (a separate encoder learning rate and warm-up, the token-type loss weight).

The defaults are the authors' released fine-tuning recipe (``scripts/finetune_phi35_rcp.sh`` and
``docs/finetuning.md`` of epfl-dlab/zip2zip-plus-plus, recipe v0.6.4): AdamW, learning rate 3e-4
decaying by cosine to 1e-5 (``min_lr_rate`` 1/30) after a linear warmup over 10 % of the steps,
weight decay 0.01, betas (0.9, 0.999), gradient clipping at norm 1.0, and a token-type auxiliary
loss of weight 0.05. One default is ours: the encoders and the token-type head learn at 3 x the
model's rate unless ``encoder_learning_rate`` says otherwise (the authors use the same rate; 3 x
won at both sizes of the small-scale bench, docs/small-scale-evidence.md). Every one of them is an
ordinary field, so a command-line flag or a keyword changes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from transformers import SchedulerType, TrainingArguments

from zip2zip_tokenizers.torch.training.errors import InvalidTrainingArgumentError
from zip2zip_tokenizers.torch.training.window_views import (
    DEFAULT_SEGMENTATION_DROPOUT,
    SEGMENTATION_TARGETS,
    SegmentationTargets,
)

RECIPE_LEARNING_RATE = 3e-4
RECIPE_MIN_LEARNING_RATE = 1e-5
RECIPE_WARMUP = 0.1
RECIPE_WEIGHT_DECAY = 0.01
RECIPE_MAX_GRAD_NORM = 1.0
RECIPE_TOKEN_TYPE_LOSS_WEIGHT = 0.05
# The encoders' default peak rate as a multiple of learning_rate.
RECIPE_ENCODER_LEARNING_RATE_FACTOR = 3.0


def _cosine_to_min() -> dict[str, Any]:
    return {"min_lr_rate": RECIPE_MIN_LEARNING_RATE / RECIPE_LEARNING_RATE}


@dataclass
class Zip2ZipTrainingArguments(TrainingArguments):
    """``TrainingArguments`` with the recipe's defaults (see the module doc) and:

    - ``encoder_learning_rate``: peak learning rate of the hyper-encoders and the token-type
      head (randomly initialised, unlike the adapted base model); ``None``: 3 x
      ``learning_rate`` (``effective_encoder_learning_rate``).
    - ``encoder_warmup_steps``: optimiser steps over which the learning rate of the encoders and
      the token-type head rises linearly from 0 (the same schedule type, e.g. the cosine decay,
      with its own warm-up); ``None``: ``warmup_steps``, as every other parameter.
    - ``token_type_loss_weight``: weight of the auxiliary "is the next id a hypertoken" loss
      (0 turns it off; it needs a model built with ``token_type_head=True``).
    - ``segmentation_sampling``: share of windows trained on a segmentation drawn from their
      lattice instead of their greedy one, leaving the greedy path at each base position with
      probability ``segmentation_dropout``, trained on their own ids (``segmentation_targets``
      ``"own"``) or to write the longest piece at each position (``"greedy"``);
      ``uncompressed_share``: share of windows trained
      as base ids only, as a model without a codebook reads them (0: off, the recipe;
      ``zip2zip_tokenizers.torch.training.window_views``).
    """

    learning_rate: float = RECIPE_LEARNING_RATE
    # The parent's annotations: HfArgumentParser builds its flags from them.
    lr_scheduler_type: SchedulerType | str = "cosine_with_min_lr"
    lr_scheduler_kwargs: dict | str | None = field(default_factory=_cosine_to_min)  # type: ignore[type-arg]
    warmup_steps: float = RECIPE_WARMUP
    weight_decay: float = RECIPE_WEIGHT_DECAY
    max_grad_norm: float = RECIPE_MAX_GRAD_NORM
    logging_steps: float = 10
    # The collator reads columns the model's forward does not take (loss_mask, num_base_tokens).
    remove_unused_columns: bool = False
    report_to: None | str | list[str] = "none"  # noqa: RUF036 (the parent's order: HfArgumentParser reads it)
    encoder_learning_rate: float | None = field(
        default=None,
        metadata={"help": "Peak learning rate of the hyper-encoders (default: 3 x learning_rate)."},
    )
    encoder_warmup_steps: int | None = field(
        default=None,
        metadata={"help": "Warm-up steps of the encoders' learning rate (default: warmup_steps)."},
    )
    token_type_loss_weight: float = field(
        default=RECIPE_TOKEN_TYPE_LOSS_WEIGHT,
        metadata={"help": "Weight of the next-id-is-a-hypertoken auxiliary loss (0: off)."},
    )

    segmentation_sampling: float = field(
        default=0.0,
        metadata={"help": "Share of windows re-segmented off their greedy path (0: off)."},
    )
    segmentation_dropout: float = field(
        default=DEFAULT_SEGMENTATION_DROPOUT,
        metadata={"help": "Per-position probability that a re-segmented window leaves it."},
    )
    uncompressed_share: float = field(
        default=0.0,
        metadata={"help": "Share of windows trained as base ids only, C = 0 (0: off)."},
    )
    segmentation_targets: SegmentationTargets = field(
        default="own",
        metadata={
            "help": "Targets of re-segmented windows: 'own' (their ids) or 'greedy' (the longest "
            "piece at each position)."
        },
    )

    def __post_init__(self) -> None:
        try:
            super().__post_init__()  # type: ignore[no-untyped-call]
        except ValueError as error:  # transformers' own message names the argument
            raise InvalidTrainingArgumentError(str(error)) from None
        rates = [
            ("learning_rate", self.learning_rate),
            ("token_type_loss_weight", self.token_type_loss_weight),
            ("encoder_learning_rate", self.encoder_learning_rate),
        ]
        for name, value in rates:
            if value is not None and not 0 <= value < math.inf:
                raise InvalidTrainingArgumentError(f"{name} must be >= 0 and finite, got {value}")
        warmup = self.encoder_warmup_steps
        if warmup is not None and (isinstance(warmup, bool) or not isinstance(warmup, int)):
            raise InvalidTrainingArgumentError(
                f"encoder_warmup_steps must be a whole number of steps or None, got {warmup!r}"
            )
        if warmup is not None and warmup < 0:
            raise InvalidTrainingArgumentError(f"encoder_warmup_steps must be >= 0, got {warmup}")
        shares = [
            ("segmentation_sampling", self.segmentation_sampling),
            ("segmentation_dropout", self.segmentation_dropout),
            ("uncompressed_share", self.uncompressed_share),
        ]
        for name, value in shares:
            if not 0 <= value <= 1:
                raise InvalidTrainingArgumentError(f"{name} must be in [0, 1], got {value}")
        if self.segmentation_targets not in SEGMENTATION_TARGETS:
            raise InvalidTrainingArgumentError(
                f"segmentation_targets must be one of {SEGMENTATION_TARGETS}, got "
                f"{self.segmentation_targets!r}"
            )
        if self.segmentation_sampling + self.uncompressed_share > 1:
            raise InvalidTrainingArgumentError(
                f"segmentation_sampling + uncompressed_share must be <= 1 (each is a share of the "
                f"windows), got {self.segmentation_sampling} + {self.uncompressed_share}"
            )
        if self.max_steps == 0 or self.max_steps < -1:
            raise InvalidTrainingArgumentError(
                f"max_steps must be >= 1, or -1 to train num_train_epochs epochs; got "
                f"{self.max_steps}"
            )
        if self.per_device_train_batch_size < 1:
            raise InvalidTrainingArgumentError(
                f"per_device_train_batch_size must be >= 1, got {self.per_device_train_batch_size}"
            )


def effective_encoder_learning_rate(args: Any) -> float:
    """The peak learning rate of the encoders and the token-type head under ``args`` (any
    ``TrainingArguments``: those without ``encoder_learning_rate`` get the default factor)."""
    rate = getattr(args, "encoder_learning_rate", None)
    if rate is None:
        return float(args.learning_rate) * RECIPE_ENCODER_LEARNING_RATE_FACTOR
    return float(rate)
