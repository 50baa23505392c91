"""Other views of some training windows than their greedy encoding: re-segmented windows
(``segmentation_sampling``) and uncompressed ones (``uncompressed_share``), two recipe options
(``docs/training.md``, "Segmentation sampling and uncompressed replay").

Which view window ``i`` gets, and the draws of its re-segmentation, come from a generator seeded
with ``(seed, i)`` alone: a resumed run, a data-loader worker, another process, another epoch see
exactly what an uninterrupted run sees for that window. One draw picks the view: below
``uncompressed_share`` the window is uncompressed, below ``uncompressed_share +
segmentation_sampling`` it is re-segmented, else it stays as it is.

Both views keep the window's number of ids (so batch shapes and the cost of a step do not
change): a re-segmented or uncompressed window is cut to as many ids as its greedy encoding, and
so covers a prefix of the window's base tokens (``num_base_tokens`` says how many). The loss mask
follows the base tokens: each base token takes the mask of the greedy id covering it, and an id
of the new view is in the loss when any of its base tokens is (as for chat windows; exact for
text, where every position is in the loss).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
import torch
from torch.utils.data import Dataset

from zip2zip_tokenizers._core import CompressionConfig, LZWCompressor
from zip2zip_tokenizers.torch.training.errors import TrainingError
from zip2zip_tokenizers.torch.training.segmentation_sampling import (
    Pieces,
    SegmentationLattice,
    sample_segmentation,
)

#: The per-position probability that a re-segmented window leaves its greedy path: BPE-dropout's
#: usual rate.
DEFAULT_SEGMENTATION_DROPOUT = 0.1
#: What a re-segmented window is trained to write: its own ids, or the longest piece at each
#: position (``Zip2ZipTrainingArguments.segmentation_targets``).
SegmentationTargets = Literal["own", "greedy"]
SEGMENTATION_TARGETS: tuple[SegmentationTargets, ...] = ("own", "greedy")
#: The item key of a window read as base ids only (the collator makes it the model's
#: ``uncompressed`` rows).
UNCOMPRESSED = "uncompressed"


@dataclass(frozen=True)
class ViewSettings:
    """The shares of windows trained in each view, the per-position probability that a
    re-segmented window leaves the greedy path, and the seed of the draws."""

    segmentation_sampling: float = 0.0
    segmentation_dropout: float = DEFAULT_SEGMENTATION_DROPOUT
    uncompressed_share: float = 0.0
    seed: int = 0
    segmentation_targets: SegmentationTargets = "own"

    @classmethod
    def from_args(cls, args: Any) -> ViewSettings:
        """The settings of ``Zip2ZipTrainingArguments`` (0 shares for other arguments)."""
        return cls(
            segmentation_sampling=float(getattr(args, "segmentation_sampling", 0.0)),
            segmentation_dropout=float(
                getattr(args, "segmentation_dropout", DEFAULT_SEGMENTATION_DROPOUT)
            ),
            uncompressed_share=float(getattr(args, "uncompressed_share", 0.0)),
            seed=int(getattr(args, "seed", 0)),
            segmentation_targets=cast(
                SegmentationTargets, getattr(args, "segmentation_targets", "own")
            ),
        )

    @property
    def active(self) -> bool:
        """Whether any window gets another view."""
        return self.segmentation_sampling > 0 or self.uncompressed_share > 0

    def view(self, index: int) -> tuple[str, np.random.Generator]:
        """``"uncompressed"``, ``"sampled"`` or ``"greedy"`` for window ``index``, and the
        generator its re-segmentation draws from."""
        rng = np.random.default_rng([self.seed, index])
        roll = rng.random()
        if roll < self.uncompressed_share:
            return "uncompressed", rng
        if roll < self.uncompressed_share + self.segmentation_sampling:
            return "sampled", rng
        return "greedy", rng


class WindowViews(Dataset[dict[str, Any]]):
    """``windows`` (items with ``input_ids``, ``loss_mask``, ``num_base_tokens``, made with
    ``config``) in the views ``settings`` draws (see the module doc); every item carries
    ``uncompressed`` (a bool)."""

    def __init__(
        self, windows: Dataset[dict[str, Any]], config: CompressionConfig, settings: ViewSettings
    ) -> None:
        if not hasattr(windows, "__len__"):
            raise TrainingError(
                "segmentation_sampling and uncompressed_share need a map-style training dataset "
                f"(with __len__ and __getitem__), got {type(windows).__name__}"
            )
        self.windows = windows
        self.config = config
        self.settings = settings
        self._compressor = LZWCompressor(config)

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        position = operator.index(index)
        item = self.windows[position]
        if "labels" in item:
            raise TrainingError(
                "segmentation_sampling and uncompressed_share re-segment windows whose targets "
                "are their own ids; this dataset's items carry their own labels"
            )
        view, rng = self.settings.view(position % len(self))
        if view == "greedy":
            return {**item, UNCOMPRESSED: False}
        ids = np.asarray(item["input_ids"], dtype=np.int64)
        mask = np.asarray(item.get("loss_mask", np.ones(len(ids))), dtype=np.int64)
        base = self._compressor.decode(ids).astype(np.int64)
        lattice = SegmentationLattice(self.config, base)
        base_mask = np.repeat(mask, lattice.pieces_of(ids).lengths)
        if view == "uncompressed":
            pieces = Pieces(base, np.ones(len(base), dtype=np.int64))
        else:
            pieces = sample_segmentation(lattice, self.settings.segmentation_dropout, rng)
        kept = pieces.head(len(ids))
        kept_mask = np.maximum.reduceat(base_mask, kept.starts) if len(kept.ids) else base_mask[:0]
        out = {
            "input_ids": torch.from_numpy(kept.ids),
            "loss_mask": torch.from_numpy(kept_mask.astype(np.int64)),
            "num_base_tokens": int(kept.lengths.sum()),
            UNCOMPRESSED: view == "uncompressed",
        }
        if view == "sampled" and self.settings.segmentation_targets == "greedy":
            out["labels"] = torch.from_numpy(lattice.longest_at(kept.starts))
        return out
