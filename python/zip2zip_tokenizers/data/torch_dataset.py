"""A PyTorch ``IterableDataset`` over preprocessed shards (imports torch; nothing else in
``zip2zip_tokenizers.data`` does).

Shards are dealt round-robin to every (distributed rank, DataLoader worker) pair, so each window
is read by exactly one of them per epoch; with ``shuffle``, the shard order and the rows within
each shard are permuted by ``seed + epoch`` (call :meth:`ShardDataset.set_epoch` each epoch).
Give every rank the same number of shards (a multiple of ``world_size * num_workers``) when
ranks must see equally many windows.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from zip2zip_tokenizers.data.errors import DataError
from zip2zip_tokenizers.data.manifest import Manifest

TENSOR_COLUMNS = ("input_ids", "loss_mask")


def _rank_and_world(rank: int | None, world_size: int | None) -> tuple[int, int]:
    if rank is not None and world_size is not None:
        return rank, world_size
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


class ShardDataset(IterableDataset[dict[str, Any]]):
    """Windows of a preprocessed output (a directory with a manifest, or shard paths), one dict
    per window: ``input_ids`` and ``loss_mask`` as int64 tensors, the other columns as Python
    values. ``rank``/``world_size`` default to ``torch.distributed`` (or the ``RANK`` and
    ``WORLD_SIZE`` environment variables)."""

    def __init__(
        self,
        shards: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        shuffle: bool = False,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        if isinstance(shards, (str, os.PathLike)):
            self.files = Manifest.load(os.fspath(shards)).shard_files()
        else:
            self.files = [os.fspath(path) for path in shards]
        if (rank is None) != (world_size is None):
            raise DataError("give both rank and world_size, or neither")
        if world_size is not None and rank is not None and not 0 <= rank < world_size:
            raise DataError(f"rank {rank} is not in [0, {world_size})")
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self.rank = rank
        self.world_size = world_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def my_files(self) -> list[str]:
        """The shards this rank and DataLoader worker read, in reading order."""
        rank, world = _rank_and_world(self.rank, self.world_size)
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        order = np.arange(len(self.files))
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(len(self.files))
        reader, readers = rank * workers + worker, world * workers
        return [self.files[i] for i in order[reader::readers]]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        import pyarrow.parquet as pq

        rng = np.random.default_rng((self.seed, self.epoch, 1))
        for path in self.my_files():
            table = pq.read_table(path)
            columns = {name: table.column(name).to_pylist() for name in table.column_names}
            rows = rng.permutation(table.num_rows) if self.shuffle else range(table.num_rows)
            for row in rows:
                yield {
                    name: (
                        torch.tensor(values[row], dtype=torch.int64)
                        if name in TENSOR_COLUMNS
                        else values[row]
                    )
                    for name, values in columns.items()
                }
