"""Batches of windows: right-padded ids, the attention mask, and labels that are -100 at padding
and wherever the window's loss mask is 0."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from zip2zip_tokenizers._core import CompressionConfig
from zip2zip_tokenizers.torch.loss import IGNORE_INDEX, check_labels
from zip2zip_tokenizers.torch.training.errors import EmptyDataError
from zip2zip_tokenizers.torch.training.window_views import UNCOMPRESSED


@dataclass
class Zip2ZipCollator:
    """Collates items with ``input_ids`` (and optionally ``loss_mask``, ``labels``,
    ``num_base_tokens``, ``uncompressed``). ``num_base_tokens`` comes out as a ``[B]`` tensor
    for logging (compression, base tokens per second); the trainer takes it off before the
    model. ``uncompressed`` (items read as base ids only, ``window_views``) comes out as the
    model's ``[B]`` bool ``uncompressed`` rows when any item has it.
    Labels outside ``[0, V + C)`` (other than -100) raise ``LabelError`` here, on the host."""

    config: CompressionConfig
    pad_to_multiple_of: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.config, CompressionConfig):
            raise TypeError(
                f"config must be a CompressionConfig (a tokenizer's .config), got "
                f"{type(self.config).__name__}"
            )

    def __call__(self, items: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if not items:
            raise EmptyDataError("an empty batch: no item to collate")
        ids = [torch.as_tensor(item["input_ids"], dtype=torch.long) for item in items]
        width = max(len(row) for row in ids)
        if self.pad_to_multiple_of:
            width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
        pad = self.config.pad_token_id if self.config.pad_token_id is not None else 0
        input_ids = torch.full((len(items), width), pad, dtype=torch.long)
        attention_mask = torch.zeros((len(items), width), dtype=torch.long)
        labels = torch.full((len(items), width), IGNORE_INDEX, dtype=torch.long)
        for row, (item, values) in enumerate(zip(items, ids, strict=True)):
            n = len(values)
            input_ids[row, :n] = values
            attention_mask[row, :n] = 1
            targets = torch.as_tensor(item.get("labels", values), dtype=torch.long)
            if "loss_mask" in item:
                keep = torch.as_tensor(item["loss_mask"], dtype=torch.bool)
                targets = targets.masked_fill(~keep, IGNORE_INDEX)
            labels[row, :n] = targets
        self._check(labels)
        batch = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
        if all("num_base_tokens" in item for item in items):
            batch["num_base_tokens"] = torch.tensor(
                [int(item["num_base_tokens"]) for item in items], dtype=torch.long
            )
        if any(UNCOMPRESSED in item for item in items):
            batch[UNCOMPRESSED] = torch.tensor(
                [bool(item.get(UNCOMPRESSED, False)) for item in items], dtype=torch.bool
            )
        return batch

    def _check(self, labels: torch.Tensor) -> None:
        check_labels(labels, self.config.total_vocab_size)
