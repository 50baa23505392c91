"""Corpus preprocessing into Parquet shards of lossless training windows (the ``[data]``
extra: pyarrow, tqdm, zstandard).

- ``preprocess`` / ``zip2zip-tokenizers preprocess``: files → shards + manifest + report,
  resumable, on every local core (``workers``; one per core unless told,
  ``default_workers``) or on a Ray cluster (``engine="ray"``).
- ``verify`` / ``zip2zip-tokenizers verify``: decode the shards and check them.
- ``Hypertokenizer``: text → windows in native code; ``datasets_map_function`` is the
  same transformation for ``datasets.Dataset.map``.
- ``zip2zip_tokenizers.data.torch_dataset.ShardDataset``: a PyTorch ``IterableDataset`` over the
  shards (imports torch; nothing else here does).
"""

from __future__ import annotations

from zip2zip_tokenizers.data.errors import (
    BadRecordError,
    DataError,
    InputError,
    ResumeError,
    VerifyError,
)
from zip2zip_tokenizers.data.hf_datasets import datasets_map_function
from zip2zip_tokenizers.data.pipeline import default_workers, preprocess
from zip2zip_tokenizers.data.report import format_report
from zip2zip_tokenizers.data.shards import COLUMNS, write_shard
from zip2zip_tokenizers.data.verify import verify
from zip2zip_tokenizers.data.windowing import Hypertokenizer

__all__ = [
    "COLUMNS",
    "BadRecordError",
    "DataError",
    "Hypertokenizer",
    "InputError",
    "ResumeError",
    "VerifyError",
    "datasets_map_function",
    "default_workers",
    "format_report",
    "preprocess",
    "verify",
    "write_shard",
]
