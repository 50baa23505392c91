"""Training windows in memory, as a map-style dataset (so transformers' ``Trainer`` shuffles,
shards over ranks, skips on resume and counts epochs as for any dataset).

Windows are stored as flat columns (ids, loss mask, offsets), not one tensor each: a million
1024-id windows take 5 GB, not the ~100 GB of per-item tensor overhead; windows of shards are
memory-mapped from disk, so they need not fit in memory and ranks share one copy.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch.utils.data import Dataset

from zip2zip_tokenizers._core import CompressionConfig, InvalidArgumentError
from zip2zip_tokenizers.torch.training.codec import check_codec
from zip2zip_tokenizers.torch.training.errors import EmptyDataError


class WindowDataset(Dataset[dict[str, Any]]):
    """Windows of hypertoken ids, each item ``{"input_ids", "loss_mask"}`` (int64 tensors) and
    ``num_base_tokens`` (the base tokens it covers), made with ``config``."""

    def __init__(
        self,
        ids: npt.NDArray[np.integer[Any]],
        offsets: npt.NDArray[np.int64],
        loss_mask: npt.NDArray[np.integer[Any]],
        num_base_tokens: npt.NDArray[np.integer[Any]],
        config: CompressionConfig,
        source: str = "the training data",
    ) -> None:
        if len(offsets) - 1 != len(num_base_tokens) or len(ids) != len(loss_mask):
            raise InvalidArgumentError(
                f"ids, offsets, loss_mask and num_base_tokens do not fit together: "
                f"{len(ids)} ids, {len(loss_mask)} loss mask values, {len(offsets)} offsets, "
                f"{len(num_base_tokens)} base token counts"
            )
        lengths = np.diff(offsets)
        kept = np.nonzero(lengths > 1)[0]  # a window of one id has no next-id target
        if not len(kept) or not int(np.asarray(loss_mask).sum()):
            raise EmptyDataError(
                f"{source} holds no window with a target to learn from "
                f"({len(lengths)} windows, {len(ids)} ids, {int(np.asarray(loss_mask).sum())} "
                "positions in the loss)"
            )
        self._ids = np.asarray(ids)
        self._mask = np.asarray(loss_mask)
        self._starts = offsets[:-1][kept]
        self._stops = offsets[1:][kept]
        self._base = np.asarray(num_base_tokens)[kept]
        self.config = config
        self.source = source
        self._mapped_from: Path | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Memory-mapped columns pickle as their path (to data-loader workers that are spawned,
        # not forked), not as a copy of the data.
        state = dict(self.__dict__)
        if self._mapped_from is not None:
            del state["_ids"], state["_mask"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self._mapped_from is not None:
            from zip2zip_tokenizers.torch.training.window_cache import mapped

            self._ids = mapped(self._mapped_from, "ids")
            self._mask = mapped(self._mapped_from, "loss_mask")

    def __len__(self) -> int:
        return len(self._starts)

    def __getitem__(self, index: int) -> dict[str, Any]:
        count = len(self._starts)
        position = operator.index(index)  # TypeError for a float, str...
        if not -count <= position < count:
            raise IndexError(f"window {position} of a dataset of {count} windows")
        span = slice(int(self._starts[position]), int(self._stops[position]))
        return {
            "input_ids": torch.from_numpy(self._ids[span].astype(np.int64)),
            "loss_mask": torch.from_numpy(self._mask[span].astype(np.int64)),
            "num_base_tokens": int(self._base[position]),
        }

    @property
    def num_ids(self) -> int:
        return int((self._stops - self._starts).sum())

    @property
    def num_base_tokens(self) -> int:
        return int(self._base.sum())

    def check_codec(self, model_config: CompressionConfig, model_source: str = "the model") -> None:
        """``CodecMismatchError`` unless the windows were made with ``model_config`` (whose
        origin ``model_source`` names)."""
        check_codec(self.config, model_config, self.source, model_source)

    @classmethod
    def from_shards(
        cls, shards: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
    ) -> WindowDataset:
        """The windows of a ``preprocess`` output directory (its manifest names the shards and
        the codec settings they were made with), memory-mapped from a cache built on first use
        (``zip2zip_tokenizers.torch.training.window_cache``)."""
        from zip2zip_tokenizers.data.manifest import Manifest
        from zip2zip_tokenizers.torch.training.window_cache import window_columns

        directory = os.fspath(shards) if isinstance(shards, (str, os.PathLike)) else None
        if directory is None:
            raise TypeError("give the preprocess output directory (it holds the manifest)")
        manifest = Manifest.load(directory)
        config = CompressionConfig.from_dict(manifest.settings["config"])
        files = manifest.shard_files()
        if not files:
            raise EmptyDataError(f"{directory}: the manifest lists no shard")
        columns = window_columns(manifest.path, files)
        dataset = cls(
            columns.ids,
            columns.offsets,
            columns.loss_mask,
            columns.num_base_tokens,
            config,
            source=f"the shards in {directory}",
        )
        dataset._mapped_from = columns.directory
        return dataset
