"""The ranges of the commands' numeric flags, in one place, checked right after parsing (before
torch is imported or a file is read): a value out of range is one ``error:`` line naming the
flag, not a traceback from deep inside a run (``--gradient-accumulation 0`` divided by zero in
the Trainer) nor a silently odd run (``--max-chars -5`` cut every file as a Python slice).

Not here: the codec flags (``--max-codebook-size``, ``--max-subtokens``), whose limits the codec
settings check and name, and ``--max-steps``, which the run's settings check.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

from zip2zip_tokenizers._core import InvalidArgumentError


@dataclass(frozen=True)
class Range:
    """The finite values from ``low`` (excluded when ``open_low``) up to ``below`` (excluded
    unless ``closed_high``)."""

    low: int | float
    below: int | float = math.inf
    open_low: bool = False
    closed_high: bool = False

    def holds(self, value: float) -> bool:
        above = value > self.low if self.open_low else value >= self.low
        under = value <= self.below if self.closed_high else value < self.below
        return above and under and value < math.inf  # NaN fails all; inf fails the last

    def describe(self, value: float) -> str:
        """The range in words, for a flag given ``value``."""
        if self.below < math.inf:
            closing = "]" if self.closed_high else ")"
            return f"in {'(' if self.open_low else '['}{self.low}, {self.below}{closing}"
        finite = " and finite" if isinstance(value, float) else ""
        return f"{'>' if self.open_low else '>='} {self.low}{finite}"


AT_LEAST_ONE = Range(1)
NON_NEGATIVE = Range(0)
POSITIVE = Range(0, open_low=True)
SHARE = Range(0, 1, closed_high=True)

#: Per command, each numeric flag's range (by its argparse ``dest``).
RANGES: dict[str, dict[str, Range]] = {
    "preprocess": {"window": AT_LEAST_ONE, "workers": AT_LEAST_ONE, "shard_mb": POSITIVE},
    "eval": {
        "window": Range(2),  # base tokens per window: the first is context, not a target
        "max_chars": AT_LEAST_ONE,
        "generate": NON_NEGATIVE,
        "max_tree_nodes": AT_LEAST_ONE,
    },
    "train": {
        "window": Range(2),  # ids per window: a window of one id has no next id to learn
        "encoder_layers": NON_NEGATIVE,
        "encoder_hidden_size": AT_LEAST_ONE,
        "lora_r": NON_NEGATIVE,
        "lora_alpha": AT_LEAST_ONE,
        "lora_dropout": Range(0, 1),
        "token_type_loss_weight": NON_NEGATIVE,
        "epochs": POSITIVE,
        "batch_size": AT_LEAST_ONE,
        "gradient_accumulation": AT_LEAST_ONE,
        "lr": NON_NEGATIVE,
        "min_lr": NON_NEGATIVE,
        "encoder_lr": NON_NEGATIVE,
        "warmup": NON_NEGATIVE,
        "encoder_warmup": NON_NEGATIVE,
        "weight_decay": NON_NEGATIVE,
        "max_grad_norm": NON_NEGATIVE,
        "seed": Range(0, 2**32),  # numpy's seeds
        "segmentation_sampling": SHARE,
        "segmentation_dropout": SHARE,
        "uncompressed_share": SHARE,
        "logging_steps": AT_LEAST_ONE,
        "save_steps": AT_LEAST_ONE,
        "save_total_limit": NON_NEGATIVE,
    },
}


def check_ranges(command: str, args: argparse.Namespace) -> None:
    """``InvalidArgumentError`` naming the first flag of ``command`` given a value out of its
    range (a flag left out, ``None``, is not checked)."""
    for dest, allowed in RANGES.get(command, {}).items():
        value = getattr(args, dest)
        if value is not None and not allowed.holds(value):
            flag = "--" + dest.replace("_", "-")
            raise InvalidArgumentError(f"{flag} must be {allowed.describe(value)}, got {value}")
