"""The windowing as a ``datasets.Dataset.map`` function: same columns as the shards.

    fn = datasets_map_function(hypertokenizer, source="corpus.jsonl")
    windows = dataset.map(fn, batched=True, with_indices=True, num_proc=4,
                          remove_columns=dataset.column_names)

Rows are windows (a batch of documents gives as many rows as it has windows).
``source_record`` is the document's row index in the dataset (``with_indices=True``), which for a
dataset read from one JSONL file with one record per line is its 0-based line number, as in the
shards ``preprocess`` writes. Shards written back with :func:`write_shard` load with
``datasets.load_dataset("parquet", data_files=...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from zip2zip_tokenizers.data.errors import BadRecordError
from zip2zip_tokenizers.data.shards import build_table
from zip2zip_tokenizers.data.windowing import Hypertokenizer


class _MapFunction:
    """Picklable (``num_proc`` sends it to worker processes)."""

    def __init__(
        self,
        hypertokenizer: Hypertokenizer,
        text_field: str,
        source: str | None,
        source_field: str | None,
    ) -> None:
        self.hypertokenizer = hypertokenizer
        self.text_field = text_field
        self.source = source
        self.source_field = source_field

    def __call__(
        self, batch: dict[str, list[Any]], indices: list[int] | None = None
    ) -> dict[str, list[Any]]:
        texts = batch[self.text_field]
        if indices is None:
            indices = list(range(len(texts)))
        for index, text in zip(indices, texts, strict=True):
            if not isinstance(text, str):
                raise BadRecordError(f"row {index}", f"field {self.text_field!r} is not a string")
        if self.source_field is not None:
            sources = [str(s) for s in batch[self.source_field]]
        else:
            sources = [self.source or ""] * len(texts)
        columns, _ = self.hypertokenizer.windows(list(texts))
        table = build_table(columns, sources, np.asarray(indices, dtype=np.int64))
        result: dict[str, list[Any]] = table.to_pydict()
        return result


def datasets_map_function(
    hypertokenizer: Hypertokenizer,
    *,
    text_field: str = "text",
    source: str | None = None,
    source_field: str | None = None,
) -> Callable[..., dict[str, list[Any]]]:
    """A batched ``map`` function producing the shard columns. ``source`` names the documents'
    origin (default: empty), or ``source_field`` names a column holding it."""
    return _MapFunction(hypertokenizer, text_field, source, source_field)
